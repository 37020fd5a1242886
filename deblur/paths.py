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

from deblur.errors import OptionError

__all__ = ["first_same_file", "refuse_overwrite", "same_file"]

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


def refuse_overwrite(
    path: PathLike | None,
    inputs: Iterable[PathLike | None],
    outputs: Iterable[PathLike | None] = (),
    *,
    option: str,
) -> None:
    """Refuse (:class:`~deblur.errors.OptionError` about ``option``) to write ``path`` when
    it is one of the ``inputs``, or one of the ``outputs`` another part of the work writes;
    nothing is written. None: nothing to check."""
    if path is None:
        return
    clash = first_same_file(path, inputs)
    if clash is not None:
        same = "" if str(clash) == os.fsdecode(path) else f" (the same file as {clash})"
        raise OptionError(option, f"{path}: is an input file{same}; refusing to overwrite it")
    clash = first_same_file(path, outputs)
    if clash is not None:
        raise OptionError(option, f"{path}: is also an output ({clash}); give another name")
