"""Network variants, self-describing weight files and the cached model loader.

A weights file is a ``.safetensors`` file whose metadata holds the model config
(``config``, JSON), the variant name and a SHA-256 of the tensor data, so any weights
file describes itself and tampering is detected. A JSON model card may sit beside it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

from deblur.models.net import MultiScaleNet, NetConfig

__all__ = [
    "VARIANTS",
    "MultiScaleNet",
    "NetConfig",
    "WeightsError",
    "build_model",
    "default_weights_path",
    "load_model",
    "load_weights",
    "resolve_device",
    "save_weights",
]

FORMAT = "deblur-multiscale-v1"
DEFAULT_VARIANT = "base"

#: Named variants. ``base`` is the shipped default (meets the CPU speed target).
VARIANTS: dict[str, NetConfig] = {
    "tiny": NetConfig(width=16, scales=2, unshuffle=2, res_blocks=1, ird_units=1, fuse_width=8),
    "small": NetConfig(width=32, res_blocks=2, ird_units=2),
    "base": NetConfig(width=48, res_blocks=4, ird_units=3),
    "large": NetConfig(width=64, res_blocks=6, ird_units=4),
    # ``base`` plus one or all of the optional parts (design study; they start as the
    # identity, so ``base`` weights fine-tune into them)
    "base-ctx": NetConfig(width=48, res_blocks=4, ird_units=3, context=32),
    "base-fr": NetConfig(width=48, res_blocks=4, ird_units=3, full_res=16),
    "base-reach": NetConfig(width=48, res_blocks=4, ird_units=3, ird_reach=(2, 3, 4)),
    "base-v2": NetConfig(
        width=48, res_blocks=4, ird_units=3, context=32, full_res=16, ird_reach=(2, 3, 4)
    ),
}

#: Parameter prefixes of the optional parts of :class:`NetConfig` (absent from weights
#: trained without them; they start as the identity).
OPTIONAL_PARTS = {
    "context": "global_context.",
    "full_res": "full_res.",
    "ird_reach": "branch.reach.",
}

#: Folder of the shipped weights: ``weights/`` at the top of the repository, reached
#: through the ``deblur/weights`` link in a source checkout and packaged as
#: ``deblur/weights`` in a wheel; never relative to the working directory.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class WeightsError(ValueError):
    """A weights file is missing, unreadable, corrupt, tampered with or mismatched."""


def build_model(variant: str | NetConfig = DEFAULT_VARIANT) -> MultiScaleNet:
    """A freshly initialised network of a named variant (or an explicit config)."""
    if isinstance(variant, NetConfig):
        return MultiScaleNet(variant)
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return MultiScaleNet(VARIANTS[variant])


def default_weights_path(variant: str = DEFAULT_VARIANT) -> Path | None:
    """Path of the shipped weights of ``variant``, or None when they are not installed."""
    p = WEIGHTS_DIR / f"{variant}.safetensors"
    return p if p.is_file() else None


def _tensor_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu", torch.float32).contiguous()
        h.update(name.encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save_weights(
    model: MultiScaleNet, path: str | Path, *, variant: str = "custom", extra: dict | None = None
) -> Path:
    """Write ``model``'s weights (fp32) with its config in the metadata, atomically.

    Parameters
    ----------
    model : MultiScaleNet
    path : destination ``.safetensors`` file (its folder is created).
    variant : name recorded in the metadata.
    extra : more string-valued metadata (e.g. training steps).
    """
    from safetensors.torch import save_file

    state = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()
    }
    meta = {
        "format": FORMAT,
        "variant": variant,
        "config": json.dumps(model.cfg.to_dict(), sort_keys=True),
        "tensor_sha256": _tensor_digest(state),
    }
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=meta)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_weights(path: str | Path) -> MultiScaleNet:
    """Build the network described by a weights file and load its weights (on the CPU, eval).

    Raises
    ------
    WeightsError
        Missing or unreadable file, not a deblur weights file, a config that does not
        match the tensors, or tensor data whose SHA-256 differs from the recorded one.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        with safe_open(str(path), framework="pt") as f:  # one read: metadata and tensors
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WeightsError(f"{name}: not a readable safetensors weights file ({first})") from None
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{name}: not a deblur weights file (metadata format is missing)")
    try:
        cfg = NetConfig(**json.loads(meta["config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"{name}: invalid model config in metadata ({e})") from None
    if meta.get("tensor_sha256") != _tensor_digest(state):
        raise WeightsError(f"{name}: tensor data does not match its recorded SHA-256 (tampered?)")
    model = MultiScaleNet(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise WeightsError(f"{name}: weights do not match the model config ({first})") from None
    return model.eval()


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; explicit names are checked for availability."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}; choose auto, cpu, cuda or mps")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if device == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError("device 'mps' requested but MPS is not available")
    return torch.device(device)


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, device: str) -> MultiScaleNet:
    return load_weights(path).to(device)


def load_model(weights: str | Path | None = None, device: str = "auto") -> MultiScaleNet:
    """The network for inference, loaded once and cached per weights file and device.

    Parameters
    ----------
    weights : path of a ``.safetensors`` file, or None for the shipped default.
    device : ``auto``, ``cpu``, ``cuda`` or ``mps``.

    Raises
    ------
    WeightsError
        No shipped weights (when ``weights`` is None) or a bad weights file.
    """
    if weights is None:
        weights = default_weights_path()
        if weights is None:
            raise WeightsError(f"no shipped weights found in {WEIGHTS_DIR}; pass --weights PATH")
    p = Path(weights).resolve()
    if not p.is_file():
        raise WeightsError(f"{weights}: weights file not found")
    dev = resolve_device(device)
    return _cached(str(p), p.stat().st_mtime_ns, str(dev))
