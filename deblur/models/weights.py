"""The weights format: self-describing ``.safetensors`` files and their JSON model cards.

A weights file holds the tensors (fp32) and, in its metadata, the model config (``config``,
JSON), the variant name and a SHA-256 of the tensor data, so any weights file describes
itself and tampering is detected. Safetensors holds no code: loading a hostile file can
fail, never execute anything. A model card ``NAME.json`` may sit beside ``NAME.safetensors``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path

import torch

from deblur.atomic import atomic_write
from deblur.errors import WeightsError
from deblur.models.net import MultiScaleNet, NetConfig

__all__ = [
    "FORMAT",
    "MAX_PARAMETERS",
    "WEIGHTS_DIR",
    "checked_net_config",
    "default_weights_path",
    "load_weights",
    "network_shapes",
    "save_weights",
    "write_card",
]

FORMAT = "deblur-multiscale-v1"
DEFAULT_VARIANT = "base"

#: Folder of the shipped weights: ``weights/`` at the top of a source checkout, packaged as
#: ``deblur/weights`` in a wheel (setuptools' data-files mapping); never relative to the
#: working directory.
_PACKAGED = Path(__file__).resolve().parent.parent / "weights"
WEIGHTS_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "weights"


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
    from safetensors.torch import save

    return atomic_write(path, save(state, metadata=meta))


def load_weights(path: str | Path) -> MultiScaleNet:
    """Build the network described by a weights file and load its weights (on the CPU, eval).

    The file is checked before anything large is made: the metadata's config field by
    field (:data:`_CONFIG_BOUNDS`), the size of the network it describes
    (:data:`MAX_PARAMETERS`), and the names, shapes and dtype (fp32) of the tensors the
    header lists against that network; then the tensors' SHA-256.

    Raises
    ------
    WeightsError
        Missing or unreadable file, not a deblur weights file, a header or config that
        repeats a key, a config out of bounds or that does not match the tensors, or tensor
        data whose SHA-256 differs from the recorded one.
    """
    from safetensors import SafetensorError, safe_open

    from deblur.io.jsonfile import loads  # here, not at import: deblur.io loads cv2

    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    problem = _header_problem(path)
    if problem:
        raise WeightsError(f"{name}: not a readable safetensors weights file ({problem})")
    try:
        with safe_open(str(path), framework="pt") as f:  # metadata and header first
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise WeightsError(
                    f"{name}: not a deblur weights file (metadata format is missing)"
                )
            try:
                cfg = checked_net_config(loads(meta["config"]))
            except (KeyError, TypeError, ValueError, RecursionError) as e:
                why = " ".join(str(e).split())[:200]
                raise WeightsError(f"{name}: invalid model config in metadata ({why})") from None
            expected = network_shapes(cfg)
            problem = _shape_problem(_listed_tensors(f), expected)
            if problem:
                raise WeightsError(f"{name}: weights do not match the model config ({problem})")
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        if isinstance(e, WeightsError):
            raise
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WeightsError(f"{name}: not a readable safetensors weights file ({first})") from None
    if meta.get("tensor_sha256") != _tensor_digest(state):
        raise WeightsError(f"{name}: tensor data does not match its recorded SHA-256 (tampered?)")
    model = MultiScaleNet(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise WeightsError(f"{name}: weights do not match the model config ({first})") from None
    return model.eval()


#: Largest safetensors header :func:`_header_problem` parses (a deblur network's lists a few
#: hundred tensors: tens of KB); a larger one is left to safetensors' own checks.
_MAX_CHECKED_HEADER = 16 << 20


def _header_problem(path: Path) -> str | None:
    """A key repeated in the file's JSON header (safetensors would keep the last entry of
    a tensor or metadata field given twice), or None; other damage is left to safetensors."""
    from deblur.io.jsonfile import DuplicateKeyError, loads

    try:
        with open(path, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if size > _MAX_CHECKED_HEADER:
                return None
            loads(fh.read(size))
    except DuplicateKeyError as e:
        return f"header: {e}"
    except (OSError, ValueError, RecursionError):
        return None  # unreadable or not JSON: safetensors says why
    return None


def _listed_tensors(f) -> dict[str, tuple]:
    """Name -> ``(shape, dtype)`` of each tensor a safetensors header lists (none read)."""
    listed = {}
    for k in f.keys():
        entry = f.get_slice(k)
        listed[k] = (tuple(entry.get_shape()), entry.get_dtype())
    return listed


def _shape_problem(listed: dict[str, tuple], expected: dict[str, tuple[int, ...]]) -> str | None:
    """What differs between a file's tensors ``name -> (shape, dtype)`` and the network's."""
    missing, extra = sorted(set(expected) - set(listed)), sorted(set(listed) - set(expected))
    if missing or extra:
        return f"missing {missing[:3]}, unexpected {extra[:3]}"[:200]
    for k, (shape, dtype) in sorted(listed.items()):
        if shape != expected[k] or dtype != "F32":
            return (
                f"{k[:80]} is {dtype} {list(shape)[:8]}, the network's is F32 {list(expected[k])}"
            )
    return None


#: Bounds of a weights file's config, checked before any network is built (a hostile
#: file must not make us build a huge one): key -> (min, max).
_CONFIG_BOUNDS = {
    "channels": (1, 4),
    "width": (1, 1024),
    "scales": (1, 8),
    "unshuffle": (1, 8),
    "res_blocks": (0, 64),
    "ird_units": (1, 64),
    "fuse_width": (1, 1024),
    "context": (0, 1024),
    "full_res": (0, 256),
    "fourier": (0, 64),
    "fourier_support": (1, 63),
    "fourier_spectral": (0, 64),
}
#: Most parameters a network read from a file may have (80 MB in fp32; the largest
#: variant has under 1 M): bounds what a hostile config can make us allocate.
MAX_PARAMETERS = 20_000_000


def checked_net_config(raw: object) -> NetConfig:
    """A NetConfig from JSON metadata, checked before any network is built.

    Parameters
    ----------
    raw : the config as JSON gives it (a dict of :class:`NetConfig` fields).

    Returns
    -------
    NetConfig
        Every field known, an integer within :data:`_CONFIG_BOUNDS` (``fourier_support``
        odd, ``fourier_spectral`` a multiple of 4, ``ird_reach`` at most 16 dilations in
        1..16), and a network of at most :data:`MAX_PARAMETERS` parameters.

    Raises
    ------
    ValueError
        The first field that is unknown or out of bounds, or too large a network.
    """
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    unknown = set(raw) - set(_CONFIG_BOUNDS) - {"ird_reach"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(map(str, unknown))[:5]}")
    for key, value in raw.items():
        if key == "ird_reach":
            ok = isinstance(value, list) and len(value) <= 16
            ok = ok and all(type(d) is int and 1 <= d <= 16 for d in value)
        else:
            lo, hi = _CONFIG_BOUNDS[key]
            ok = type(value) is int and lo <= value <= hi
            ok = ok and (key != "fourier_support" or value % 2 == 1)
            ok = ok and (key != "fourier_spectral" or value % 4 == 0)
        if not ok:
            raise ValueError(f"{key}={str(value)[:40]} is out of bounds")
    cfg = NetConfig(**raw)
    n = sum(math.prod(s) for s in network_shapes(cfg).values())
    if n > MAX_PARAMETERS:
        raise ValueError(
            f"it describes a network of {n:,} parameters, more than the {MAX_PARAMETERS:,}"
            " a deblur network may have"
        )
    return cfg


@functools.lru_cache(maxsize=16)
def network_shapes(cfg: NetConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of the network of ``cfg``'s state dict, found without
    allocating it (the network is built on PyTorch's ``meta`` device)."""
    with torch.device("meta"):
        model = MultiScaleNet(cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def write_card(weights_path: str | Path, card: dict) -> Path:
    """Write the model card ``NAME.json`` beside ``NAME.safetensors`` (atomically)."""
    card_path = Path(weights_path).with_suffix(".json")
    return atomic_write(card_path, json.dumps(card, indent=2) + "\n")
