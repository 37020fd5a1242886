"""The schema of a config dataclass, kept in its fields: check any value against it.

A field's type is its annotation (``bool``, ``int``, ``float``, ``str``, ``X | None``,
``tuple[X, ...]``, a fixed tuple, a nested config dataclass) and its bounds are its metadata
(``ge``/``gt``/``le``/``lt``, ``choices``, ``max_len``, ``ordered``, ``positive_sum``), given
with :func:`schema_field`. :func:`check_fields` checks values of JSON or Python against
them; :class:`~deblur.training.config.TrainConfig` and
:class:`~deblur.synth.BlurConfig` are checked with it whenever they are made or read.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import reprlib
import types
import typing
from dataclasses import field
from typing import Any

from deblur.errors import TrainError

__all__ = ["LIST_MAX", "check_fields", "check_value", "closed_bounds", "schema_field"]

#: Most entries of a list setting (datasets, photo specs) where a field names no ``max_len``.
LIST_MAX = 10_000


def schema_field(default: Any, **schema: Any) -> Any:
    """A dataclass field with its schema (bounds, choices) as metadata.

    Parameters
    ----------
    default : the field's default value.
    **schema : ``ge``, ``gt``, ``le``, ``lt`` (numbers), ``choices`` (a tuple of strings),
        ``max_len`` (list fields), ``ordered``, ``positive_sum`` (fixed tuples).
    """
    return field(default=default, metadata=schema)


def closed_bounds(cls: type, name: str) -> dict[str, Any]:
    """The closed bounds (``ge``, ``le``) of numeric field ``name`` of dataclass ``cls``, as
    ``min``/``max`` keywords; open bounds (``gt``, ``lt``) are left out."""
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    return {k: meta[m] for k, m in (("min", "ge"), ("max", "le")) if m in meta}


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40
_short.maxlevel = 2


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _bounds_text(meta: dict) -> str:
    lo = f"[{meta['ge']}" if "ge" in meta else f"({meta['gt']}" if "gt" in meta else "(-inf"
    hi = f"{meta['le']}]" if "le" in meta else f"{meta['lt']})" if "lt" in meta else "inf)"
    return f" in {lo}, {hi}"


def _in_bounds(v: float, meta: dict) -> bool:
    return (
        ("ge" not in meta or v >= meta["ge"])
        and ("gt" not in meta or v > meta["gt"])
        and ("le" not in meta or v <= meta["le"])
        and ("lt" not in meta or v < meta["lt"])
    )


def _scalar(name: str, hint: Any, value: Any, meta: dict) -> Any:
    """``value`` checked against a scalar type and the field's bounds (TrainError if not)."""
    if hint is bool:
        ok, what = type(value) is bool, "true or false"
    elif hint is int:
        ok = type(value) is int and _in_bounds(value, meta)
        what = "an integer" + _bounds_text(meta)
    elif hint is float:
        ok = type(value) is int or (type(value) is float and math.isfinite(value))
        ok = ok and _in_bounds(value, meta)  # (an int of any size compares exactly)
        what = "a number" + _bounds_text(meta)
    elif hint is str:
        choices = meta.get("choices")
        ok = isinstance(value, str) and "\0" not in value and len(value) <= 4096
        if ok and choices is not None and value not in choices:
            raise TrainError(f"unknown {name} {_short.repr(value)}; choose {' or '.join(choices)}")
        what = f"one of {', '.join(map(repr, choices or ()))}" if choices else "text"
    else:
        raise TypeError(f"{name}: no schema for the type {hint!r}")  # a new kind of field
    if not ok:
        raise TrainError(f"{name!r} must be {what}, got {_short.repr(value)}")
    return value


def check_value(cls: type, name: str, value: Any, prefix: str = "") -> Any:
    """One field's value checked against the schema of dataclass ``cls``.

    Parameters
    ----------
    cls : a config dataclass (:class:`~deblur.training.config.TrainConfig`,
        :class:`~deblur.synth.BlurConfig`).
    name : the field.
    value : its value as JSON or Python gives it: lists are taken for tuples and a dict of
        fields for a nested config.
    prefix : put before the name in messages (``"blur."`` for a nested config's fields).

    Returns
    -------
    The value, lists made tuples and a nested config built.

    Raises
    ------
    TrainError
        An unknown field, a wrong type or a value out of bounds (the message names the field
        and what it must be).
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise TrainError(f"unknown setting {prefix + str(name)!r}")
    hint, meta = _hints(cls)[name], dict(fields[name].metadata)
    name = prefix + name
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            values = {f.name: getattr(value, f.name) for f in dataclasses.fields(hint)}
        elif isinstance(value, dict):
            values = value
        else:
            raise TrainError(f"{name!r} must be an object of {hint.__name__} settings")
        return hint(**check_fields(hint, values, partial=True, prefix=f"{name}."))
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        return None if value is None else _scalar(name, args[0], value, meta)
    if typing.get_origin(hint) is not tuple:
        return _scalar(name, hint, value, meta)
    if not isinstance(value, (list, tuple)):
        raise TrainError(f"{name!r} must be a list, got {_short.repr(value)}")
    value = tuple(value)
    if args[-1] is Ellipsis:
        most = meta.get("max_len", LIST_MAX)
        if len(value) > most:
            raise TrainError(f"{name!r} holds {len(value)} entries, more than {most}")
        return tuple(_scalar(f"{name}[{i}]", args[0], v, meta) for i, v in enumerate(value))
    if len(value) != len(args):
        raise TrainError(f"{name!r} must be a list of {len(args)} values, got {len(value)}")
    value = tuple(_scalar(f"{name}[{i}]", t, v, meta) for i, (t, v) in enumerate(zip(args, value)))
    if meta.get("ordered") and list(value) != sorted(value):
        raise TrainError(f"{name!r} must be [min, max] with min <= max, got {list(value)}")
    if meta.get("positive_sum") and not sum(value) > 0:
        raise TrainError(f"{name!r} must have a positive sum, got {list(value)}")
    return value


def check_fields(cls: type, values: dict, *, partial: bool = False, prefix: str = "") -> dict:
    """Values of fields of dataclass ``cls`` checked against their schemas.

    Parameters
    ----------
    cls : a config dataclass.
    values : field name -> value (see :func:`check_value`); with ``partial`` any subset.
    prefix : put before the names in messages.

    Returns
    -------
    The checked values (lists made tuples, nested configs built).

    Raises
    ------
    TrainError
        An unknown or (without ``partial``) missing field, or a bad value.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(prefix + str(k) for k in values if k not in names)
    if unknown:
        raise TrainError(f"unknown setting(s) {', '.join(map(repr, unknown))[:300]}")
    missing = [prefix + n for n in names if n not in values]
    if missing and not partial:
        raise TrainError(f"missing setting(s) {', '.join(missing)}")
    return {k: check_value(cls, k, v, prefix) for k, v in values.items()}
