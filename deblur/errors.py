"""The package's error family: everything deblur refuses on purpose is a :class:`DeblurError`.

Callers (and tests) can tell "refused, with a one-line reason" from "crashed": the CLI
prints a ``DeblurError`` as one line and exits non-zero; any other exception is a bug.
Each subclass also derives from the built-in exception it used to be (``ValueError``),
so code that caught those keeps working.
"""

from __future__ import annotations

__all__ = ["DeblurError", "PSFError"]


class DeblurError(Exception):
    """Base class of every error deblur raises on purpose (one-line message)."""


class PSFError(DeblurError, ValueError):
    """A PSF (array, file, spec or estimate) is invalid, or its estimate failed."""
