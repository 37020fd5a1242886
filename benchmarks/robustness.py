"""Does the network leave alone what it should? Sharp photos and smooth images.

A blind network has to guess how much blur there is. Two ways it can guess wrong, each
measured as the mean PSNR of its output against the sharp image (and the input's own
PSNR for reference), with the count of images it makes worse:

``sharp``     the central 256 px crops of the 8 validation photos, not blurred at all,
              8-bit, as they are (``sharp``) and with 1% Gaussian noise (``sharp+noise``);
``smooth``    8 smooth synthetic images like the README's quick start (16x16 random
              colours enlarged to 128x96, bicubic), blurred by camera shake of 9-15 px
              with 1% noise (seeded).

By default only validation photos are used, so the figures may guide training choices;
``--test`` uses the 18 whole McMaster test photos instead (for reporting, never for
choosing). Each ``WEIGHTS`` is a ``.safetensors`` file or a training checkpoint (its EMA
weights), optionally named ``LABEL=PATH`` (the label keys the printout and the JSON).

    python -m benchmarks.robustness WEIGHTS [WEIGHTS ...] [--test] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks import quality
from deblur import psf as psflib
from deblur.metrics import psnr
from deblur.models import build_model, load_weights
from deblur.restoration.tiling import run_network
from deblur.synth import quantize8, simple_blur
from deblur.training import load_checkpoint

SEED = 20261126


def load(path: str) -> torch.nn.Module:
    if path.endswith(".safetensors"):
        return load_weights(path)
    ck = load_checkpoint(path)
    model = build_model(ck["config"]["variant"])
    model.load_state_dict(ck["ema"] or ck["model"])
    return model.eval()


def sets(test: bool = False) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Name -> list of (input, sharp) ``(H, W, 3)`` float32 pairs in [0, 1]."""
    rng = np.random.default_rng(SEED)
    crops = []
    files = quality.test_photos() if test else [quality.PHOTOS / n for n in quality.VALIDATION]
    for f in files:
        im = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        h, w = im.shape[:2]
        y, x = (h - 256) // 2, (w - 256) // 2
        crops.append(im if test else im[y : y + 256, x : x + 256])
    identity = np.ones((1, 1), np.float32)
    smooth = []
    for _ in range(8):
        x = cv2.resize(
            rng.random((16, 16, 3), dtype=np.float32), (128, 96), interpolation=cv2.INTER_CUBIC
        )
        x = quantize8(x)
        k = psflib.camera_shake(int(rng.integers(9, 16)), rng)
        smooth.append((simple_blur(x, k, 0.01, rng), x))
    return {
        "sharp": [(c, c) for c in crops],
        "sharp+noise": [(simple_blur(c, identity, 0.01, rng), c) for c in crops],
        "smooth": smooth,
    }


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def evaluate(model: torch.nn.Module, data: dict) -> dict:
    out = {}
    with torch.no_grad():
        for name, pairs in data.items():
            pin, pout = [], []
            for x, s in pairs:
                y = run_network(model, _t(x)).clamp(0, 1)
                pin.append(psnr(_t(x), _t(s)) if x is not s else float("inf"))
                pout.append(psnr(y, _t(s)))
            same = all(math.isinf(i) for i in pin)  # the input is the sharp image itself
            worse = None if same else sum(o < i for o, i in zip(pout, pin, strict=True))
            out[name] = {
                "input_psnr": None if same else float(np.mean(pin)),
                "net_psnr": float(np.mean(pout)),
                "net_min_psnr": float(np.min(pout)),
                "made_worse": worse,
                "images": len(pairs),
            }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights", nargs="+")
    p.add_argument("--test", action="store_true", help="McMaster test photos (reporting only)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    data = sets(args.test)
    results = {}
    for arg in args.weights:
        w, path = arg.split("=", 1) if "=" in arg else (arg, arg)
        results[w] = r = evaluate(load(path), data)
        for name, v in r.items():
            inp = "   inf" if v["input_psnr"] is None else f"{v['input_psnr']:6.2f}"
            print(
                f"{w}  {name:12s} input {inp}  net {v['net_psnr']:6.2f}"
                f" (min {v['net_min_psnr']:.2f})  worse {v['made_worse']}/{v['images']}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
