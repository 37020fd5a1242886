"""The one description of a training run: :class:`TrainConfig` (frozen, JSON round trip).

Defaults live here once: the CLI's options default to these fields, and ``deblur train
--config FILE.json`` reads any subset of them (:func:`read_config_file`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from deblur import synth
from deblur.errors import TrainError, one_line

__all__ = ["PATH_KEYS", "UNCOMPARED", "TrainConfig", "TrainError", "read_config_file"]


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
    """

    out: str
    datasets: tuple[str, ...] = ()
    pairs: tuple[str, ...] = ()
    pairs_root: str | None = None
    sharp: tuple[str, ...] = ()
    data_root: str | None = None
    skimage_data: bool = False
    dead_leaves: float = 0.0
    smooth: float = 0.0
    val: tuple[str, ...] = ()
    val_sharp: tuple[str, ...] = ()
    variant: str = "base"
    steps: int = 20000
    batch: int = 8
    patch: int = 128
    lr: float = 1e-3
    min_lr: float = 1e-5
    weight_decay: float = 1e-4
    warmup: int = 500
    grad_clip: float = 1.0
    ema: float = 0.999
    scale_loss: float = 0.5
    fft_loss: float = 0.05
    blur: synth.BlurConfig = field(default_factory=synth.BlurConfig)
    val_patch: int = 256
    val_every: int = 500
    ckpt_every: int = 200
    log_every: int = 50
    seed: int = 0
    init: str | None = None
    workers: int = 1
    device: str = "cpu"
    synth_device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config of a dict such as :meth:`to_dict` writes (``blur`` may be partial)."""
        d = dict(d)
        blur = synth.BlurConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("blur", {}).items()}
        )
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(blur=blur, **d)


#: Keys that do not change a run's result: free to differ on ``--resume``.
UNCOMPARED = {"out", "steps", "device", "workers", "ckpt_every", "log_every"}
#: Keys of a config file that name files or folders (resolved against the file's folder).
PATH_KEYS = ("out", "datasets", "pairs", "pairs_root", "sharp", "data_root", "val", "val_sharp",
             "init")  # fmt: skip


def read_config_file(path: str | Path) -> dict:
    """The settings of a run's JSON config file, as keyword arguments of :class:`TrainConfig`.

    Parameters
    ----------
    path : a JSON object with any fields of :class:`TrainConfig` (``blur`` an object with any
        fields of :class:`~deblur.synth.BlurConfig`); ``out`` may be left out. Relative
        paths are relative to the file's folder. Lists become tuples.

    Raises
    ------
    TrainError
        Unreadable file, not a JSON object, or an unknown key (named, with the known ones).
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TrainError(f"{p}: not a readable JSON config ({one_line(e)})") from None
    if not isinstance(data, dict):
        raise TrainError(f"{p}: expected a JSON object of training settings")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    blur_known = {f.name for f in dataclasses.fields(synth.BlurConfig)}
    unknown = sorted(set(data) - known) + [
        f"blur.{k}" for k in sorted(set(data.get("blur") or {}) - blur_known)
    ]
    if unknown:
        raise TrainError(f"{p}: unknown setting(s) {', '.join(unknown)}")

    def resolve(v):
        if isinstance(v, list):
            return tuple(resolve(x) for x in v)
        if isinstance(v, str) and not Path(v).is_absolute():
            return os.path.normpath(os.path.join(p.parent, v))
        return v

    out = {k: resolve(v) if k in PATH_KEYS else v for k, v in data.items()}
    out = {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}
    if "blur" in out:
        b = out["blur"] or {}
        if not isinstance(b, dict):
            raise TrainError(f"{p}: 'blur' must be an object of blur settings")
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in b.items()}
        out["blur"] = dataclasses.replace(synth.BlurConfig(), **fields)
    return out
