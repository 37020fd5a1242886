"""The package's error family: everything deblur refuses on purpose is a :class:`DeblurError`.

Callers (and tests) can tell "refused, with a one-line reason" from "crashed": the CLI
prints a ``DeblurError`` as one line and exits non-zero; any other exception is a bug.
Each subclass also derives from the built-in exception it used to be (``ValueError``,
``FileExistsError``), so code that caught those keeps working.
"""

from __future__ import annotations

__all__ = [
    "DatasetError",
    "DeblurError",
    "ImageError",
    "OutputExistsError",
    "PSFError",
    "TrainError",
    "UsageError",
    "WeightsError",
    "one_line",
    "DeblurWarning",
]


class DeblurError(Exception):
    """Base class of every error deblur raises on purpose (one-line message)."""


class DeblurWarning(UserWarning):
    """Issued by :func:`deblur.restore` when it gave back the input instead of a result (the
    result check's note is the message); ``return_report=True`` returns the report instead."""


class PSFError(DeblurError, ValueError):
    """A PSF (array, file, spec or estimate) is invalid, or its estimate failed."""


class ImageError(DeblurError, ValueError):
    """An image file could not be read or written.

    The message is a single line that starts with the file's path, for example
    ``"photo.jpg: not an image (cannot decode)"``.
    """


class OutputExistsError(ImageError, FileExistsError):
    """The output file already exists and ``overwrite`` was not given.

    Both an :class:`ImageError` (hence a ``ValueError``) and a ``FileExistsError``.
    """


class DatasetError(DeblurError, ValueError):
    """A dataset, pair list, photo list or input spec cannot be used (one line naming it)."""


class WeightsError(DeblurError, ValueError):
    """A weights file is missing, unreadable, corrupt, tampered with or mismatched."""


class TrainError(DeblurError, ValueError):
    """Bad training data, configuration or checkpoint (one-line message naming the culprit)."""


class UsageError(DeblurError, ValueError):
    """Options that do not go together or are out of range (the CLI exits with code 2)."""


def one_line(e: BaseException) -> str:
    """An exception as one line: ``FILE: reason`` for OS errors, whitespace collapsed."""
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.filename}: {e.strerror}"
    return " ".join(str(e).split()) or type(e).__name__
