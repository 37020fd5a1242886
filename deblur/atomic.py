"""Atomic file writes: the one way the package writes a file.

:func:`atomic_write` puts the bytes in a hidden temporary file in the destination folder
(``.NAME.RANDOM.tmp``), fsyncs it, then moves it onto the destination, so a reader (or a
crash) sees the old file or the new one, never half of one. The new file gets the usual
permissions of a new file (``0666`` less the umask, e.g. ``0644``), not ``mkstemp``'s
``0600``. Without ``overwrite`` an existing destination is never replaced, even one that
appears while writing (a hard link, where the file system has them).
:func:`remove_stale_temporaries` deletes what a killed writer left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from deblur.errors import OutputExistsError

__all__ = ["atomic_write", "remove_stale_temporaries"]


def _fsync_dir(folder: Path) -> None:
    """Best-effort fsync of a folder so a rename is durable (POSIX only)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary(folder: Path, name: str, suffix: str) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = folder / f".{name[:100]}.{secrets.token_hex(6)}.tmp{suffix}"
        try:
            return os.open(tmp, flags, 0o666), tmp  # the umask applies, as for any new file
        except FileExistsError:
            continue
    raise FileExistsError("cannot create a temporary file")


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str | Callable[[BinaryIO], None],
    *,
    overwrite: bool = True,
    keep_suffix: bool = False,
) -> Path:
    """Write ``data`` to ``path`` atomically; parent folders are created.

    Parameters
    ----------
    path : destination file.
    data : the bytes, a text (UTF-8), or a function that writes into a binary file object
        (e.g. ``lambda f: torch.save(obj, f)``).
    overwrite : replace an existing file (default). With False an existing ``path`` raises
        :class:`OutputExistsError` and is left untouched.
    keep_suffix : give the temporary file ``path``'s extension (for writers that look at it).

    Returns
    -------
    ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    OSError
        The folder or file cannot be written; nothing is left behind.
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise OutputExistsError(f"{path}: already exists (use --overwrite to replace it)")
    fd, tmp = _temporary(folder, path.name, path.suffix if keep_suffix else "")
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile: no clobbering
            except FileExistsError:
                raise OutputExistsError(
                    f"{path}: already exists (use --overwrite to replace it)"
                ) from None
            except OSError:  # no hard links on this file system
                if path.exists():
                    raise OutputExistsError(
                        f"{path}: already exists (use --overwrite to replace it)"
                    ) from None
                os.replace(tmp, path)
        _fsync_dir(folder)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path


def remove_stale_temporaries(folder: str | os.PathLike[str], name: str) -> int:
    """Delete the temporary files :func:`atomic_write` left for ``folder/name`` when its
    process was killed mid-write; returns how many were removed. Call it only where no
    other process writes that file at the same time (e.g. at the start of a training run
    that owns its folder)."""
    n = 0
    for p in Path(folder).glob(f".{name[:100]}.*.tmp*"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n
