"""Training throughput per variant: patches per second at 128x128 and 256x256 (fp32, CPU).

Times optimizer steps (forward, multiscale loss, backward, AdamW) on fixed random batches,
so the figure is the network's cost alone; the data pipeline runs in loader workers.
Prints a table and writes results/bench_train.json.

Run: ``python benchmarks/bench_train.py [--variants small,base,large] [--steps 6]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from deblur.models import build_model
from deblur.training import TrainConfig, multiscale_loss

RESULTS = Path(__file__).resolve().parent / "results"


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="small,base,large")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
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
