"""One training run as an object: :class:`Run` (set up, step, validate, checkpoint).

:func:`~deblur.training.loop.train` drives it (the loader, the log, signals, the time
limit); a checkpoint is what :meth:`Run.state` returns, in the format of
:mod:`~deblur.training.checkpoint`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import torch
from torch import nn

from deblur.atomic import atomic_write, remove_stale_temporaries
from deblur.errors import TrainError
from deblur.models import build_model, resolve_device
from deblur.training import device_synth
from deblur.training.checkpoint import (
    config_diff,
    get_rng_state,
    init_state,
    load_checkpoint,
    restore_training,
    save_checkpoint,
    set_rng_state,
)
from deblur.training.config import DIST_TIMEOUT_S, TrainConfig, check_run
from deblur.training.data import (
    StepSampler,
    TrainStream,
    load_pairs,
    load_sharp_images,
    make_val_set,
)
from deblur.training.optim import EMA, evaluate, lr_factor, multiscale_loss

__all__ = ["Run", "dist_info"]


def dist_info() -> tuple[int, int]:
    """``(rank, world size)`` of this process under ``torchrun``; ``(0, 1)`` without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


class Run:
    """A training run set up from its config: a new one, or resumed from ``last.ckpt``.

    Setting up checks the config (:func:`~deblur.training.config.check_run`), finds the
    checkpoint to resume or checks that the run folder is empty, joins the process group
    under ``torchrun``, loads the data and builds the network, optimizer, schedule and EMA
    (from the checkpoint on resume, with its random-number states); rank 0 then writes
    ``config.json``. Only rank 0 validates and writes.

    Parameters
    ----------
    cfg : the run's config.
    resume : continue ``cfg.out/last.ckpt`` (only the keys of
        :data:`~deblur.training.config.UNCOMPARED` may differ from its config; ``steps``
        must be above its step).
    dist_timeout : seconds the processes wait for each other (``torchrun`` only).

    Attributes
    ----------
    steps_done : optimizer steps taken so far (the checkpoint's on resume).
    best : best validation PSNR so far (dB; ``-inf`` before the first validation).
    wall : seconds spent in steps so far, over all sessions of the run.
    last_val : the last validation's metrics (``val_psnr``, ``val_ssim``,
        ``val_input_psnr``), empty before the first.
    val : the fixed validation set (empty on ranks other than 0, or without one).

    Raises
    ------
    TrainError
        A config that :func:`~deblur.training.config.check_run` refuses, nothing to resume,
        a changed config or ``steps`` not above the checkpoint's step on resume, a run folder
        that is not empty without ``resume``, no training images, or a bad checkpoint or
        ``init`` file.
    """

    def __init__(
        self, cfg: TrainConfig, *, resume: bool = False, dist_timeout: float = DIST_TIMEOUT_S
    ) -> None:
        self.cfg = cfg
        self.rank, self.world = dist_info()
        self.out = Path(cfg.out)
        self.last = self.out / "last.ckpt"
        check_run(cfg, self.world)
        ckpt = self._checkpoint_to_resume(resume)
        self.device = self._join(dist_timeout)
        self._load_data()
        self._build(ckpt)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write(self.out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        self.last_val: dict[str, float] = ckpt.get("val", {}) if ckpt else {}

    # --- set-up -----------------------------------------------------------------------

    def _checkpoint_to_resume(self, resume: bool) -> dict | None:
        """The checkpoint ``resume`` continues (checked against the config), or None."""
        out, last, cfg = self.out, self.last, self.cfg
        if self.rank == 0 and out.is_dir():  # what a killed writer left behind
            for name in ("last.ckpt", "best.ckpt", "log.csv"):
                remove_stale_temporaries(out, name)
        if not resume:
            if out.exists() and any(out.iterdir()):
                raise TrainError(f"{out}: run directory is not empty (use --resume to continue)")
            return None
        if not last.is_file():
            raise TrainError(f"{last}: nothing to resume")
        ckpt = load_checkpoint(last)
        diff = config_diff(ckpt["config"], cfg.to_dict())
        if diff:
            raise TrainError("--resume with a different config; differing keys: " + ", ".join(diff))
        if cfg.steps <= ckpt["step"]:
            raise TrainError(
                f"{last}: the run is already at step {ckpt['step']}; give --steps above it to"
                " train further"
            )
        return ckpt

    def _join(self, dist_timeout: float) -> torch.device:
        """The training device; under ``torchrun`` this rank's, in a joined process group."""
        device = resolve_device(self.cfg.device)
        if self.world > 1:
            import torch.distributed as dist

            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(device)
            dist.init_process_group(backend, timeout=timedelta(seconds=dist_timeout))
        return device

    def _load_data(self) -> None:
        cfg = self.cfg
        sharp_images = load_sharp_images(cfg)
        pairs = load_pairs(cfg)
        if not sharp_images and not pairs and cfg.dead_leaves <= 0:
            raise TrainError("no training images found")
        on_device = cfg.synth_device == "device"
        stream_type = device_synth.DeviceSynthStream if on_device else TrainStream
        self.stream = stream_type(cfg, sharp_images, pairs)
        self.val = make_val_set(cfg) if self.rank == 0 else []

    def _build(self, ckpt: dict | None) -> None:
        """The network, optimizer, schedule and EMA: fresh (seeded by ``cfg.seed``, or from
        ``cfg.init``) or the checkpoint's, whose random-number states are then restored."""
        cfg, device = self.cfg, self.device
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.variant)
        self.init = ckpt.get("init") if ckpt else None
        if cfg.init and ckpt is None:
            state, self.init = init_state(cfg.init, model)
            model.load_state_dict(state)
        self.cuda = device.type == "cuda"
        self.bf16 = self.cuda and cfg.precision == "bf16"
        self.channels_last = self.cuda and cfg.channels_last
        model = model.to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
        ema = EMA(model, cfg.ema) if cfg.ema > 0 else None
        self.steps_done, self.best, self.wall = 0, -math.inf, 0.0
        if ckpt is not None:
            restore_training(ckpt, self.last, model, opt, sched, ema=ema is not None)
            # The schedule's length may change on resume (--steps): rebind the lambda.
            sched.lr_lambdas = [lambda s: lr_factor(s, cfg)]
            if ema is not None:
                ema.shadow = {k: v.to(device) for k, v in ckpt["ema"].items()}
            self.steps_done, self.best, self.wall = ckpt["step"], ckpt["best_psnr"], ckpt["wall_s"]
            set_rng_state(ckpt["rng"])
        self.model, self.opt, self.sched, self.ema = model, opt, sched, ema
        self.net: nn.Module = model
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(model)

    def loader(self) -> torch.utils.data.DataLoader:
        """The loader of this rank's share of the remaining batches (from ``steps_done``)."""
        cfg = self.cfg
        return torch.utils.data.DataLoader(
            self.stream,
            batch_size=cfg.batch // self.world,
            sampler=StepSampler(self.steps_done, cfg.steps, cfg.batch, self.rank, self.world),
            num_workers=cfg.workers,
            worker_init_fn=_ignore_stop_signals,
            persistent_workers=False,
            prefetch_factor=4 if cfg.workers else None,
            pin_memory=self.cuda,
        )

    # --- step, validate, checkpoint -----------------------------------------------------

    def step(self, batch) -> float:
        """One optimizer step on a loader batch; returns its loss.

        Parameters
        ----------
        batch : what :meth:`loader` yields: ``(blurred, sharp)`` float32 ``(B, 3, P, P)`` in
            [0, 1], or the ingredients of device-side synthesis.

        Raises
        ------
        TrainError
            A non-finite loss or gradient (checked before the weights take the step, so the
            weights and checkpoints stay finite; every rank stops).
        """
        t0 = time.perf_counter()
        cfg, model = self.cfg, self.model
        blurred, sharp = _batch_pairs(batch, self.device, cfg)
        if self.channels_last:
            blurred = blurred.contiguous(memory_format=torch.channels_last)
        with _autocast(self.bf16):
            out_img, scales = self.net(blurred, return_scales=True)
        if self.bf16:  # the loss in float32
            out_img, scales = out_img.float(), [e.float() for e in scales]
        loss = multiscale_loss(out_img, scales, sharp, cfg)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        # checked before the step, so the weights (and checkpoints) stay finite; the
        # gradient norm is all-reduced, so a non-finite gradient stops every rank
        norm = nn.utils.clip_grad_norm_(
            model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        )
        if not (torch.isfinite(loss) and torch.isfinite(norm)):
            raise TrainError(
                f"training diverged at step {self.steps_done + 1} (non-finite loss or"
                " gradient); the checkpoints keep the last finite weights: start a new run"
                " with a lower --lr"
            )
        self.opt.step()
        self.sched.step()
        if self.ema is not None:
            self.ema.update(model, self.steps_done)
        self.steps_done += 1
        value = loss.item()
        self.wall += time.perf_counter() - t0
        return value

    def eval_model(self) -> nn.Module:
        """The network validation and export use: the EMA weights where there is an EMA."""
        if self.ema is None:
            return self.model
        m = build_model(self.cfg.variant).to(self.device)
        m.load_state_dict(self.ema.shadow)
        return m

    def validate(self) -> dict[str, float]:
        """Score :meth:`eval_model` on the validation set (rank 0); a new best validation
        PSNR writes ``best.ckpt``.

        Returns
        -------
        ``val_psnr``, ``val_ssim`` (of the outputs) and ``val_input_psnr`` (of the blurred
        inputs), means over the set; PSNR in dB, SSIM in [-1, 1].
        """
        self.last_val = evaluate(self.eval_model(), self.val, self.device)
        if self.last_val["val_psnr"] > self.best:
            self.best = self.last_val["val_psnr"]
            self.checkpoint(self.out / "best.ckpt")
        return self.last_val

    def state(self) -> dict:
        """The run as a checkpoint dict (:func:`~deblur.training.checkpoint.save_checkpoint`
        adds the format tag): model, EMA, optimizer and schedule states, step, best PSNR,
        wall time, config, network config, last validation, ``init`` provenance and the
        random-number states."""
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.shadow if self.ema is not None else None,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "step": self.steps_done,
            "best_psnr": self.best,
            "wall_s": self.wall,
            "config": self.cfg.to_dict(),
            "net_config": self.model.cfg.to_dict(),
            "val": self.last_val,
            "init": self.init,
            "rng": get_rng_state(),
        }

    def checkpoint(self, path: Path) -> None:
        """Write :meth:`state` to ``path`` atomically (rank 0; other ranks write nothing)."""
        if self.rank == 0:
            save_checkpoint(self.state(), path)


def _batch_pairs(batch, device: torch.device, cfg: TrainConfig):
    """(blurred, sharp) float32 ``(B, 3, P, P)`` on ``device`` from a loader batch: a
    ``TrainStream`` pair, or ``DeviceSynthStream`` ingredients synthesised there."""
    if cfg.synth_device == "device":
        return device_synth.synthesize_batch(
            device_synth.batch_to(batch, device), cfg.patch, cfg.seed
        )
    nb = device.type == "cuda"
    blurred, sharp = batch
    return blurred.to(device, non_blocking=nb), sharp.to(device, non_blocking=nb)


def _autocast(bf16: bool):
    """bfloat16 autocast on CUDA when ``bf16``, else nothing."""
    if bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _ignore_stop_signals(_worker_id: int) -> None:
    """Loader workers leave SIGINT/SIGTERM to the main process, which checkpoints and then
    shuts them down (a scheduler signals the whole process group at once)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
