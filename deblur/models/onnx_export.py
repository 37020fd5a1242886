"""ONNX export of the network, for other runtimes (onnxruntime, apps that run ONNX models).

The exported model takes ``image``: float32 ``(N, 3, H, W)``, RGB in [0, 1], with ``N``,
``H`` and ``W`` dynamic, and returns ``sharp``: float32 ``(N, 3, H, W)`` in [0, 1]. It is
the network's untiled output, clipped: what :func:`deblur.restore` with ``method="net"``,
``tile=0`` and ``guard=False`` computes for an RGB image (gray images are run as RGB and
averaged back; alpha is left out; the result check is not part of the model). The input is
reflect-padded to a multiple of the network's :attr:`~deblur.models.net.NetConfig.multiple`
inside the graph, so each side must be at least that multiple (16 for ``base``).

The exporter is PyTorch's TorchScript-based one (``dynamo=False``): it needs the ``onnx``
package only (``pip install 'deblur[onnx]'``); :func:`check_onnx` compares the file with
PyTorch through ``onnxruntime``. A network with the ``fourier`` part (FFTs) is refused:
PyTorch cannot export ``rfft2`` / ``irfft2`` to ONNX.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deblur.atomic import atomic_write
from deblur.errors import DeblurError, OutputExistsError, UsageError, WeightsError
from deblur.models.net import MultiScaleNet
from deblur.models.weights import load_weights

__all__ = ["OPSET", "CHECK_SIZES", "check_onnx", "export_onnx", "onnx_ready"]

OPSET: int = 17
"""ONNX opset of the exported graph."""

CHECK_SIZES: tuple[tuple[int, int], ...] = ((37, 53), (67, 41), (101, 129))
"""``(H, W)`` of the random inputs :func:`check_onnx` compares on (odd sizes, not
multiples of 16, so the padding inside the graph is exercised)."""

_INSTALL = "pip install 'deblur[onnx]'"
_AXES = {0: "batch", 2: "height", 3: "width"}
#: ``torch.onnx.export``'s options but the opset: the legacy exporter, named input and
#: output with batch, height and width free.
_EXPORT_OPTIONS = {
    "dynamo": False,
    "input_names": ["image"],
    "output_names": ["sharp"],
    "dynamic_axes": {"image": _AXES, "sharp": _AXES},
}


class _Exported(nn.Module):
    """The network as exported: pad to a multiple (always, so the graph holds no
    shape-dependent branch), run, crop, clip."""

    def __init__(self, net: MultiScaleNet) -> None:
        super().__init__()
        self.net = net
        self.multiple = net.cfg.multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        m = self.multiple
        x = F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect")
        return self.net(x)[..., :h, :w].clamp(0, 1)


def onnx_ready(model: MultiScaleNet) -> str | None:
    """Why ``model`` cannot be exported to ONNX (one line), or None when it can."""
    if model.fourier is not None:
        return (
            "the network has the 'fourier' part (FFTs), which PyTorch cannot export to ONNX;"
            " export weights of a variant without it (such as base)"
        )
    return None


def _model(weights: str | os.PathLike[str] | MultiScaleNet) -> MultiScaleNet:
    return weights if isinstance(weights, MultiScaleNet) else load_weights(weights)


def export_onnx(
    weights: str | os.PathLike[str] | MultiScaleNet,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    opset: int = OPSET,
) -> Path:
    """Export a network to an ONNX file with dynamic batch, height and width, atomically.

    Parameters
    ----------
    weights : path of a ``.safetensors`` weights file, or a :class:`MultiScaleNet`
    out : the ``.onnx`` file to write (its folder is created)
    overwrite : replace an existing ``out`` (default: refuse)
    opset : ONNX opset, 17 or later

    Returns
    -------
    Path
        ``out``. The model's metadata holds ``deblur_config`` (JSON), ``deblur_multiple``
        (the smallest side and the padding step) and ``deblur_output``.

    Raises
    ------
    WeightsError
        Bad weights file, or a network that cannot be exported (the ``fourier`` part).
    UsageError
        ``out`` does not end in ``.onnx``, a bad ``opset``, or the ``onnx`` package is
        not installed.
    OutputExistsError
        ``out`` exists and ``overwrite`` is False.
    DeblurError
        The exporter failed (one line).
    """
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"{out}: the output must be a .onnx file")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 17 <= opset <= 23:
        raise UsageError(f"opset must be a whole number from 17 to 23, got {opset!r}")
    if out.is_dir():
        raise UsageError(f"{out}: is a folder, not a .onnx file")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists (use --overwrite to replace it)")
    net = _model(weights)
    why = onnx_ready(net)
    if why is not None:
        raise WeightsError(f"{weights if not isinstance(weights, nn.Module) else 'model'}: {why}")
    try:
        import onnx
    except ImportError:
        raise UsageError(f"export-onnx needs the onnx package: {_INSTALL}") from None
    wrapped = _Exported(net.to("cpu").eval()).eval()
    example = torch.rand(1, net.cfg.channels, 2 * net.cfg.multiple + 5, 3 * net.cfg.multiple + 7)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and trace notes
            torch.onnx.export(wrapped, (example,), buf, opset_version=opset, **_EXPORT_OPTIONS)
    except Exception as e:  # the exporter raises many kinds: one line out
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DeblurError(f"ONNX export failed: {first[:300]}") from None
    model = onnx.load_model_from_string(buf.getvalue())
    meta = {
        "deblur_config": json.dumps(net.cfg.to_dict(), sort_keys=True),
        "deblur_multiple": str(net.cfg.multiple),
        "deblur_output": "sharp (N, 3, H, W) float32 in [0, 1]; input image the same, "
        f"H and W >= {net.cfg.multiple}",
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "deblur"
    onnx.checker.check_model(model)
    try:
        return atomic_write(out, model.SerializeToString(), overwrite=overwrite)
    except OutputExistsError:
        raise OutputExistsError(f"{out}: already exists (use --overwrite to replace it)") from None


def check_onnx(
    weights: str | os.PathLike[str] | MultiScaleNet,
    onnx_file: str | os.PathLike[str],
    *,
    sizes: tuple[tuple[int, int], ...] = CHECK_SIZES,
    seed: int = 0,
    threads: int | None = None,
) -> float:
    """Largest absolute difference between the ONNX file (run by onnxruntime on the CPU)
    and the PyTorch network on random inputs ``(1, 3, H, W)`` in [0, 1] of each size.

    Parameters
    ----------
    weights : the weights file (or network) the ONNX file was exported from
    onnx_file : the exported file
    sizes : ``(H, W)`` pairs, each side at least the network's multiple
    seed : seed of the random inputs
    threads : onnxruntime intra-op threads (None: its default)

    Returns
    -------
    float
        ``max |onnx - torch|`` over all sizes, on the [0, 1] scale.

    Raises
    ------
    UsageError
        onnxruntime is not installed, or a size below the network's multiple.
    DeblurError
        onnxruntime cannot load or run the file.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise UsageError(f"checking the ONNX file needs onnxruntime: {_INSTALL}") from None
    net = _model(weights).to("cpu").eval()
    m = net.cfg.multiple
    if any(min(hw) < m for hw in sizes):
        raise UsageError(f"sizes must be at least {m} pixels a side, got {sizes}")
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(
            os.fspath(onnx_file), opts, providers=["CPUExecutionProvider"]
        )
    except Exception as e:
        raise DeblurError(f"{onnx_file}: onnxruntime cannot load it ({_first(e)})") from None
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for h, w in sizes:
        x = torch.rand(1, net.cfg.channels, h, w, generator=gen)
        with torch.no_grad():
            ref = net(x).clamp(0, 1).numpy()  # the network itself, not the wrapper
        try:
            got = session.run(["sharp"], {"image": x.numpy()})[0]
        except Exception as e:
            raise DeblurError(f"{onnx_file}: onnxruntime failed on {h}x{w} ({_first(e)})") from None
        if got.shape != ref.shape:
            raise DeblurError(f"{onnx_file}: output shape {got.shape}, expected {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def _first(e: BaseException) -> str:
    return " ".join((str(e).strip().splitlines() or [type(e).__name__])[0].split())[:300]
