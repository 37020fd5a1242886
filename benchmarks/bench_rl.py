"""Benchmark: deblur's Richardson–Lucy against scikit-image's, on a 1280x720 RGB image.

The sharp image is ``skimage.data.coffee()`` resized to 1280x720 (float32 in [0, 1]). It is
blurred by ``camera_shake(15, seed=3)`` with the reflect boundary and 0.5 % Gaussian noise
(sigma = 0.005, then clipped to [0, 1]). Timed, each as the median of ``--repeats`` runs:

- ``skimage.restoration.richardson_lucy`` on each float32 channel, 30 iterations;
- ``deblur.restoration.richardson_lucy``, 30 iterations (default reflect boundary), and with
  ``boundary="zero"`` (scikit-image's own model) for a like-for-like comparison;
- ``accelerate=True`` with the fewest iterations reaching scikit-image's 30-iteration PSNR,
  and with the fewest reaching deblur's own plain 30-iteration PSNR (both the whole-image
  and the interior PSNR must be reached).

PSNR is against the sharp image, over the whole image and over the interior (15 px from the
borders excluded). Figures are printed and written to ``benchmarks/results/bench_rl.json``.

Usage: ``python -m benchmarks.bench_rl [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import cv2
import numpy as np
import skimage
import torch
from skimage import data
from skimage.restoration import richardson_lucy as sk_richardson_lucy

from benchmarks.common import RESULTS as RESULTS_DIR
from deblur.metrics import psnr
from deblur.psf import blur, camera_shake
from deblur.restoration import richardson_lucy

ITERATIONS = 30
SEED = 3
NOISE = 0.005
BORDER = 15
RESULTS = RESULTS_DIR / "bench_rl.json"


def make_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sharp = cv2.resize(data.coffee(), (1280, 720), interpolation=cv2.INTER_CUBIC)
    sharp = np.clip(sharp.astype(np.float32) / 255.0, 0.0, 1.0)
    psf = camera_shake(15, SEED)
    x = torch.from_numpy(sharp).permute(2, 0, 1)[None].contiguous()
    y = blur(x, psf, "reflect")[0].permute(1, 2, 0).numpy()
    y = y + NOISE * np.random.default_rng(SEED).standard_normal(y.shape)
    return sharp, np.clip(y, 0.0, 1.0).astype(np.float32), psf


def timed(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def skimage_rl(y: np.ndarray, psf: np.ndarray, iterations: int) -> np.ndarray:
    return np.stack(
        [sk_richardson_lucy(y[..., c], psf, iterations) for c in range(y.shape[2])], axis=-1
    )


def fewest_iterations(y, psf, sharp, target: dict[str, float], limit: int = 60) -> int:
    """Fewest accelerated iterations reaching both PSNRs of ``target`` (scanned upwards).

    Both the whole-image and the interior PSNR must be reached, so that a win on the
    borders (where the zero-boundary model of scikit-image rings) cannot hide a loss inside.
    """
    for n in range(1, limit + 1):
        out = richardson_lucy(y, psf, n, accelerate=True)
        if (
            psnr(out, sharp) >= target["psnr"]
            and psnr(out, sharp, crop=BORDER) >= target["psnr_interior"]
        ):
            return n
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant (>= 5)")
    args = parser.parse_args()
    repeats = max(5, args.repeats)
    torch.set_num_threads(2)

    sharp, y, psf = make_problem()

    def scores(img: np.ndarray) -> dict[str, float]:
        return {"psnr": psnr(img, sharp), "psnr_interior": psnr(img, sharp, crop=BORDER)}

    print(f"image 1280x720 RGB float32, PSF camera_shake(15, {SEED}), noise sigma {NOISE}")
    print(
        f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.2f}, repeats {repeats}"
    )
    blurred = scores(y)
    print(
        f"blurred input             PSNR {blurred['psnr']:.2f} dB "
        f"(interior {blurred['psnr_interior']:.2f})"
    )

    # warm-up (FFT plans, caches)
    richardson_lucy(y, psf, 2)
    skimage_rl(y, psf, 1)

    t_sk, out_sk = timed(lambda: skimage_rl(y, psf, ITERATIONS), repeats)
    t_ours, out_ours = timed(lambda: richardson_lucy(y, psf, ITERATIONS), repeats)
    t_zero, out_zero = timed(
        lambda: richardson_lucy(y, psf, ITERATIONS, boundary="zero", normalize=False), repeats
    )
    s_sk, s_ours, s_zero = scores(out_sk), scores(out_ours), scores(out_zero)

    n_sk = fewest_iterations(y, psf, sharp, s_sk)
    t_acc_sk, out_acc_sk = timed(lambda: richardson_lucy(y, psf, n_sk, accelerate=True), repeats)
    n_own = fewest_iterations(y, psf, sharp, s_ours)
    t_acc_own, out_acc_own = timed(lambda: richardson_lucy(y, psf, n_own, accelerate=True), repeats)
    s_acc_sk, s_acc_own = scores(out_acc_sk), scores(out_acc_own)

    rows = [
        (f"skimage RL, {ITERATIONS} it (per channel)", t_sk, s_sk),
        (f"deblur RL, {ITERATIONS} it (reflect)", t_ours, s_ours),
        (f"deblur RL, {ITERATIONS} it (zero)", t_zero, s_zero),
        (f"deblur RL accel., {n_sk} it", t_acc_sk, s_acc_sk),
        (f"deblur RL accel., {n_own} it", t_acc_own, s_acc_own),
    ]
    print(f"{'variant':38s} {'median s':>9s} {'PSNR dB':>8s} {'interior':>9s}")
    for name, t, s in rows:
        print(f"{name:38s} {t:9.3f} {s['psnr']:8.2f} {s['psnr_interior']:9.2f}")

    ratios = {
        "skimage_time_over_deblur_time_30it": t_sk / t_ours,
        "skimage_time_over_deblur_zero_time_30it": t_sk / t_zero,
        "psnr_gain_30it_db": s_ours["psnr"] - s_sk["psnr"],
        "psnr_gain_30it_interior_db": s_ours["psnr_interior"] - s_sk["psnr_interior"],
        "accelerated_time_over_skimage_time": t_acc_sk / t_sk,
        "accelerated_own_target_time_over_skimage_time": t_acc_own / t_sk,
        "accelerated_own_target_time_over_plain_time": t_acc_own / t_ours,
    }
    targets = {
        "equal_iterations_not_slower": t_ours <= t_sk,
        "equal_iterations_psnr_not_lower": s_ours["psnr"] >= s_sk["psnr"],
        "accelerated_within_a_third_of_skimage_time": t_acc_sk <= t_sk / 3,
    }
    print(
        f"speed-up at {ITERATIONS} it: {ratios['skimage_time_over_deblur_time_30it']:.2f}x "
        f"(reflect), {ratios['skimage_time_over_deblur_zero_time_30it']:.2f}x (zero)"
    )
    print(
        f"PSNR gain at {ITERATIONS} it: {ratios['psnr_gain_30it_db']:+.2f} dB "
        f"(interior {ratios['psnr_gain_30it_interior_db']:+.2f} dB)"
    )
    print(
        f"accelerated: {n_sk} it reach skimage's {ITERATIONS}-it PSNRs (whole and interior) in "
        f"{ratios['accelerated_time_over_skimage_time']:.1%} of its time; "
        f"{n_own} it reach deblur's own {ITERATIONS}-it PSNRs "
        f"({ratios['accelerated_own_target_time_over_plain_time']:.1%} of its time)"
    )
    for name, ok in targets.items():
        print(f"target {name}: {'met' if ok else 'NOT met'}")

    record = {
        "setup": {
            "image": "skimage.data.coffee resized to 1280x720, RGB float32",
            "psf": f"camera_shake(15, {SEED})",
            "blur_boundary": "reflect",
            "noise_sigma": NOISE,
            "iterations": ITERATIONS,
            "repeats": repeats,
            "interior_border_px": BORDER,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "skimage": skimage.__version__,
        },
        "blurred": blurred,
        "skimage_30": {"seconds": t_sk, **s_sk},
        "deblur_30_reflect": {"seconds": t_ours, **s_ours},
        "deblur_30_zero": {"seconds": t_zero, **s_zero},
        "deblur_accelerated_to_skimage_psnr": {"iterations": n_sk, "seconds": t_acc_sk, **s_acc_sk},
        "deblur_accelerated_to_own_psnr": {"iterations": n_own, "seconds": t_acc_own, **s_acc_own},
        "ratios": ratios,
        "targets_met": targets,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
