"""Strict JSON: how deblur parses every JSON text it reads.

Training config files (``deblur train --config``), model cards, the model config in a
weights file's metadata and a weights file's header are parsed with :func:`loads`. Python's
``json.loads`` keeps the last of two equal keys in an object without a word, so
``{"steps": 10, "steps": 99999}`` would silently be a run of 99999 steps, and a weights
file whose header names one entry twice would mean what the reader chose; here a repeated
key is a :class:`DuplicateKeyError` (a :class:`~deblur.errors.DeblurError` and a
``ValueError``) naming the key, which the caller puts after the file's name.
"""

from __future__ import annotations

import json
from typing import Any

from deblur.errors import DeblurError

__all__ = ["DuplicateKeyError", "loads"]


class DuplicateKeyError(DeblurError, ValueError):
    """A JSON object names the same key twice (one line naming the key)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's ``(key, value)`` pairs as a dict, refusing a key given twice."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = key if len(key) <= 60 else key[:60] + "..."
                raise DuplicateKeyError(f"the key {shown!r} is given twice in a JSON object")
            seen.add(key)
    return obj


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``, refusing an object (at any depth) that repeats a key.

    Raises
    ------
    DuplicateKeyError
        An object names a key twice.
    json.JSONDecodeError
        Not JSON (a ``ValueError``, as from ``json.loads``); bytes that are not UTF-8,
        UTF-16 or UTF-32 give ``UnicodeDecodeError``, a nesting too deep ``RecursionError``.
    """
    return json.loads(text, object_pairs_hook=_unique_keys)
