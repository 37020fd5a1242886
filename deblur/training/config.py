"""The one description of a training run: :class:`TrainConfig` (frozen, JSON round trip).

Defaults and schemas live here once: each field's type is its annotation and its bounds
(``ge``/``gt``/``le``/``lt``, ``choices``, ``max_len``) are its metadata
(:mod:`~deblur.training.fields`); the CLI's options default to these fields and take their
bounds from them, every config is checked against them when it is made
(:func:`check_fields`), ``deblur train --config FILE.json`` reads any subset of them
(:func:`read_config_file`), :func:`merge_settings` lays given options over such a file, and
:func:`check_run` checks what the schema alone cannot (the variant, the processes).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deblur import synth
from deblur.constants import DEVICES
from deblur.errors import TrainError, one_line
from deblur.training.fields import LIST_MAX as _LIST
from deblur.training.fields import check_fields, closed_bounds
from deblur.training.fields import schema_field as _f

__all__ = [
    "BLUR_OPTIONS",
    "DIST_TIMEOUT_S",
    "PATH_KEYS",
    "PRECISIONS",
    "SYNTH_DEVICES",
    "UNCOMPARED",
    "TrainConfig",
    "TrainError",
    "check_fields",
    "check_run",
    "merge_settings",
    "option_bounds",
    "read_config_file",
]

_MANY = 10**9  # steps, intervals: far beyond any run, small enough for every counter
#: Values of ``TrainConfig.synth_device``.
SYNTH_DEVICES = ("cpu", "device")
#: Values of ``TrainConfig.precision`` (``bf16`` applies on CUDA only).
PRECISIONS = ("fp32", "bf16")
#: Seconds the processes of a ``torchrun`` run wait for each other before giving up.
DIST_TIMEOUT_S = 1800.0


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
    channels-last layout; both apply on CUDA only (a CPU run ignores them). ``device``
    ``"auto"`` trains on a GPU where there is one (CUDA, else MPS), else on the CPU.

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
    device: str = _f("auto", choices=DEVICES)
    synth_device: str = _f("cpu", choices=SYNTH_DEVICES)
    precision: str = _f("fp32", choices=PRECISIONS)
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
PATH_KEYS = (
    "out",
    "datasets",
    "pairs",
    "pairs_root",
    "sharp",
    "data_root",
    "val",
    "val_sharp",
    "init",
)
#: Largest config file read (bytes): settings fit in a few kilobytes.
MAX_CONFIG_BYTES = 1 << 20


def option_bounds(name: str, cls: type | None = None) -> dict[str, Any]:
    """The closed bounds of a numeric field as ``typer.Option`` keywords (``min``, ``max``),
    so the CLI refuses what the schema refuses; an open bound (``gt``, ``lt``) is left to
    the config's own check.

    Parameters
    ----------
    name : a numeric field of ``cls``.
    cls : :class:`TrainConfig` (the default) or :class:`~deblur.synth.BlurConfig`.
    """
    return closed_bounds(TrainConfig if cls is None else cls, name)


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
        wrong type or out of bounds (named, with what it must be), or a key given twice.
    """
    from deblur.io.jsonfile import DuplicateKeyError, loads  # not at import: it loads cv2

    p = Path(path)
    try:
        with open(p, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise TrainError(f"{p}: not a training config (larger than {MAX_CONFIG_BYTES} bytes)")
        data = loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, DuplicateKeyError) as e:
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


#: ``deblur train`` options that set a field of ``blur`` (:class:`~deblur.synth.BlurConfig`):
#: option -> field. ``max_shake`` and ``max_noise`` set the upper end of their range (the
#: lower end is the default's).
BLUR_OPTIONS = {
    "max_shake": "shake_size",
    "max_noise": "noise",
    "p_linear": "p_linear",
    "p_sharp": "p_sharp",
}


def merge_settings(
    given: Mapping[str, Any], file_settings: Mapping[str, Any] | None = None
) -> dict:
    """The settings of a run: options given on the command line over a config file's.

    Parameters
    ----------
    given : the options given explicitly, by field name of :class:`TrainConfig` (lists
        for tuples, text for paths) or by a name of :data:`BLUR_OPTIONS`; options left at
        their defaults are left out, so that the file's settings, and then the fields'
        defaults, apply to them.
    file_settings : what :func:`read_config_file` returned, or None.

    Returns
    -------
    Keyword arguments of :class:`TrainConfig`, checked against its schema; ``out`` may be
    missing (neither given nor in the file).

    Raises
    ------
    TrainError
        An unknown setting, or a value of the wrong type or out of bounds.
    """
    settings = dict(file_settings or {})
    settings.update({k: v for k, v in given.items() if k not in BLUR_OPTIONS})
    blur = {BLUR_OPTIONS[k]: v for k, v in given.items() if k in BLUR_OPTIONS}
    if blur:
        default = synth.BlurConfig()
        for name in ("shake_size", "noise"):  # options of a range's upper end
            if name in blur:
                blur[name] = (getattr(default, name)[0], blur[name])
        base = settings.get("blur", default)
        if isinstance(base, Mapping):
            base = check_fields(TrainConfig, {"blur": base})["blur"]
        settings["blur"] = dataclasses.replace(base, **blur)
    return check_fields(TrainConfig, settings, partial=True)


def check_run(cfg: TrainConfig, world: int = 1) -> None:
    """Check what the schema alone cannot: the variant, the batch and patch it allows, and
    that some training data is named.

    Parameters
    ----------
    cfg : the run's config.
    world : the number of processes that share every batch (``torchrun``'s world size).

    Raises
    ------
    TrainError
        An unknown variant, a batch that does not split evenly over ``world``, a patch that
        is not a multiple of the variant's, or no training data.
    """
    from deblur.models import VARIANTS

    if cfg.variant not in VARIANTS:
        raise TrainError(f"unknown variant {cfg.variant!r}; choose one of {', '.join(VARIANTS)}")
    if cfg.batch % world:
        raise TrainError(f"--batch {cfg.batch} is not a multiple of the {world} processes")
    m = VARIANTS[cfg.variant].multiple
    if cfg.patch % m:
        raise TrainError(f"--patch {cfg.patch} must be a multiple of {m} for this variant")
    if not (cfg.datasets or cfg.pairs or cfg.sharp or cfg.skimage_data or cfg.dead_leaves > 0):
        raise TrainError("no training data: give DATASET, --pairs, --sharp or --dead-leaves")
