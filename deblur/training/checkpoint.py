"""Training checkpoints: a format that loads without running code, resume and ``--init``.

A checkpoint is a ``torch.save`` file of tensors and plain Python values only (numbers,
strings, lists, dicts; the random-number states are stored as tensors), read with
``torch.load(..., weights_only=True)``: a hostile file can fail to load but never execute
anything. Checkpoints of earlier versions pickled numpy objects; they are read only by
:func:`convert_checkpoint` with ``trust=True`` (``deblur convert-checkpoint OLD NEW
--trust``), once, so a run in progress can move to this format.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deblur.atomic import atomic_write
from deblur.errors import TrainError, one_line
from deblur.training.config import UNCOMPARED, TrainConfig
from deblur.training.schema import checkpoint_problem, rng_problem

__all__ = [
    "FORMAT",
    "config_diff",
    "convert_checkpoint",
    "get_rng_state",
    "init_state",
    "load_checkpoint",
    "restore_training",
    "save_checkpoint",
    "set_rng_state",
]

FORMAT = "deblur-checkpoint-v2"
_CONVERT = "if you trust the file, convert it once: deblur convert-checkpoint OLD NEW --trust"


#: The fields of numpy's legacy global state (``np.random.get_state()``), in its order.
_NUMPY_FIELDS = ("name", "keys", "pos", "has_gauss", "cached_gaussian")


def _numpy_record(np_state: tuple) -> dict:
    """numpy's state tuple as the checkpoint stores it (keys as an int64 tensor)."""
    name, keys, pos, has_gauss, cached = np_state
    keys = torch.from_numpy(np.asarray(keys, np.int64))
    return dict(zip(_NUMPY_FIELDS, (name, keys, int(pos), int(has_gauss), float(cached))))


def _numpy_tuple(record: dict) -> tuple:
    """What :func:`_numpy_record` stored, as ``np.random.set_state`` takes it."""
    values = [record[k] for k in _NUMPY_FIELDS]
    values[1] = values[1].numpy().astype(np.uint32)
    return tuple(values)


def _python_record(py_state: tuple) -> dict:
    """``random.getstate()`` as the checkpoint stores it (the words as an int64 tensor)."""
    version, words, gauss_next = py_state
    words = torch.tensor(words, dtype=torch.int64)
    return {"version": version, "state": words, "gauss_next": gauss_next}


def _python_tuple(record: dict) -> tuple:
    """What :func:`_python_record` stored, as ``random.setstate`` takes it."""
    words = tuple(int(v) for v in record["state"].tolist())
    return (record["version"], words, record["gauss_next"])


def get_rng_state() -> dict:
    """The torch, numpy and Python global random states, as tensors and plain values."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_record(np.random.get_state()),  # noqa: NPY002
        "python": _python_record(random.getstate()),
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned.

    Raises
    ------
    TrainError
        The states are damaged (wrong keys, types or sizes); nothing is changed then.
    """
    problem = rng_problem(state)
    if problem:
        raise TrainError(f"the checkpoint's random-number states are damaged ({problem})")
    try:
        np_state, py_state = _numpy_tuple(state["numpy"]), _python_tuple(state["python"])
        saved = get_rng_state()
        torch.set_rng_state(state["torch"])
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as e:
        with contextlib.suppress(Exception):
            _restore_quietly(saved)  # type: ignore[possibly-undefined]
        raise TrainError(
            f"the checkpoint's random-number states are damaged ({one_line(e)[:160]})"
        ) from None


def _restore_quietly(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(_numpy_tuple(state["numpy"]))  # noqa: NPY002
    random.setstate(_python_tuple(state["python"]))


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write a checkpoint dict (tensors and plain values) atomically, with the format tag."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    return atomic_write(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    """Read a training checkpoint on the CPU, without unpickling anything but tensors.

    What it returns has passed :func:`~deblur.training.schema.checkpoint_problem`: every
    entry of the right type and range, and the model, EMA, optimizer and schedule states
    those of the network its ``net_config`` describes (a bounded one).

    Raises
    ------
    TrainError
        Missing or unreadable file, not a checkpoint, one of an earlier version (the
        message says how to convert it), or a damaged one (the message names the entry).
    """
    p = Path(path)
    try:
        is_file = p.is_file()
    except (OSError, ValueError):
        is_file = False
    if not is_file:
        raise TrainError(f"{p}: not a readable checkpoint (file not found)")
    problem = _archive_problem(p)
    if problem:
        raise TrainError(f"{p}: not a readable checkpoint ({problem})")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever the bytes, one line and no code run
        text = one_line(e)
        if "weights_only" in text or "Unsupported global" in text:
            raise TrainError(
                f"{p}: holds Python objects that only unpickling can read (a checkpoint of an"
                f" earlier deblur, or not ours); {_CONVERT}"
            ) from None
        raise TrainError(f"{p}: not a readable checkpoint ({text[:200]})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise TrainError(f"{p}: not a deblur training checkpoint (no {FORMAT} tag)")
    problem = checkpoint_problem(ck)
    if problem:
        raise TrainError(f"{p}: damaged deblur training checkpoint ({problem})")
    return ck


#: What ``zipfile`` raises on a file that is not a sound zip archive.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    ValueError,
    EOFError,
    KeyError,
    OverflowError,
    NotImplementedError,
    struct.error,
)


def _archive_problem(p: Path) -> str | None:
    """Why ``p`` is not an archive as ``torch.save`` writes it (a zip of stored entries, no
    larger than the file), or None. Compressed entries could expand without bound, and the
    legacy non-zip format reads storage sizes from the file itself, so both are refused
    before torch reads anything: memory stays bounded by the file's size."""
    try:
        size = p.stat().st_size
        with zipfile.ZipFile(p) as z:
            entries = z.infolist()
    except _ZIP_ERRORS as e:
        return f"not a zip archive as torch.save writes: {one_line(e)[:120]}"
    for info in entries:
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
            return f"entry {info.filename[:60]!r} is compressed or larger than the file"
    if sum(info.file_size for info in entries) > size:
        return "its entries are larger than the file"
    return None


def convert_checkpoint(old: str | Path, new: str | Path, *, trust: bool = False) -> Path:
    """Rewrite a checkpoint of an earlier version (pickled) in the current safe format.

    Reading the old file unpickles it, which can run code: ``trust=True`` says the caller
    trusts the file. ``new`` must not exist. Returns ``new``.

    Raises
    ------
    TrainError
        ``trust`` not given, ``new`` exists, or ``old`` is not a deblur checkpoint.
    """
    old, new = Path(old), Path(new)
    if not trust:
        raise TrainError(
            f"{old}: converting unpickles the file, which can run code; pass --trust if you"
            " trust it"
        )
    if new.exists():
        raise TrainError(f"{new}: already exists")
    try:
        ck = torch.load(old, map_location="cpu", weights_only=False)
        rng = ck["rng"]
        if isinstance(rng["numpy"], tuple):
            rng["numpy"] = _numpy_record(rng["numpy"])
        if isinstance(rng["python"], tuple):
            rng["python"] = _python_record(rng["python"])
        ck.pop("format", None)
    except TrainError:
        raise
    except Exception as e:  # noqa: BLE001
        raise TrainError(f"{old}: not a deblur training checkpoint ({one_line(e)})") from None
    save_checkpoint(ck, new)
    try:
        load_checkpoint(new)  # what was written must load safely
    except TrainError as e:
        new.unlink(missing_ok=True)
        why = str(e).removeprefix(f"{new}: ")
        raise TrainError(
            f"{old}: holds objects the safe format cannot store, or is incomplete ({why})"
        ) from None
    return new


def config_diff(stored: dict, new: dict) -> list[str]:
    """Keys whose values differ between a stored config and a new one (results only)."""
    stored = TrainConfig.from_dict(stored).to_dict()  # keys added since take their defaults
    keys = (set(stored) | set(new)) - UNCOMPARED
    return sorted(k for k in keys if stored.get(k) != new.get(k))


def _card_training(weights: Path) -> dict | None:
    """The ``training`` record of the model card beside a weights file (None without a card).

    Raises
    ------
    TrainError
        The card is unreadable, too large, not a JSON object (or one that repeats a key) or
        its record not an object.
    """
    from deblur.io.jsonfile import loads

    card = weights.with_suffix(".json")
    if not card.is_file():
        return None
    try:
        with open(card, "rb") as fh:
            raw = fh.read((1 << 20) + 1)
        data = loads(raw.decode("utf-8")) if len(raw) <= 1 << 20 else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise TrainError(f"{card}: not a readable model card ({one_line(e)[:160]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("training"), (dict, type(None))):
        raise TrainError(
            f"{card}: not a model card (expected a JSON object of at most 1 MB whose"
            " 'training' is an object); fix or remove it"
        )
    return data.get("training")


def init_state(path: str, model: nn.Module) -> tuple[dict[str, torch.Tensor], dict]:
    """Weights to start from (a ``.safetensors`` file or a checkpoint's EMA weights) and
    their provenance.

    Parameters
    ----------
    path : a weights file (its model card ``NAME.json`` is read if present) or a training
        checkpoint.
    model : the network of the new run; the weights must be of the same network, but for
        the optional parts it adds (these keep their fresh initialisation).

    Returns
    -------
    state : a state dict for ``model``.
    provenance : the file, its SHA-256 and the training it records (the card's ``training``
        for weights; step and wall time for a checkpoint).

    Raises
    ------
    TrainError
        A bad weights file, card or checkpoint, or weights of another network.
    """
    from deblur.models import OPTIONAL_PARTS, WeightsError, load_weights

    p = Path(path)
    if p.suffix == ".safetensors":
        try:
            src = load_weights(p)
        except WeightsError as e:
            raise TrainError(str(e)) from None
        net_config, state = src.cfg.to_dict(), src.state_dict()
        training = _card_training(p)
    else:
        ck = load_checkpoint(p)  # checked: the weights are those of its net_config
        net_config, state = ck["net_config"], ck["ema"] or ck["model"]
        training = {"steps": ck["step"], "wall_s": round(ck["wall_s"], 1)}
    mine = model.cfg.to_dict()
    core = {k: v for k, v in mine.items() if k not in OPTIONAL_PARTS}
    theirs = {k: v for k, v in net_config.items() if k not in OPTIONAL_PARTS}
    added = [k for k in OPTIONAL_PARTS if k in mine and k not in net_config]
    if core != theirs or any(
        net_config.get(k) != mine.get(k) for k in net_config if k in mine and k in OPTIONAL_PARTS
    ):
        raise TrainError(f"{path}: --init weights are of another network than this --variant")
    # parts this variant adds start as the identity: keep their fresh initialisation
    prefixes = tuple(OPTIONAL_PARTS[k] for k in added)
    fresh = {k: v for k, v in model.state_dict().items() if k.startswith(prefixes)}
    state = {**dict(state), **fresh} if prefixes else state
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    return state, {"weights": str(path), "sha256": sha, "training": training}


def restore_training(
    ck: dict, path: str | Path, model: nn.Module, opt: torch.optim.Optimizer, sched, *, ema: bool
) -> None:
    """Load a checkpoint's model, optimizer and schedule states into a resumed run's.

    Parameters
    ----------
    ck : what :func:`load_checkpoint` returned (checked against its own ``net_config``).
    path : the checkpoint, for messages.
    model, opt, sched : the run's network (of its ``--variant``), AdamW and LambdaLR.
    ema : whether the run keeps an EMA (the checkpoint must then hold one).

    Raises
    ------
    TrainError
        The checkpoint is of another network than ``model``, holds another number of
        parameter groups, lacks the EMA, or does not load (nothing useful is left then:
        the run must not go on).
    """
    if ck["net_config"] != model.cfg.to_dict():
        raise TrainError(f"{path}: the checkpoint is of another network than its --variant")
    if len(ck["optimizer"]["param_groups"]) != len(opt.param_groups):
        raise TrainError(f"{path}: damaged deblur training checkpoint (bad 'optimizer' groups)")
    if ema and ck["ema"] is None:
        raise TrainError(f"{path}: damaged deblur training checkpoint (no EMA weights)")
    try:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(dict(ck["scheduler"]))
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        raise TrainError(
            f"{path}: damaged deblur training checkpoint ({one_line(e)[:160]})"
        ) from None
