"""The training loop: :func:`train` (single process, or DDP under ``torchrun``)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deblur.atomic import atomic_write, remove_stale_temporaries
from deblur.errors import TrainError
from deblur.models import VARIANTS, build_model, resolve_device
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
from deblur.training.config import TrainConfig
from deblur.training.data import (
    StepSampler,
    TrainStream,
    load_pairs,
    load_sharp_images,
    make_val_set,
)
from deblur.training.optim import EMA, evaluate, lr_factor, multiscale_loss

__all__ = ["LOG_FIELDS", "PRECISIONS", "train"]

#: Values of ``TrainConfig.precision`` (``bf16`` applies on CUDA only).
PRECISIONS = ("fp32", "bf16")

LOG_FIELDS = [
    "step", "loss", "lr", "val_psnr", "val_ssim", "val_input_psnr", "images_per_s", "wall_s",
]  # fmt: skip


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
    dist_timeout: float = 1800.0,
    time_limit: float | None = None,
) -> dict:
    """Train (or resume) a run; returns the final log row.

    Writes into ``cfg.out``: ``config.json``, ``log.csv``, ``last.ckpt`` (every
    ``ckpt_every`` steps, at the end and on SIGINT/SIGTERM) and ``best.ckpt`` (best
    validation PSNR). Under ``torchrun`` it trains with DistributedDataParallel, each rank
    on its own slice of every global batch; only rank 0 writes.

    ``time_limit`` (seconds of wall-clock from the call) stops the run cleanly once the
    next step would likely overrun it: ``last.ckpt`` is written and the returned row has
    ``"stopped": "time limit"``; ``resume=True`` continues it. It does not change results.

    ``cfg.synth_device == "device"`` blurs the synthetic pairs on the training device
    (:mod:`~deblur.training.device_synth`). On CUDA, ``cfg.precision == "bf16"`` runs the
    forward pass under bfloat16 autocast (loss, gradients, optimizer, EMA, validation and
    checkpoints stay float32) and ``cfg.channels_last`` uses the channels-last layout; on
    any other device both are ignored.
    """
    t_start = time.monotonic()
    rank, world = _dist_info()
    out = Path(cfg.out)
    if cfg.variant not in VARIANTS:
        raise TrainError(f"unknown variant {cfg.variant!r}; choose one of {', '.join(VARIANTS)}")
    if cfg.batch % world:
        raise TrainError(f"--batch {cfg.batch} is not a multiple of the {world} processes")
    m = VARIANTS[cfg.variant].multiple
    if cfg.patch % m:
        raise TrainError(f"--patch {cfg.patch} must be a multiple of {m} for this variant")
    if cfg.synth_device not in device_synth.SYNTH_DEVICES:
        raise TrainError(
            f"unknown synth_device {cfg.synth_device!r}; choose"
            f" {' or '.join(device_synth.SYNTH_DEVICES)}"
        )
    if cfg.precision not in PRECISIONS:
        raise TrainError(f"unknown precision {cfg.precision!r}; choose {' or '.join(PRECISIONS)}")
    if not (cfg.datasets or cfg.pairs or cfg.sharp or cfg.skimage_data or cfg.dead_leaves > 0):
        raise TrainError("no training data: give DATASET, --pairs, --sharp or --dead-leaves")
    last = out / "last.ckpt"
    if rank == 0 and out.is_dir():  # what a killed writer left behind
        for name in ("last.ckpt", "best.ckpt", "log.csv"):
            remove_stale_temporaries(out, name)
    if resume:
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
    else:
        ckpt = None
        if out.exists() and any(out.iterdir()):
            raise TrainError(f"{out}: run directory is not empty (use --resume to continue)")

    device = resolve_device(cfg.device)
    if world > 1:
        import torch.distributed as dist

        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=timedelta(seconds=dist_timeout))

    sharp_images = load_sharp_images(cfg)
    pairs = load_pairs(cfg)
    if not sharp_images and not pairs and cfg.dead_leaves <= 0:
        raise TrainError("no training images found")
    on_device = cfg.synth_device == "device"
    stream = (device_synth.DeviceSynthStream if on_device else TrainStream)(
        cfg, sharp_images, pairs
    )
    val = make_val_set(cfg) if rank == 0 else []

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.variant)
    init = ckpt.get("init") if ckpt else None
    if cfg.init and ckpt is None:
        state, init = init_state(cfg.init, model)
        model.load_state_dict(state)
    cuda = device.type == "cuda"
    bf16 = cuda and cfg.precision == "bf16"
    channels_last = cuda and cfg.channels_last
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    ema = EMA(model, cfg.ema) if cfg.ema > 0 else None
    step, best, wall = 0, -math.inf, 0.0
    if ckpt is not None:
        restore_training(ckpt, last, model, opt, sched, ema=ema is not None)
        # The schedule's length may change on resume (--steps): rebind the lambda.
        sched.lr_lambdas = [lambda s: lr_factor(s, cfg)]
        if ema is not None:
            ema.shadow = {k: v.to(device) for k, v in ckpt["ema"].items()}
        step, best, wall = ckpt["step"], ckpt["best_psnr"], ckpt["wall_s"]
        set_rng_state(ckpt["rng"])
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")

    last_val: dict[str, float] = ckpt.get("val", {}) if ckpt else {}

    def checkpoint(path: Path) -> None:
        if rank != 0:
            return
        save_checkpoint(
            {
                "model": model.state_dict(),
                "ema": ema.shadow if ema is not None else None,
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "step": step,
                "best_psnr": best,
                "wall_s": wall,
                "config": cfg.to_dict(),
                "net_config": model.cfg.to_dict(),
                "val": last_val,
                "init": init,
                "rng": get_rng_state(),
            },
            path,
        )

    def eval_model() -> nn.Module:
        if ema is None:
            return model
        m = build_model(cfg.variant).to(device)
        m.load_state_dict(ema.shadow)
        return m

    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old_handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old_handlers[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass

    log_path = out / "log.csv"
    if rank == 0:
        _start_log(log_path, step)
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=cfg.batch // world,
        sampler=StepSampler(step, cfg.steps, cfg.batch, rank, world),
        num_workers=cfg.workers,
        worker_init_fn=_ignore_stop_signals,
        persistent_workers=False,
        prefetch_factor=4 if cfg.workers else None,
        pin_memory=cuda,
    )
    cudnn_benchmark = torch.backends.cudnn.benchmark
    if cuda:  # fixed shapes: let cuDNN pick its fastest convolutions
        torch.backends.cudnn.benchmark = True
    row: dict = {}
    start_step, stopped_by_time = step, False
    t_last, n_last, losses = time.perf_counter(), 0, []
    model.train()
    try:
        for batch in loader:
            t0 = time.perf_counter()
            blurred, sharp = _batch_pairs(batch, device, cfg)
            if channels_last:
                blurred = blurred.contiguous(memory_format=torch.channels_last)
            with _autocast(bf16):
                out_img, scales = net(blurred, return_scales=True)
            if bf16:  # the loss in float32
                out_img, scales = out_img.float(), [e.float() for e in scales]
            loss = multiscale_loss(out_img, scales, sharp, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            # checked before the step, so the weights (and checkpoints) stay finite; the
            # gradient norm is all-reduced, so a non-finite gradient stops every rank
            norm = nn.utils.clip_grad_norm_(
                model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf
            )
            if not (torch.isfinite(loss) and torch.isfinite(norm)):
                raise TrainError(
                    f"training diverged at step {step + 1} (non-finite loss or gradient);"
                    " the checkpoints keep the last finite weights: start a new run with a"
                    " lower --lr"
                )
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(model, step)
            step += 1
            losses.append(loss.item())
            n_last += cfg.batch
            wall += time.perf_counter() - t0
            done = step >= cfg.steps
            if rank == 0 and (step % cfg.log_every == 0 or done or step % cfg.val_every == 0):
                now = time.perf_counter()
                row = {
                    "step": step,
                    "loss": float(np.mean(losses)),
                    "lr": opt.param_groups[0]["lr"],
                    "images_per_s": n_last / max(now - t_last, 1e-9),
                    "wall_s": round(wall, 1),
                }
                losses, t_last, n_last = [], now, 0
                if val and (step % cfg.val_every == 0 or done):
                    last_val = evaluate(eval_model(), val, device)
                    row.update(last_val)
                    if last_val["val_psnr"] > best:
                        best = last_val["val_psnr"]
                        checkpoint(out / "best.ckpt")
                with open(log_path, "a", newline="") as fh:
                    csv.writer(fh).writerow([_fmt(row.get(k, "")) for k in LOG_FIELDS])
                if progress:
                    eta = (cfg.steps - step) * cfg.batch / max(row["images_per_s"], 1e-9)
                    progress(_progress_line(row, last_val, cfg.steps, eta))
            if step % cfg.ckpt_every == 0 or done:
                checkpoint(last)
            if stop["signal"] is not None:
                checkpoint(last)
                break
            if time_limit is not None and not done:
                elapsed = time.monotonic() - t_start
                # stop when one more step (at the mean pace so far) might cross the limit
                if elapsed + 2 * (elapsed / max(1, step - start_step)) >= time_limit:
                    checkpoint(last)
                    stopped_by_time = True
                    break
        if world > 1:
            import torch.distributed as dist

            # leave together: a rank that tears down its process group while rank 0 still
            # validates and writes can make gloo abort on the other side
            dist.barrier()
    finally:
        torch.backends.cudnn.benchmark = cudnn_benchmark
        for sig, h in old_handlers.items():
            signal.signal(sig, h)
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    if stop["signal"] is not None and step < cfg.steps:  # a signal in the last step: done
        raise KeyboardInterrupt(f"stopped by signal {stop['signal']} at step {step}")
    if val and not (out / "best.ckpt").exists():
        checkpoint(out / "best.ckpt")
    if stopped_by_time:
        return {**row, **last_val, "step": step, "stopped": "time limit"}
    return {**row, **last_val, "step": step}


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


def _fmt(v: object) -> object:
    return f"{v:.6g}" if isinstance(v, float) else v


def _progress_line(row: dict, val: dict, steps: int, eta: float) -> str:
    v = f" val {val['val_psnr']:.2f} dB (input {val['val_input_psnr']:.2f})" if val else ""
    return (
        f"step {row['step']}/{steps} loss {row['loss']:.4f} lr {row['lr']:.2e}"
        f" {row['images_per_s']:.1f} img/s{v} eta {timedelta(seconds=int(eta))}"
    )


def _ignore_stop_signals(_worker_id: int) -> None:
    """Loader workers leave SIGINT/SIGTERM to the main process, which checkpoints and then
    shuts them down (a scheduler signals the whole process group at once)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _start_log(path: Path, step: int) -> None:
    """Create ``log.csv``, or on resume drop the rows past the checkpoint's ``step`` (written
    after it by a run that was then killed), so no step appears twice."""
    if not path.exists():
        atomic_write(path, ",".join(LOG_FIELDS) + "\n")
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
    if len(keep) != len(rows) - 1:
        buf = io.StringIO()
        csv.writer(buf).writerows([rows[0], *keep])
        atomic_write(path, buf.getvalue())
