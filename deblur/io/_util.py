"""Shared helpers of image reading and writing: messages and native-noise silencing."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

import cv2

from deblur.errors import ImageError


def _show(path: str | os.PathLike[str]) -> str:
    """Render a path for a one-line message (control characters escaped)."""
    text = os.fspath(path)
    return text if text.isprintable() else ascii(text)


def _error(path: str | os.PathLike[str], reason: str) -> ImageError:
    return ImageError(f"{_show(path)}: {' '.join(reason.split())}")


def _one_line(exc: BaseException) -> str:
    """The last meaningful line of an exception message (OpenCV's are multi-line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text


_QUIET_LOCK = threading.RLock()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence OpenCV logging and native stderr output (libpng, libjpeg, libtiff) for a while.

    OpenCV's own messages go through its logger, but libpng and libjpeg print straight to the
    C-level stderr, so file descriptor 2 is pointed at the null device for the duration of the
    call. Both are restored afterwards. A lock makes concurrent calls from threads safe with
    respect to each other; output written to stderr by *other* threads during the few
    milliseconds of a decode is lost.
    """
    with _QUIET_LOCK:
        old_level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        saved_fd = devnull_fd = None
        try:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            try:
                saved_fd = os.dup(2)
                devnull_fd = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull_fd, 2)
            except OSError:  # no usable fd 2 (e.g. pythonw): nothing to silence
                if saved_fd is not None:
                    os.close(saved_fd)
                saved_fd = None
            yield
        finally:
            if saved_fd is not None:
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
            if devnull_fd is not None:
                os.close(devnull_fd)
            cv2.utils.logging.setLogLevel(old_level)
