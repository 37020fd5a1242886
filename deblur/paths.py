"""Is this output one of the inputs? The check every writer of a report or a result makes
before it writes, so that an input file is never replaced.

Two paths name one file when they resolve to the same path (symbolic links followed,
``..`` removed) or, for files that exist, when the operating system says they are the same
file (:func:`os.path.samefile`: the same device and inode, so hard links count).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["first_same_file", "same_file"]

PathLike = str | os.PathLike[str]


def _resolved(path: PathLike) -> Path | None:
    try:
        return Path(os.fsdecode(path)).resolve()
    except (OSError, RuntimeError, ValueError):  # RuntimeError: a symbolic-link loop
        return None


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when ``a`` and ``b`` name one file (see the module's note)."""
    ra, rb = _resolved(a), _resolved(b)
    if ra is not None and ra == rb:
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (or cannot be looked at)
        return False


def first_same_file(path: PathLike, others: Iterable[PathLike | None]) -> Path | None:
    """The first of ``others`` (None entries skipped) that is the same file as ``path``."""
    for other in others:
        if other is not None and same_file(path, other):
            return Path(os.fsdecode(other))
    return None
