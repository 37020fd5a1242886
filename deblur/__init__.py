"""deblur: remove blur from photographs.

The main entry point is :func:`deblur.restore`. The names below are imported lazily,
on first use, so that ``import deblur`` (and ``deblur --help``) stays fast and torch
is loaded only when something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "restore": "deblur.api",
    "check_result": "deblur.restoration.guard",
    "estimate_psf": "deblur.restoration.blind",
    "DeblurError": "deblur.errors",
    "DeblurWarning": "deblur.errors",
    "richardson_lucy": "deblur.restoration.classical",
    "wiener": "deblur.restoration.classical",
    "psnr": "deblur.metrics",
    "ssim": "deblur.metrics",
    "load_image": "deblur.io",
    "save_image": "deblur.io",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from deblur.api import restore as restore
    from deblur.errors import DeblurError as DeblurError
    from deblur.errors import DeblurWarning as DeblurWarning
    from deblur.io import load_image as load_image
    from deblur.io import save_image as save_image
    from deblur.metrics import psnr as psnr
    from deblur.metrics import ssim as ssim
    from deblur.restoration.blind import estimate_psf as estimate_psf
    from deblur.restoration.classical import richardson_lucy as richardson_lucy
    from deblur.restoration.classical import wiener as wiener
    from deblur.restoration.guard import check_result as check_result


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deblur' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
