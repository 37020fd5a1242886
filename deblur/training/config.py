"""The one description of a training run: :class:`TrainConfig` (frozen, JSON round trip).

Defaults and schemas live here once: each field's type is its annotation and its bounds
(``ge``/``gt``/``le``/``lt``, ``choices``, ``max_len``) are its metadata; the CLI's options
default to these fields and take their bounds from them, every config is checked against
them when it is made (:func:`check_fields`), and ``deblur train --config FILE.json``
reads any subset of them (:func:`read_config_file`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deblur import synth
from deblur.constants import DEVICES
from deblur.errors import TrainError, one_line

__all__ = ["PATH_KEYS", "UNCOMPARED", "TrainConfig", "TrainError", "check_fields",
           "option_bounds", "read_config_file"]  # fmt: skip

_MANY = 10**9  # steps, intervals: far beyond any run, small enough for every counter
_LIST = 10_000  # entries of a list setting (datasets, photo specs)


def _f(default: Any, **schema: Any) -> Any:
    """A dataclass field with its schema (bounds, choices) as metadata."""
    return field(default=default, metadata=schema)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in every checkpoint).

    On ``resume`` only the keys of :data:`UNCOMPARED` may differ from the stored config
    (``steps``, and ``out``, ``device``, ``workers``, ``ckpt_every``, ``log_every``, which do
    not change the result). Keys added after a
    checkpoint was written take their defaults when it is read.

    ``dead_leaves`` and ``smooth`` are shares of the synthetic sharp crops: procedural
    dead-leaves images, and smooth ones (a smaller region of a photo enlarged 2-8x with
    bilinear interpolation: sharp content without fine detail, which a blind network
    otherwise mistakes for blur). ``init`` is a weights file (``.safetensors``) or training
    checkpoint (its EMA weights) that a new run starts from instead of random weights
    (fine-tuning); the optimizer and schedule start afresh. ``data_root`` is the folder
    that the entries of ``.txt`` photo lists in ``sharp``/``val_sharp`` are relative to.

    ``synth_device`` is where synthetic pairs are blurred: ``"cpu"`` (numpy, in the loader
    workers; the pinned stream) or ``"device"`` (the loader draws the same crops, PSFs and
    parameters, the training device blurs and adds noise to the whole batch:
    :mod:`~deblur.training.device_synth`). ``precision`` ``"bf16"`` runs the forward pass
    under bfloat16 autocast and ``channels_last`` keeps the network and its input in the
    channels-last layout; both apply on CUDA only (a CPU run ignores them).

    Raises
    ------
    TrainError
        A field of the wrong type or out of its bounds (named, with what it must be).
    """

    out: str
    datasets: tuple[str, ...] = _f((), max_len=_LIST)
    pairs: tuple[str, ...] = _f((), max_len=_LIST)
    pairs_root: str | None = None
    sharp: tuple[str, ...] = _f((), max_len=_LIST)
    data_root: str | None = None
    skimage_data: bool = False
    dead_leaves: float = _f(0.0, ge=0, le=1)
    smooth: float = _f(0.0, ge=0, le=1)
    val: tuple[str, ...] = _f((), max_len=_LIST)
    val_sharp: tuple[str, ...] = _f((), max_len=_LIST)
    variant: str = "base"
    steps: int = _f(20000, ge=1, le=_MANY)
    batch: int = _f(8, ge=1, le=4096)
    patch: int = _f(128, ge=16, le=4096)
    lr: float = _f(1e-3, gt=0, le=10)
    min_lr: float = _f(1e-5, ge=0, le=10)
    weight_decay: float = _f(1e-4, ge=0, le=10)
    warmup: int = _f(500, ge=0, le=_MANY)
    grad_clip: float = _f(1.0, ge=0, le=1e6)
    ema: float = _f(0.999, ge=0, lt=1)
    scale_loss: float = _f(0.5, ge=0, le=1e3)
    fft_loss: float = _f(0.05, ge=0, le=1e3)
    blur: synth.BlurConfig = field(default_factory=synth.BlurConfig)
    val_patch: int = _f(256, ge=16, le=8192)
    val_every: int = _f(500, ge=1, le=_MANY)
    ckpt_every: int = _f(200, ge=1, le=_MANY)
    log_every: int = _f(50, ge=1, le=_MANY)
    seed: int = _f(0, ge=0, le=2**63 - 1)
    init: str | None = None
    workers: int = _f(1, ge=0, le=256)
    device: str = _f("cpu", choices=DEVICES)
    synth_device: str = _f("cpu", choices=("cpu", "device"))
    precision: str = _f("fp32", choices=("fp32", "bf16"))
    channels_last: bool = False

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in check_fields(type(self), values).items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config of a dict such as :meth:`to_dict` writes (``blur`` may be partial;
        keys added since take their defaults).

        Raises
        ------
        TrainError
            Not a dict, an unknown key, or a value of the wrong type or out of bounds.
        """
        if not isinstance(d, dict):
            raise TrainError("a training config must be an object of settings")
        none = dataclasses.MISSING
        fields = dataclasses.fields(cls)
        required = [f.name for f in fields if f.default is none is f.default_factory]
        required = [name for name in required if name not in d]
        if required:
            raise TrainError(f"missing setting(s) {', '.join(required)}")
        return cls(**check_fields(cls, d, partial=True))


#: Keys that do not change a run's result: free to differ on ``--resume``.
UNCOMPARED = {"out", "steps", "device", "workers", "ckpt_every", "log_every"}
#: Keys of a config file that name files or folders (resolved against the file's folder).
PATH_KEYS = ("out", "datasets", "pairs", "pairs_root", "sharp", "data_root", "val", "val_sharp",
             "init")  # fmt: skip
#: Largest config file read (bytes): settings fit in a few kilobytes.
MAX_CONFIG_BYTES = 1 << 20

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
    cls : a config dataclass (:class:`TrainConfig`, :class:`~deblur.synth.BlurConfig`).
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
        most = meta.get("max_len", _LIST)
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


def option_bounds(name: str, cls: type = TrainConfig) -> dict[str, Any]:
    """The closed bounds of a numeric field as ``typer.Option`` keywords (``min``, ``max``),
    so the CLI refuses what the schema refuses; an open bound (``gt``, ``lt``) is left to
    the config's own check."""
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    return {k: meta[m] for k, m in (("min", "ge"), ("max", "le")) if m in meta}


def read_config_file(path: str | Path) -> dict:
    """The settings of a run's JSON config file, as keyword arguments of :class:`TrainConfig`.

    Parameters
    ----------
    path : a JSON object (at most :data:`MAX_CONFIG_BYTES`) with any fields of
        :class:`TrainConfig` (``blur`` an object with any fields of
        :class:`~deblur.synth.BlurConfig`); ``out`` may be left out. Relative paths are
        relative to the file's folder. Lists become tuples.

    Raises
    ------
    TrainError
        Unreadable or too large a file, not a JSON object, an unknown key, or a value of the
        wrong type or out of bounds (named, with what it must be).
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise TrainError(f"{p}: not a training config (larger than {MAX_CONFIG_BYTES} bytes)")
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TrainError(f"{p}: not a readable JSON config ({one_line(e)[:200]})") from None
    except RecursionError:
        raise TrainError(f"{p}: not a readable JSON config (nested too deeply)") from None
    if not isinstance(data, dict):
        raise TrainError(f"{p}: expected a JSON object of training settings")

    def resolve(v: Any) -> Any:
        if isinstance(v, list):
            return [resolve(x) for x in v]
        if isinstance(v, str) and v and "\0" not in v and not Path(v).is_absolute():
            return os.path.normpath(os.path.join(p.parent, v))
        return v

    data = {k: resolve(v) if k in PATH_KEYS else v for k, v in data.items()}
    try:
        return check_fields(TrainConfig, data, partial=True)
    except TrainError as e:
        raise TrainError(f"{p}: {e}") from None
