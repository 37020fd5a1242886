"""The package's error family: everything deblur refuses on purpose is a :class:`DeblurError`.

Callers (and tests) can tell "refused, with a one-line reason" from "crashed": the CLI
prints a ``DeblurError`` as one line and exits non-zero; any other exception is a bug.
Each subclass also derives from the built-in exception it used to be (``ValueError``,
``FileExistsError``), so code that caught those keeps working.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable

__all__ = [
    "ARG",
    "DatasetError",
    "DeblurError",
    "DeviceError",
    "ImageError",
    "OptionError",
    "OptionTypeError",
    "PSFOptionError",
    "OutputExistsError",
    "PSFError",
    "TrainError",
    "UsageError",
    "WeightsError",
    "concerns_every_file",
    "one_line",
    "DeblurWarning",
]


_PARAMETER = re.compile("\x00([A-Za-z_][A-Za-z0-9_]*)\x00")


class _Parameters:
    """``ARG.max_pixels`` is the parameter ``max_pixels`` marked in a message (see
    :class:`DeblurError`); the marks cannot come from a path or a value (NUL)."""

    def __getattr__(self, name: str) -> str:
        return f"\x00{name}\x00"


ARG = _Parameters()


class DeblurError(Exception):
    """Base class of every error deblur raises on purpose (one-line message).

    A message names the parameters of the call it is about with :data:`ARG`
    (``f"raise it with {ARG.max_pixels}=N"``): ``str(e)`` shows the bare name
    (``max_pixels=N``) and :meth:`render` lets a front end show its own (the command
    line's ``--max-pixels=N``).
    """

    def __str__(self) -> str:
        return self.render()

    @property
    def template(self) -> str:
        """The message as written, parameters still marked (to pass it on in another
        error: ``UsageError(e.template)``)."""
        return super().__str__()

    def render(self, name: Callable[[str], str] | None = None) -> str:
        """The message with each parameter named by ``name(parameter)`` (default: as is)."""
        text = super().__str__()
        return _PARAMETER.sub(lambda m: m.group(1) if name is None else name(m.group(1)), text)


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

    ``option`` is the parameter's name and the message reads ``"OPTION DETAIL"``, such as
    ``"nsr must be > 0, got 0"`` (the command line shows ``"--nsr must be > 0, got 0"``).
    """

    def __init__(self, option: str, detail: str) -> None:
        sep = "" if detail.startswith((":", ",")) else " "
        super().__init__(f"{getattr(ARG, option)}{sep}{detail}")
        self.option = option
        self.detail = detail

    def __reduce__(self):  # picklable (loader workers, process pools)
        return type(self), (self.option, self.detail)


class OptionTypeError(OptionError, TypeError):
    """An argument of the wrong type (a ``TypeError`` as well as an :class:`OptionError`)."""


class PSFOptionError(OptionError, PSFError):
    """The PSF argument cannot be used (both an :class:`OptionError` and a :class:`PSFError`)."""


def one_line(e: BaseException, name: Callable[[str], str] | None = None) -> str:
    """An exception as one line: ``FILE: reason`` for OS errors, whitespace collapsed;
    ``name`` names the parameters a :class:`DeblurError` mentions (see its ``render``)."""
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.filename}: {e.strerror}"
    text = e.render(name) if isinstance(e, DeblurError) else str(e)
    return " ".join(text.split()) or type(e).__name__


_EVERY_FILE_ERRNOS = {getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EROFS") if hasattr(errno, n)}


def concerns_every_file(e: BaseException) -> bool:
    """True for an error no other file of a batch can escape: unusable network weights or
    device, or an output disk that is full or read-only (a batch stops at it)."""
    if isinstance(e, (WeightsError, DeviceError)):
        return True
    return isinstance(e, OSError) and e.errno in _EVERY_FILE_ERRNOS
