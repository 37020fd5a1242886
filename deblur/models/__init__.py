"""Network variants, devices and the cached model loader (the weights format is in
:mod:`deblur.models.weights`)."""

from __future__ import annotations

import functools
from pathlib import Path

from deblur.errors import WeightsError
from deblur.models.devices import DEVICES, resolve_device
from deblur.models.net import MultiScaleNet, NetConfig
from deblur.models.weights import (
    DEFAULT_VARIANT,
    WEIGHTS_DIR,
    default_weights_path,
    load_weights,
    save_weights,
)

__all__ = [
    "DEVICES",
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
    # ``base`` with the image-dependent Fourier inverse (issue 18; trained from scratch)
    "base-fourier": NetConfig(width=48, res_blocks=4, ird_units=3, fourier=16),
    "base-fourier-spec": NetConfig(
        width=48, res_blocks=4, ird_units=3, fourier=16, fourier_spectral=32
    ),
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


def build_model(variant: str | NetConfig = DEFAULT_VARIANT) -> MultiScaleNet:
    """A freshly initialised network of a named variant (or an explicit config)."""
    if isinstance(variant, NetConfig):
        return MultiScaleNet(variant)
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return MultiScaleNet(VARIANTS[variant])


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
