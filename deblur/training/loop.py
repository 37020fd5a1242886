"""The training loop: :func:`train` (single process, or DDP under ``torchrun``) drives a
:class:`~deblur.training.run.Run`: the loader, ``log.csv``, progress, SIGINT/SIGTERM and
the time limit."""

from __future__ import annotations

import csv
import io
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch

from deblur.atomic import atomic_write
from deblur.training.config import DIST_TIMEOUT_S, PRECISIONS, TrainConfig
from deblur.training.run import Run

__all__ = ["LOG_FIELDS", "PRECISIONS", "train"]

#: Columns of ``log.csv``.
LOG_FIELDS = [
    "step",
    "loss",
    "lr",
    "val_psnr",
    "val_ssim",
    "val_input_psnr",
    "images_per_s",
    "wall_s",
]


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
    dist_timeout: float = DIST_TIMEOUT_S,
    time_limit: float | None = None,
) -> dict:
    """Train (or resume) a run; returns the final log row.

    Writes into ``cfg.out``: ``config.json``, ``log.csv``, ``last.ckpt`` (every
    ``ckpt_every`` steps, at the end and on SIGINT/SIGTERM) and ``best.ckpt`` (best
    validation PSNR). Under ``torchrun`` it trains with DistributedDataParallel, each rank
    on its own slice of every global batch; only rank 0 writes.

    ``cfg.synth_device == "device"`` blurs the synthetic pairs on the training device
    (:mod:`~deblur.training.device_synth`). On CUDA, ``cfg.precision == "bf16"`` runs the
    forward pass under bfloat16 autocast (loss, gradients, optimizer, EMA, validation and
    checkpoints stay float32) and ``cfg.channels_last`` uses the channels-last layout; on
    any other device both are ignored.

    Parameters
    ----------
    cfg : the run.
    resume : continue ``cfg.out/last.ckpt`` (see :class:`~deblur.training.run.Run`).
    progress : called on rank 0 with a one-line summary at every log row.
    dist_timeout : seconds the processes of a ``torchrun`` run wait for each other.
    time_limit : seconds of wall-clock from the call: the run stops cleanly once the next
        step would likely overrun it (``last.ckpt`` written, the row has ``"stopped":
        "time limit"``; ``resume=True`` continues it). It does not change results.

    Returns
    -------
    The last log row (``step``, ``loss``, ``lr``, ``images_per_s``, ``wall_s``) with the
    last validation's metrics (``val_psnr`` in dB, ``val_ssim``, ``val_input_psnr``).

    Raises
    ------
    TrainError
        A config or run folder :class:`~deblur.training.run.Run` refuses, bad data, or a
        diverged run (non-finite loss or gradient).
    KeyboardInterrupt
        SIGINT or SIGTERM before the last step (``last.ckpt`` is written first).
    """
    t_start = time.monotonic()
    run = Run(cfg, resume=resume, dist_timeout=dist_timeout)
    rank, world, out = run.rank, run.world, run.out
    stop, old_handlers = _catch_stop_signals()
    log_path = out / "log.csv"
    if rank == 0:
        _start_log(log_path, run.steps_done)
    loader = run.loader()
    cudnn_benchmark = torch.backends.cudnn.benchmark
    if run.cuda:  # fixed shapes: let cuDNN pick its fastest convolutions
        torch.backends.cudnn.benchmark = True
    row: dict = {}
    start_step, stopped_by_time = run.steps_done, False
    t_last, n_last, losses = time.perf_counter(), 0, []
    run.model.train()
    try:
        for batch in loader:
            losses.append(run.step(batch))
            n_last += cfg.batch
            step = run.steps_done
            done = step >= cfg.steps
            if rank == 0 and (step % cfg.log_every == 0 or done or step % cfg.val_every == 0):
                now = time.perf_counter()
                row = {
                    "step": step,
                    "loss": float(np.mean(losses)),
                    "lr": run.opt.param_groups[0]["lr"],
                    "images_per_s": n_last / max(now - t_last, 1e-9),
                    "wall_s": round(run.wall, 1),
                }
                losses, t_last, n_last = [], now, 0
                if run.val and (step % cfg.val_every == 0 or done):
                    row.update(run.validate())
                with open(log_path, "a", newline="") as fh:
                    csv.writer(fh).writerow([_fmt(row.get(k, "")) for k in LOG_FIELDS])
                if progress:
                    eta = (cfg.steps - step) * cfg.batch / max(row["images_per_s"], 1e-9)
                    progress(_progress_line(row, run.last_val, cfg.steps, eta))
            if step % cfg.ckpt_every == 0 or done:
                run.checkpoint(run.last)
            if stop["signal"] is not None:
                run.checkpoint(run.last)
                break
            if time_limit is not None and not done:
                elapsed = time.monotonic() - t_start
                # stop when one more step (at the mean pace so far) might cross the limit
                if elapsed + 2 * (elapsed / max(1, step - start_step)) >= time_limit:
                    run.checkpoint(run.last)
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
    step = run.steps_done
    if stop["signal"] is not None and step < cfg.steps:  # a signal in the last step: done
        raise KeyboardInterrupt(f"stopped by signal {stop['signal']} at step {step}")
    if run.val and not (out / "best.ckpt").exists():
        run.checkpoint(out / "best.ckpt")
    if stopped_by_time:
        return {**row, **run.last_val, "step": step, "stopped": "time limit"}
    return {**row, **run.last_val, "step": step}


def _catch_stop_signals() -> tuple[dict, dict]:
    """Catch SIGINT and SIGTERM (where this is the main thread): a signal is only noted, in
    the ``"signal"`` entry of the dict returned first, for the loop to checkpoint and stop;
    the second dict holds the handlers to put back."""
    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old_handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old_handlers[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass
    return stop, old_handlers


def _fmt(v: object) -> object:
    return f"{v:.6g}" if isinstance(v, float) else v


def _progress_line(row: dict, val: dict, steps: int, eta: float) -> str:
    v = f" val {val['val_psnr']:.2f} dB (input {val['val_input_psnr']:.2f})" if val else ""
    return (
        f"step {row['step']}/{steps} loss {row['loss']:.4f} lr {row['lr']:.2e}"
        f" {row['images_per_s']:.1f} img/s{v} eta {timedelta(seconds=int(eta))}"
    )


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
