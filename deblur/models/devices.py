"""Devices the network can run on (no torch import until a device is resolved)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

from deblur.constants import DEVICES

__all__ = ["DEVICES", "resolve_device"]


def _mps() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(device: str = "auto") -> torch.device:
    """The torch device for a name of :data:`DEVICES`; explicit names are checked.

    Raises
    ------
    ValueError
        Unknown name, or a device that is not available here.
    """
    import torch

    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if device == "mps" and not _mps():
        raise ValueError("device 'mps' requested but MPS is not available")
    return torch.device(device)
