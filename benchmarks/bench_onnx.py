"""onnxruntime against PyTorch on the CPU: the shipped network on a 1280x720 RGB image.

Exports the weights with :func:`deblur.models.onnx_export.export_onnx` to a temporary file,
then times one untiled forward pass of each (fp32, the same random input, same thread
count: PyTorch's ``set_num_threads`` and onnxruntime's ``intra_op_num_threads``), and
prints the median seconds, the ratio and their max abs difference on that input. Figures
go to results/bench_onnx.json.

Run: ``python -m benchmarks.bench_onnx [--threads 2] [--repeats 5] [--weights FILE]``
(needs ``pip install 'deblur[onnx]'``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, timings, write_json
from deblur.models import default_weights_path, load_weights
from deblur.models.onnx_export import export_onnx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_onnx.json")
    args = ap.parse_args()
    import onnxruntime as ort

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # a busy machine?
    torch.set_num_threads(args.threads)
    weights = args.weights or default_weights_path()
    net = load_weights(weights).eval()
    x = torch.rand(1, 3, 720, 1280, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(net, Path(tmp) / "model.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {"image": x.numpy()}

    def torch_run() -> np.ndarray:
        with torch.inference_mode():
            return net(x).clamp(0, 1).numpy()

    def ort_run() -> np.ndarray:
        return session.run(["sharp"], feed)[0]

    diff = float(np.abs(torch_run() - ort_run()).max())
    t_torch = timings(torch_run, args.repeats)
    t_ort = timings(ort_run, args.repeats)
    med_torch, med_ort = statistics.median(t_torch), statistics.median(t_ort)
    results = {
        "image": "1280x720 RGB fp32, untiled",
        "weights": Path(weights).name,
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "cpu": platform.processor() or platform.machine(),
        "load_average_1min_before": load,
        "pytorch_median_s": med_torch,
        "onnxruntime_median_s": med_ort,
        "pytorch_s": t_torch,
        "onnxruntime_s": t_ort,
        "speedup_onnxruntime_vs_pytorch": med_torch / med_ort,
        "max_abs_difference": diff,
    }
    print(f"1280x720, {args.threads} thread(s), median of {args.repeats}:")
    print(f"  PyTorch {torch.__version__:12s} {med_torch:.3f} s")
    print(f"  onnxruntime {ort.__version__:8s} {med_ort:.3f} s  ({med_torch / med_ort:.2f}x)")
    print(f"  max abs difference {diff:.2e}")
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
