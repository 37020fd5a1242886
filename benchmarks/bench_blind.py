"""Speed of blind deblurring on a 1280x720 RGB photo: :func:`deblur.restoration.blind.
estimate_psf` (default size) followed by each non-blind step, and scikit-image's
Richardson-Lucy in the same run.

The photo is ``skimage.data.astronaut()`` resized to 1280x720 and blurred by a 25 px camera
shake with 1% noise. Timed per repeat: the estimate; with that estimate, our HQS/TV
deconvolution (:func:`deblur.restoration.hqs.hqs_deconv`, default weight), our
Richardson-Lucy (30 iterations, reflect boundary) and ``skimage.restoration.
richardson_lucy`` (30 iterations, per channel, float32, as scikit-image is used). Prints
medians over ``--repeats`` and writes ``benchmarks/results/blind_speed.json``;
``--profile`` prints the functions that take the time in one estimate + HQS (cProfile).

Run: ``python -m benchmarks.bench_blind [--threads 2] [--repeats 3] [--profile]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


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


def skimage_rl(y: np.ndarray, k: np.ndarray, iterations: int = 30) -> np.ndarray:
    from skimage.restoration import richardson_lucy

    k = k.astype(np.float32)
    chans = [richardson_lucy(y[..., c], k, num_iter=iterations) for c in range(y.shape[2])]
    return np.stack(chans, -1)


def profile(y: np.ndarray) -> None:
    import cProfile
    import pstats

    from deblur.restoration.blind import estimate_psf
    from deblur.restoration.hqs import hqs_deconv

    pr = cProfile.Profile()
    pr.enable()
    hqs_deconv(y, estimate_psf(y))
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(18)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one estimate + HQS")
    ap.add_argument("--no-skimage", action="store_true", help="skip scikit-image's RL")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "blind_speed.json")
    a = ap.parse_args()
    import torch

    from deblur.restoration.blind import estimate_psf
    from deblur.restoration.classical import richardson_lucy
    from deblur.restoration.hqs import hqs_deconv

    torch.set_num_threads(a.threads)
    y = photo()
    if a.profile:
        profile(y)
        return
    runs = []
    for _ in range(a.repeats):
        r = {}
        t = time.perf_counter()
        k = estimate_psf(y)
        r["estimate_s"] = time.perf_counter() - t
        steps = [("hqs_s", hqs_deconv, ()), ("rl_s", richardson_lucy, (30,))]
        if not a.no_skimage:
            steps.append(("skimage_rl_s", skimage_rl, ()))
        for key, fn, extra in steps:
            t = time.perf_counter()
            fn(y, k, *extra)
            r[key] = time.perf_counter() - t
        r["total_hqs_s"] = r["estimate_s"] + r["hqs_s"]
        r["total_rl_s"] = r["estimate_s"] + r["rl_s"]
        runs.append(r)
        print("  " + ", ".join(f"{key} {v:.2f}" for key, v in r.items()), flush=True)
    med = {key: float(np.median([r[key] for r in runs])) for key in runs[0]}
    res = {
        "image": "astronaut resized to 1280x720 RGB, camera shake 25 px, 1% noise",
        "psf_shape": list(k.shape),
        "threads": a.threads,
        "repeats": a.repeats,
        "median": med,
        "estimate_share_of_total_hqs": med["estimate_s"] / med["total_hqs_s"],
        "runs": runs,
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    sk = f", scikit-image RL {med['skimage_rl_s']:.2f} s" if "skimage_rl_s" in med else ""
    print(
        f"medians on {a.threads} threads: estimate {med['estimate_s']:.2f} s + HQS "
        f"{med['hqs_s']:.2f} s = {med['total_hqs_s']:.2f} s; RL {med['rl_s']:.2f} s (total "
        f"{med['total_rl_s']:.2f} s){sk}"
    )


if __name__ == "__main__":
    main()
