"""README figures: crops from test set (a) and a real blurred photo, before and after.

* ``results/figure_shake.png``: blurred / Richardson-Lucy with the true PSF (tuned
  iterations) / network (blind) / sharp, for crops of test set (a) (camera shake).
* ``results/figure_clock.png``: scikit-image's ``clock`` (a real photo blurred by camera
  motion, nobody synthesised it) and the network's result.

Run after ``quality.py make tune``: ``python -m benchmarks.figures``
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import deblur
from benchmarks.common import BENCH, RESULTS
from deblur.io import read_image
from deblur.psf import load_psf

DATA = BENCH / "data" / "test" / "a_shake"
#: (image stem, top, left) of the crops shown, chosen for texture and edges.
CROPS = [("mcmaster_5", 150, 150), ("mcmaster_12", 200, 120), ("mcmaster_16", 100, 260)]
SIDE = 160


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    cv2.rectangle(out, (0, 0), (len(text) * 8 + 6, 16), (0, 0, 0), -1)
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _save(path: Path, rgb_u8: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR))
    print(f"wrote {path}")


def shake_figure() -> None:
    tuned = json.loads((RESULTS / "baselines.json").read_text())["a_shake"]
    rows = []
    for stem, top, left in CROPS:
        blurred = read_image(DATA / "blur" / f"{stem}.png").color
        sharp = read_image(DATA / "sharp" / f"{stem}.png").color
        psf = load_psf(DATA / "psf" / f"{stem}.npy")
        rl = deblur.restore(blurred, "rl", psf=psf, iterations=tuned["rl_iterations"])
        net = deblur.restore(blurred, "net")
        cells = []
        for name, im in (("blurred", blurred), ("RL, true PSF", rl), ("network", net),
                         ("sharp", sharp)):  # fmt: skip
            crop = im[top : top + SIDE, left : left + SIDE]
            p = deblur.psnr(crop, sharp[top : top + SIDE, left : left + SIDE])
            text = name if name == "sharp" else f"{name} {p:.1f} dB"
            cells.append(_label(crop, text))
        k = psf / psf.max()
        k = cv2.resize(k, (48, 48), interpolation=cv2.INTER_NEAREST)
        cells[0][-50:-2, 2:50] = (np.repeat(k[..., None], 3, 2) * 255).astype(np.uint8)
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0))) for c in cells], 1))
    _save(RESULTS / "figure_shake.png", np.concatenate(rows, 0))


def clock_figure() -> None:
    import skimage.data

    clock = skimage.data.clock().astype(np.float32) / 255.0
    net = deblur.restore(clock, "net")
    pair = [
        _label(np.repeat(c[..., None], 3, 2), t) for c, t in ((clock, "photo"), (net, "network"))
    ]
    _save(RESULTS / "figure_clock.png", np.concatenate(pair, 1))


if __name__ == "__main__":
    RESULTS.mkdir(exist_ok=True)
    shake_figure()
    clock_figure()
