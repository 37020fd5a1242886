"""Write the golden output of the shipped weights (tests/data/golden_<variant>.npz).

The stored output is produced here from the shipped weights, never by hand; the test
``tests/test_golden.py`` checks that the shipped weights still reproduce it.

Run: ``python -m benchmarks.make_golden [--variant base]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from deblur.models import DEFAULT_VARIANT, default_weights_path, load_weights
from deblur.restoration.tiling import run_network

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"


def golden_input() -> np.ndarray:
    """A fixed, tiny blurred-looking input: float32 ``(1, 3, 40, 56)`` in [0, 1]."""
    rng = np.random.default_rng(1234)
    x = rng.uniform(size=(1, 3, 10, 14)).astype(np.float32)
    x = np.kron(x, np.ones((1, 1, 4, 4), np.float32))  # blocky edges
    return np.clip(x + rng.normal(0, 0.01, x.shape), 0, 1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default=DEFAULT_VARIANT)
    a = ap.parse_args()
    path = default_weights_path(a.variant)
    if path is None:
        raise SystemExit(f"no shipped weights for variant {a.variant!r}")
    x = golden_input()
    y = run_network(load_weights(path), torch.from_numpy(x), tile=0).numpy()
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    out = GOLDEN_DIR / f"golden_{a.variant}.npz"
    np.savez_compressed(out, input=x, output=y)
    print(f"wrote {out} (output mean {y.mean():.6f})")


if __name__ == "__main__":
    main()
