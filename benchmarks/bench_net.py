"""Speed and memory of the network (figures printed, and saved to results/bench_net.json).

* 1280x720 RGB, fp32, 2 threads: median seconds of ``run_network`` per variant, side by side
  with scikit-image's Richardson-Lucy (float32, 30 iterations, per channel) in the same run,
  and their ratio (target for the default variant: <= 0.6 s, i.e. >= 2.5x faster than RL).
* 3840x2160 RGB with the default tiling: peak RSS of a fresh process (target <= 2 GB).
* Parameter count and MACs per megapixel.

Run: ``python -m benchmarks.bench_net [--repeats 5] [--variants small,base]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

import numpy as np
import torch

from benchmarks.common import RESULTS, timings, write_json
from deblur.models import DEFAULT_VARIANT, VARIANTS, build_model
from deblur.restoration.tiling import run_network


def macs_per_megapixel(variant: str, h: int = 256, w: int = 256) -> float:
    """Multiply-accumulates of the convolutions per input megapixel (from forward hooks)."""
    model = build_model(variant).eval()
    total = 0

    def hook(mod: torch.nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total += out.numel() * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        model(torch.rand(1, 3, h, w))
    for x in hs:
        x.remove()
    return total / (h * w) * 1e6


def median_time(fn, repeats: int) -> float:
    return statistics.median(timings(fn, repeats))


def peak_rss_4k(variant: str) -> float:
    """Peak RSS (MB) of a fresh process deblurring a 3840x2160 image with default tiling."""
    code = f"""
import resource, torch
torch.set_num_threads(2)
from deblur.models import build_model
from deblur.restoration.tiling import run_network
m = build_model({variant!r}).eval()
x = torch.rand(1, 3, 2160, 3840)
y = run_network(m, x)
assert y.shape == x.shape
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variants", default="small,base,large")
    ap.add_argument("--no-4k", action="store_true", help="skip the 3840x2160 memory run")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from skimage.restoration import richardson_lucy as sk_rl

    from deblur.psf import camera_shake

    rng = np.random.default_rng(0)
    img = rng.uniform(size=(720, 1280, 3)).astype(np.float32)
    psf = camera_shake(15, 0)

    def skimage_rl() -> None:
        for c in range(3):
            sk_rl(img[..., c], psf, num_iter=30, clip=False)

    x = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    results: dict = {"image": "1280x720 RGB fp32", "threads": torch.get_num_threads()}
    t_rl = median_time(skimage_rl, args.repeats)
    results["skimage_rl_30it_s"] = t_rl
    print(f"skimage richardson_lucy (float32, 30 it, per channel): {t_rl:.3f} s (median)")
    results["variants"] = {}
    for v in args.variants.split(","):
        model = build_model(v).eval()
        t = median_time(lambda model=model: run_network(model, x), args.repeats)
        params = sum(p.numel() for p in model.parameters())
        gmacs = macs_per_megapixel(v) / 1e9
        row = {
            "seconds_1280x720": t,
            "speedup_vs_skimage_rl": t_rl / t,
            "parameters": params,
            "gmacs_per_megapixel": gmacs,
            "config": VARIANTS[v].to_dict(),
        }
        tag = " (default)" if v == DEFAULT_VARIANT else ""
        print(
            f"{v:6s}{tag:10s} {t:.3f} s  {t_rl / t:.2f}x faster than skimage RL  "
            f"{params:,} params  {gmacs:.1f} GMAC/MP"
        )
        results["variants"][v] = row
    if not args.no_4k:
        rss = peak_rss_4k(DEFAULT_VARIANT)
        results["peak_rss_mb_3840x2160_tiled"] = rss
        print(f"3840x2160 with default tiling ({DEFAULT_VARIANT}): peak RSS {rss:.0f} MB")
    results["rusage_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_json(RESULTS / "bench_net.json", results)


if __name__ == "__main__":
    main()
