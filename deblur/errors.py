"""The package's error family: everything deblur refuses on purpose is a :class:`DeblurError`.

Callers (and tests) can tell "refused, with a one-line reason" from "crashed": the CLI
prints a ``DeblurError`` as one line and exits non-zero; any other exception is a bug.
Each subclass also derives from the built-in exception it used to be (``ValueError``,
``FileExistsError``), so code that caught those keeps working.
"""

from __future__ import annotations

import errno

__all__ = [
    "DatasetError",
    "DeblurError",
    "DeviceError",
    "ImageError",
    "OptionError",
    "OutputExistsError",
    "PSFError",
    "TrainError",
    "UsageError",
    "WeightsError",
    "concerns_every_file",
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


class DeviceError(DeblurError, ValueError):
    """The device asked for is unknown, or not available on this machine."""


class TrainError(DeblurError, ValueError):
    """Bad training data, configuration or checkpoint (one-line message naming the culprit)."""


class UsageError(DeblurError, ValueError):
    """Options that do not go together or are out of range (the CLI exits with code 2)."""


class OptionError(UsageError):
    """One argument of a library call has a bad value, or does not go with the others.

    ``option`` is the parameter's name and the message is ``"OPTION DETAIL"`` (for example
    ``"nsr must be > 0, got 0"``); the command line shows its flag in place of the name
    (``"--nsr must be > 0, got 0"``) from ``option`` and ``detail``.
    """

    def __init__(self, option: str, detail: str) -> None:
        super().__init__(f"{option} {detail}")
        self.option = option
        self.detail = detail

    def __reduce__(self):  # picklable (loader workers, process pools)
        return type(self), (self.option, self.detail)


def one_line(e: BaseException) -> str:
    """An exception as one line: ``FILE: reason`` for OS errors, whitespace collapsed."""
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.filename}: {e.strerror}"
    return " ".join(str(e).split()) or type(e).__name__


_EVERY_FILE_ERRNOS = {getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EROFS") if hasattr(errno, n)}


def concerns_every_file(e: BaseException) -> bool:
    """True for an error no other file of a batch can escape: unusable network weights or
    device, or an output disk that is full or read-only (a batch stops at it)."""
    if isinstance(e, (WeightsError, DeviceError)):
        return True
    return isinstance(e, OSError) and e.errno in _EVERY_FILE_ERRNOS
