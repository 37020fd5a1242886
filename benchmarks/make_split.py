"""Write the train / validation / test split of the photo collections as committed lists.

The lists in ``benchmarks/splits/`` name photos relative to the data folder (by default
``../shared/data``; ``--data`` or ``DEBLUR_DATA`` to change), so no machine's paths are
committed and no folder of links is needed:

``val.txt``          the 8 CBSD68 validation photos (``quality.VALIDATION``)
``test.txt``         the 18 McMaster photos (test only: never trained on, never chosen on)
``train.txt``        the other 60 CBSD68 photos (the first shipped model's training photos)
``train_more.txt``   ``train.txt`` plus the photos of ``more_photos/`` that pass the checks

A photo of ``more_photos/`` is left out when its shorter side is below ``--min-side``
(training crops need 128 px plus the blur margin on each side), or when it is the same
picture as a validation or test photo: grey 32x32 thumbnails (area resampling) are compared
by normalised correlation, also mirrored and rotated, and a correlation above
``--max-corr`` counts as the same picture. What was left out, and why, is printed.

    python -m benchmarks.make_split [--data DIR] [--check]

``--check`` writes nothing and fails when the committed lists differ from what the data
gives (e.g. in a later session, to see that the split is still the one recorded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from benchmarks import quality
from benchmarks.common import SPLITS, data_root

EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def thumb(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """Zero-mean, unit-norm grey 32x32 thumbnail and the image's (H, W)."""
    im = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if im is None:
        raise SystemExit(f"{path}: not readable")
    t = cv2.resize(im.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    t = t - t.mean()
    return t / max(float(np.linalg.norm(t)), 1e-6), im.shape[:2]


def max_corr(t: np.ndarray, refs: np.ndarray) -> float:
    """Largest correlation of ``t`` (and its 8 flips/rotations) with any reference."""
    best = -1.0
    for k in range(4):
        for v in (np.rot90(t, k), np.rot90(t, k)[:, ::-1]):
            best = max(best, float((refs * v).sum(axis=(1, 2)).max()))
    return best


def build(data: Path, min_side: int, limit: float) -> dict[str, list[str]]:
    photos = sorted(p for p in (data / "photos").iterdir() if p.suffix.lower() in EXTS)
    val = [f"photos/{n}" for n in quality.VALIDATION]
    test = [f"photos/{p.name}" for p in photos if p.name.startswith("mcmaster_")]
    train = [
        f"photos/{p.name}"
        for p in photos
        if p.name.startswith("cbsd68_") and f"photos/{p.name}" not in val
    ]
    held_out = np.stack([thumb(data / n)[0] for n in val + test])
    more = []
    for p in sorted(q for q in (data / "more_photos").iterdir() if q.suffix.lower() in EXTS):
        t, (h, w) = thumb(p)
        if min(h, w) < min_side:
            print(f"left out {p.name}: {h}x{w} is smaller than {min_side} px")
            continue
        c = max_corr(t, held_out)
        if c > limit:
            print(f"left out {p.name}: same picture as a validation/test photo (corr {c:.3f})")
            continue
        more.append(f"more_photos/{p.name}")
    return {"val": val, "test": test, "train": train, "train_more": train + more}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=data_root())
    ap.add_argument("--min-side", type=int, default=192)
    ap.add_argument("--max-corr", type=float, default=0.95)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    lists = build(Path(args.data), args.min_side, args.max_corr)
    bad = []
    for name, items in lists.items():
        text = "\n".join(items) + "\n"
        path = SPLITS / f"{name}.txt"
        if args.check:
            if not path.is_file() or path.read_text() != text:
                bad.append(path.name)
        else:
            SPLITS.mkdir(exist_ok=True)
            path.write_text(text)
        print(f"{name}: {len(items)} photos")
    if bad:
        raise SystemExit(f"split differs from the committed lists: {', '.join(bad)}")


if __name__ == "__main__":
    main()
