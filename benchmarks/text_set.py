"""A test set of shaken text: rendered lines of printed text, blurred by camera shake.

The failure users see most on documents is text smeared into illegible strokes. This
script renders 8 pages (black text on off-white paper, several font sizes, Hershey fonts of
OpenCV, seeded), blurs each by a random camera shake of 11-25 px with 1% Gaussian noise
using the model of ``deblur blur`` (``psf/NAME.npy`` holds the true kernel), and writes a
dataset that ``deblur benchmark`` reads:

    benchmarks/data/text/{sharp,blur,psf}/page_K.{png,npy}

It is a test set: nothing is trained or tuned on it. Then, e.g.:

    python -m benchmarks.text_set [--out DIR]
    deblur benchmark benchmarks/data/text --method none,rl,wiener,net --json results/text.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import BENCH

SEED = 20261127
WORDS = (
    "the quick brown fox jumps over lazy dog deblur sharp image photo kernel motion camera "
    "shake noise printed page letter number 0123456789 invoice total amount date receipt "
    "chapter section figure table result method network restore blur"
).split()


def render_page(rng: np.random.Generator, h: int = 256, w: int = 384) -> np.ndarray:
    """A page of text lines: float32 ``(h, w, 3)`` in [0, 1]."""
    paper = int(rng.integers(215, 248))
    img = np.full((h, w, 3), paper, np.uint8)
    y = int(rng.integers(18, 30))
    while y < h - 8:
        scale = float(rng.uniform(0.45, 0.9))
        thick = 1 if scale < 0.7 else 2
        font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX,
                               cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_PLAIN]))  # fmt: skip
        line = " ".join(rng.choice(WORDS, size=12))
        ink = tuple(int(v) for v in rng.integers(0, 50, 3))
        cv2.putText(img, line, (6, y), font, scale, ink, thick, cv2.LINE_AA)
        y += int(28 * scale + rng.integers(8, 16))
    return img.astype(np.float32) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(BENCH / "data" / "text"))
    ap.add_argument("--pages", type=int, default=8)
    args = ap.parse_args()
    from deblur.io import write_image
    from deblur.psf import camera_shake
    from deblur.synth import quantize8, simple_blur

    out = Path(args.out)
    for k in range(args.pages):
        rng = np.random.default_rng([SEED, k])
        sharp = quantize8(render_page(rng))
        psf = camera_shake(int(rng.integers(11, 26)), rng)
        blurred = simple_blur(sharp, psf, 0.01, rng)
        write_image(out / "sharp" / f"page_{k}.png", sharp, overwrite=True)
        write_image(out / "blur" / f"page_{k}.png", blurred, overwrite=True)
        (out / "psf").mkdir(parents=True, exist_ok=True)
        np.save(out / "psf" / f"page_{k}.npy", psf)
    print(f"{args.pages} pages in {out}")


if __name__ == "__main__":
    main()
