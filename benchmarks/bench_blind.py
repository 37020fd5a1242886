"""Speed of blind deblurring: :func:`deblur.restoration.blind.estimate_psf` (default size)
plus Richardson-Lucy (30 iterations, reflect boundary) on a 1280x720 RGB photo.

The photo is ``skimage.data.astronaut()`` resized to 1280x720 and blurred by a 25 px camera
shake with 1% noise. Prints the median over ``--repeats`` runs of the total seconds and the
estimate's share; writes ``benchmarks/results/blind_speed.json``.

Run: ``python benchmarks/bench_blind.py [--threads 2] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def photo() -> np.ndarray:
    import cv2
    import skimage.data
    import torch

    from deblur.psf import blur, camera_shake

    x = cv2.resize(skimage.data.astronaut(), (1280, 720), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1) / 255)[None]
    y = blur(x, camera_shake(25, 7)).numpy()[0].transpose(1, 2, 0)
    y = y + 0.01 * np.random.default_rng(0).standard_normal(y.shape)
    return np.clip(y, 0, 1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "blind_speed.json")
    a = ap.parse_args()
    import torch

    from deblur.restoration.blind import estimate_psf
    from deblur.restoration.classical import richardson_lucy

    torch.set_num_threads(a.threads)
    y = photo()
    runs = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        k = estimate_psf(y)
        t1 = time.perf_counter()
        richardson_lucy(y, k, 30, boundary="reflect")
        t2 = time.perf_counter()
        runs.append({"estimate_s": t1 - t0, "rl_s": t2 - t1, "total_s": t2 - t0})
        print(f"estimate {t1 - t0:.2f} s + RL {t2 - t1:.2f} s = {t2 - t0:.2f} s", flush=True)
    med = {key: float(np.median([r[key] for r in runs])) for key in runs[0]}
    share = med["estimate_s"] / med["total_s"]
    res = {
        "image": "astronaut resized to 1280x720 RGB, camera shake 25 px, 1% noise",
        "psf_shape": list(k.shape),
        "threads": a.threads,
        "repeats": a.repeats,
        "median": med,
        "estimate_share": share,
        "runs": runs,
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print(
        f"median total {med['total_s']:.2f} s (estimate {med['estimate_s']:.2f} s, "
        f"{share:.0%}; RL {med['rl_s']:.2f} s) on {a.threads} threads"
    )


if __name__ == "__main__":
    main()
