"""``--method auto`` against the network on a validation set, photo by photo.

For each pair of ``benchmarks/data/val/SET`` (made by ``python benchmarks/quality.py make``)
prints one JSON line: PSNR of the blurred input (``none``), of ``restore(..., "auto")``
and of ``restore(..., "net")``, both with the result check on (as restore gives them), the
seconds each took, the check's verdicts, and which method ``auto`` chose and why. Lines
are printed as each photo is done, so a partial run still reports.

Validation sets only (never tune on test). Run at 1 thread from the repository root, e.g.
``OMP_NUM_THREADS=1 python -m benchmarks.auto_eval a_shake > benchmarks/results/...jsonl``
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    import torch

    from deblur.api import restore
    from deblur.io import load_image
    from deblur.metrics import psnr

    torch.set_num_threads(1)
    name = sys.argv[1]
    root = HERE / "data" / "val" / name
    for f in sorted((root / "blur").glob("*.png")):
        y = load_image(f)
        x = load_image(root / "sharp" / f.name)
        row = {"set": name, "photo": f.stem, "none": psnr(y, x)}
        for m in ("auto", "net"):
            t = time.perf_counter()
            out, rep = restore(y, m, return_report=True)
            row[m] = psnr(out, x)
            row[m + "_s"] = time.perf_counter() - t
            row[m + "_verdict"] = rep.verdict
            if m == "auto":
                row["chosen"], row["choice"] = rep.method, rep.choice
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
