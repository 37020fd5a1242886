"""deblur: remove blur from photographs.

The main entry point is :func:`deblur.restore`. The names below are imported lazily,
on first use, so that ``import deblur`` (and ``deblur --help``) stays fast and torch
is loaded only when something needs it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "restore": "deblur.api",
    "richardson_lucy": "deblur.restore.classical",
    "wiener": "deblur.restore.classical",
    "psnr": "deblur.metrics",
    "ssim": "deblur.metrics",
    "load_image": "deblur.io",
    "save_image": "deblur.io",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from deblur.api import restore as restore
    from deblur.io import load_image as load_image
    from deblur.io import save_image as save_image
    from deblur.metrics import psnr as psnr
    from deblur.metrics import ssim as ssim
    from deblur.restore.classical import richardson_lucy as richardson_lucy
    from deblur.restore.classical import wiener as wiener


class _Package(types.ModuleType):
    """The ``deblur`` module, keeping ``deblur.restore`` the function.

    ``deblur.restore`` is both the function exported here and the name of the
    ``deblur/restore/`` subpackage. Importing a submodule makes Python set the
    package attribute ``restore`` to the subpackage; that assignment is ignored so
    ``deblur.restore`` stays the function. Import the subpackage's modules with
    ``from deblur.restore.classical import ...`` (it is always in ``sys.modules``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "restore" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deblur' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
