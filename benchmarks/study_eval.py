"""Validation figures of checkpoints (or weights) of the design study, side by side.

For each ``LABEL=PATH`` (a training checkpoint: its EMA weights; or a ``.safetensors``
file): mean PSNR/SSIM on the fixed validation set (32 pairs: the 8 validation photos'
central 256 px crops, each blurred four ways, as in training), the gain per blur family,
and the robustness figures of ``robustness.py`` on validation photos (sharp crops as they
are and with 1% noise, smooth synthetic images). Validation photos only: never test ones.

    python -m benchmarks.study_eval LABEL=PATH [...] [--data DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from benchmarks import robustness
from benchmarks.common import SPLITS, data_root
from deblur.metrics import psnr
from deblur.training import TrainConfig
from deblur.training.data import make_val_set

FAMILIES = ("shake", "gaussian", "disk", "motion")  # the order make_val_set blurs each photo


def validation(model: torch.nn.Module, data: str) -> dict:
    cfg = TrainConfig(out="", val_sharp=(str(SPLITS / "val.txt"),), data_root=data)
    pairs = make_val_set(cfg)
    gains: dict[str, list[float]] = {f: [] for f in FAMILIES}
    outs = []
    with torch.no_grad():
        for i, (b, s) in enumerate(pairs):
            y = model(b).clamp(0, 1)
            outs.append(psnr(y, s))
            gains[FAMILIES[i % 4]].append(psnr(y, s) - psnr(b, s))
    return {"val_psnr": float(np.mean(outs)),
            "gain": {f: float(np.mean(v)) for f, v in gains.items()}}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--data", default=data_root())
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    robust = robustness.sets(test=False)
    results = {}
    for arg in args.weights:
        label, path = arg.split("=", 1)
        model = robustness.load(path)
        r = validation(model, args.data)
        r["robustness"] = {k: v["net_psnr"] for k, v in robustness.evaluate(model, robust).items()}
        results[label] = r
        g = " / ".join(f"{r['gain'][f]:+.3f}" for f in FAMILIES)
        rb = r["robustness"]
        print(f"{label:12s} val {r['val_psnr']:.3f}  gains {g}  sharp {rb['sharp']:.2f}"
              f"  sharp+noise {rb['sharp+noise']:.2f}"
              f"  smooth {rb['smooth']:.2f}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
