"""Issue 18's two diagnostics of a blind network: the linear floor and the inversion index.

* **Linear floor**: the best single linear filter over the training PSF distribution
  (``deblur.training.diagnostics.linear_floor_filter``, 400 PSFs drawn from the training
  mixture, and 400 from camera shake alone), applied to the validation camera-shake set (the
  8 validation photos' central 256 px crops, blurred exactly as in training validation),
  against the network on the same pairs and against the per-kernel Wiener filter (the true
  PSF's, the linear ceiling).
* **Inversion index**: three pairs of 25 px shakes; the index of the network, and as
  calibration that of the linear floor filter (a single filter: about 0) and of each
  kernel's own Wiener filter (an ideal inverter).

Run: ``python -m benchmarks.diagnose [--weights W.safetensors ...] [--json OUT]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from deblur import psf as psflib
from deblur import synth
from deblur.metrics import psnr
from deblur.training import diagnostics as dg

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
PAD = 48  # reflect padding before circular filtering (larger than any validation PSF)


def val_photos() -> list[np.ndarray]:
    """The 8 validation photos (``benchmarks/splits/val.txt``), float32 RGB in [0, 1]."""
    import cv2

    names = (HERE / "splits" / "val.txt").read_text().split()
    out = []
    for n in names:
        im = cv2.imread(str(DATA / n), cv2.IMREAD_COLOR)
        out.append(np.ascontiguousarray(im[..., ::-1], dtype=np.float32) / 255.0)
    return out


def val_shake_set(photos: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, list]:
    """The camera-shake quarter of the training validation set (same seeds and PSFs)."""
    from deblur.training.data import VAL_SEED, _chw

    cfg = synth.BlurConfig(p_linear=0.0, noise=(0.01, 0.01))
    bs, ss, ks = [], [], []
    for n, im in enumerate(photos):
        side = 256 + 2 * cfg.margin
        y0, x0 = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
        rng = np.random.default_rng([VAL_SEED, n, 0])
        k = psflib.camera_shake(int(rng.integers(11, 32)), rng)
        b, s = synth.synthesize_pair(im[y0 : y0 + side, x0 : x0 + side], 256, rng, cfg, psf=k)
        bs.append(_chw(b))
        ss.append(_chw(s))
        ks.append(k)
    return torch.stack(bs), torch.stack(ss), ks


def filtered(y: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """``y`` reflect-padded by PAD, filtered circularly, cropped back."""
    return dg.apply_filter(dg.pad_reflect(y, PAD), filt)[..., PAD:-PAD, PAD:-PAD]


def mean_psnr(x: torch.Tensor, s: torch.Tensor) -> float:
    return float(np.mean([psnr(x[i : i + 1].clamp(0, 1), s[i : i + 1]) for i in range(len(x))]))


def net_restorer(weights: str | None):
    from deblur.models import load_model

    model = load_model(weights, device="cpu")

    def restore(y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([model(y[i : i + 1]) for i in range(len(y))])

    return restore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="*", default=[None], help="weights files (default: shipped)")
    ap.add_argument("--psfs", type=int, default=400, help="PSFs drawn for the linear floor")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    torch.manual_seed(0)
    photos = val_photos()
    y, x, ks = val_shake_set(photos)
    power = dg.mean_power_spectrum(dg.pad_reflect(x, PAD))
    rng = np.random.default_rng(0)
    mixture = [synth.random_psf(rng, synth.BlurConfig()) for _ in range(args.psfs)]
    shakes = [psflib.camera_shake(int(rng.integers(7, 42)), rng) for _ in range(args.psfs)]
    res: dict = {"input_psnr": mean_psnr(y, x)}
    floor_mix = dg.linear_floor_filter(mixture, power)
    floor_shake = dg.linear_floor_filter(shakes, power)
    res["floor_mixture_psnr"] = mean_psnr(filtered(y, floor_mix), x)
    res["floor_shake_psnr"] = mean_psnr(filtered(y, floor_shake), x)
    per_kernel = torch.cat(
        [filtered(y[i : i + 1], dg.wiener_filter(k, power)) for i, k in enumerate(ks)]
    )
    res["wiener_true_psnr"] = mean_psnr(per_kernel, x)

    pairs = [
        (
            psflib.camera_shake(25, np.random.default_rng([18, i, 1])),
            psflib.camera_shake(25, np.random.default_rng([18, i, 2])),
        )
        for i in range(3)
    ]
    p256 = dg.mean_power_spectrum(x)

    def index_of(restore) -> float:
        return float(
            np.mean([dg.inversion_index(restore, photos, a, b)["index"] for a, b in pairs])
        )

    res["index_floor"] = index_of(
        lambda t: dg.apply_filter(t, dg.linear_floor_filter(mixture, p256))
    )
    res["index_wiener"] = float(
        np.mean(
            [
                dg.inversion_index(
                    lambda t, a=a, b=b, flip=[0]: _wiener_of_call(t, a, b, p256, flip), photos, a, b
                )["index"]
                for a, b in pairs
            ]
        )
    )
    res["networks"] = {}
    for w in args.weights:
        restore = net_restorer(w)
        res["networks"][w or "shipped"] = {
            "psnr": mean_psnr(restore(y), x),
            "index": index_of(restore),
        }
    for k, v in res.items():
        print(f"{k}: {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")


def _wiener_of_call(t, a, b, power, flip):
    """The ideal inverter for the index: the Wiener filter of k1 on the first call (blurred
    by k1), of k2 on the second."""
    k = a if flip[0] % 2 == 0 else b
    flip[0] += 1
    return dg.apply_filter(t, dg.wiener_filter(k, power))


if __name__ == "__main__":
    main()
