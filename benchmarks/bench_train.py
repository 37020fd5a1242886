"""Training throughput per variant: patches per second at 128x128 and 256x256.

Default mode: times optimizer steps (forward, multiscale loss, backward, AdamW) on fixed
random batches (fp32, CPU), so the figure is the network's cost alone; prints a table and
writes results/bench_train.json.

``--pipeline``: times real training, data included: :func:`deblur.training.train` on
sharp photos (synthetic ones unless ``--data``), the loader workers synthesising pairs
(``synth cpu``, the numpy pipeline) or only drawing them for the training device to
blur (``synth device``), EMA and logging included, validation and checkpoints left out.
Each setting runs ``--warmup-windows`` + ``--windows`` windows of ``--window-steps``
steps; the figure is the median over the timed windows of patches/s. CPU settings run
always; CUDA ones (fp32, and bf16 with channels-last) when CUDA is available. Writes
results/bench_train_pipeline.json (``--out`` to change).

Run: ``python -m benchmarks.bench_train [--variants small,base,large] [--steps 6]``
or ``python -m benchmarks.bench_train --pipeline [--variants base,large] [--patches 128,256]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from benchmarks.common import RESULTS
from deblur.models import build_model
from deblur.training import TrainConfig, multiscale_loss


def patches_per_second(variant: str, patch: int, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(variant).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    cfg = TrainConfig(out="unused")
    x, y = torch.rand(batch, 3, patch, patch), torch.rand(batch, 3, patch, patch)
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        out, scales = model(x, return_scales=True)
        loss = multiscale_loss(out, scales, y, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def _write_photos(folder: Path, n: int = 4, h: int = 384, w: int = 512) -> None:
    """Smooth random colour photos with edges (stand-ins: synthesis cost does not depend
    on the content)."""
    import numpy as np

    from deblur import synth
    from deblur.io import write_image

    rng = np.random.default_rng(0)
    for i in range(n):
        im = synth.dead_leaves(max(h, w), rng, r_min=2, r_max=60)[:h, :w]
        write_image(folder / f"photo{i}.png", im)


def pipeline_patches_per_second(setting: dict, data: str, a) -> list[float]:
    """Patches/s of each timed window of a short :func:`train` run of ``setting``."""
    import csv
    import tempfile

    from deblur.training import train

    cuda = setting["device"] == "cuda"
    steps_w = a.gpu_window_steps if cuda else a.window_steps
    windows = a.warmup_windows + a.windows
    extra = {k: setting[k] for k in ("synth_device", "precision", "channels_last")
             if setting[k] != {"synth_device": "cpu", "precision": "fp32",
                               "channels_last": False}[k]}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            out=str(Path(tmp) / "run"), sharp=(data,), variant=setting["variant"],
            patch=setting["patch"], batch=setting["batch"], steps=windows * steps_w,
            log_every=steps_w, val_every=10**9, ckpt_every=10**9, workers=setting["workers"],
            device=setting["device"], **extra,
        )  # fmt: skip
        train(cfg)
        with open(Path(tmp) / "run" / "log.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    return [float(r["images_per_s"]) for r in rows][a.warmup_windows :]


def pipeline(a) -> None:
    import os
    import platform
    import tempfile

    torch.set_num_threads(a.threads)
    gpu = torch.cuda.is_available() and not a.cpu_only
    settings = []
    for v in a.variants.split(","):
        for p in (int(x) for x in a.patches.split(",")):
            for synth in a.synth.split(","):
                b = 8 if p <= 128 else 4
                settings.append(dict(device="cpu", synth_device=synth, precision="fp32",
                                     channels_last=False, variant=v, patch=p, batch=b,
                                     workers=a.workers))  # fmt: skip
                if gpu:
                    gb = a.gpu_batch if p <= 128 else max(1, a.gpu_batch // 4)
                    for prec, cl in (("fp32", False), ("bf16", True)):
                        settings.append(dict(device="cuda", synth_device=synth, precision=prec,
                                             channels_last=cl, variant=v, patch=p, batch=gb,
                                             workers=a.gpu_workers))  # fmt: skip
    res: dict = {
        "mode": "pipeline",
        "threads": a.threads,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if gpu else None,
        "machine": platform.machine(),
        "loadavg_before": list(os.getloadavg()),
        "note": a.note,
        "windows": a.windows,
        "warmup_windows": a.warmup_windows,
        "window_steps": {"cpu": a.window_steps, "cuda": a.gpu_window_steps},
        "results": [],
    }
    print(f"{'device':6s} {'synth':6s} {'prec':4s} {'cl':2s} {'variant':7s} {'patch':>5s}"
          f" {'batch':>5s} {'patches/s':>10s}  windows")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        data = a.data
        if data is None:
            data = str(Path(tmp) / "photos")
            _write_photos(Path(data))
        for s in settings:
            w = pipeline_patches_per_second(s, data, a)
            med = statistics.median(w)
            res["results"].append({**s, "patches_per_s": med, "windows_patches_per_s": w})
            print(f"{s['device']:6s} {s['synth_device']:6s} {s['precision']:4s}"
                  f" {'y' if s['channels_last'] else 'n':2s} {s['variant']:7s} {s['patch']:5d}"
                  f" {s['batch']:5d} {med:10.1f}  {' '.join(f'{x:.1f}' for x in w)}",
                  flush=True)  # fmt: skip
    res["loadavg_after"] = list(os.getloadavg())
    out = Path(a.out) if a.out else RESULTS / "bench_train_pipeline.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=None, help="[small,base,large; pipeline: base,large]")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pipeline", action="store_true", help="time training with its data")
    ap.add_argument("--patches", default="128,256", help="pipeline: patch sides")
    ap.add_argument("--synth", default="cpu,device", help="pipeline: synth_device values")
    ap.add_argument("--data", default=None, help="pipeline: folder of sharp photos")
    ap.add_argument("--workers", type=int, default=1, help="pipeline: CPU loader workers")
    ap.add_argument("--windows", type=int, default=3, help="pipeline: timed windows")
    ap.add_argument("--warmup-windows", type=int, default=1)
    ap.add_argument("--window-steps", type=int, default=3, help="pipeline: CPU steps/window")
    ap.add_argument("--gpu-window-steps", type=int, default=20)
    ap.add_argument("--gpu-batch", type=int, default=32, help="pipeline: CUDA batch at 128")
    ap.add_argument("--gpu-workers", type=int, default=8)
    ap.add_argument("--cpu-only", action="store_true", help="pipeline: skip CUDA")
    ap.add_argument("--note", default="", help="pipeline: free text stored in the JSON")
    ap.add_argument("--out", default=None, help="pipeline: JSON file to write")
    a = ap.parse_args()
    if a.pipeline:
        a.variants = a.variants or "base,large"
        pipeline(a)
        return
    a.variants = a.variants or "small,base,large"
    torch.set_num_threads(a.threads)
    res: dict = {"threads": a.threads, "variants": {}}
    print(f"{'variant':8s} {'128x128 (batch 8)':>20s} {'256x256 (batch 4)':>20s}  patches/s")
    for v in a.variants.split(","):
        p128 = patches_per_second(v, 128, 8, a.steps)
        p256 = patches_per_second(v, 256, 4, a.steps)
        res["variants"][v] = {"patches_per_s_128": p128, "patches_per_s_256": p256}
        print(f"{v:8s} {p128:20.1f} {p256:20.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_train.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
