"""The schema of a training checkpoint, checked before any of it is used.

:func:`checkpoint_problem` checks what :func:`~deblur.training.checkpoint.load_checkpoint`
returns to resuming, ``--init`` and export: every entry's type and range, the run's config
against :class:`~deblur.training.config.TrainConfig`'s schema, the network config against
the weights format's bounds (:func:`~deblur.models.weights.checked_net_config`: a bounded
network), the model and EMA tensors (names, shapes, finite values) against the network that
config describes (built on the ``meta`` device: nothing allocated), and the optimizer
(AdamW) and schedule (LambdaLR) states against the same parameters.
"""

from __future__ import annotations

import functools
import json
import math

import torch

from deblur.errors import TrainError, one_line
from deblur.training.config import TrainConfig

__all__ = ["checkpoint_problem", "parameter_shapes", "rng_problem"]

_MAX_STEP = 10**9


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v: object) -> bool:
    return _is_int(v) or (isinstance(v, float) and math.isfinite(v))


def _tensor_of(v: object, dtype: torch.dtype, shape: tuple[int, ...]) -> bool:
    return isinstance(v, torch.Tensor) and v.dtype == dtype and tuple(v.shape) == shape


def _fields_ok(d: object, fields: dict) -> bool:
    """``d`` is a dict whose entry of each field passes its check (a missing one is None)."""
    return isinstance(d, dict) and all(ok(d.get(k)) for k, ok in fields.items())


#: ``get_rng_state``'s numpy and Python states: field -> check.
_NUMPY_STATE = {
    "name": lambda v: v == "MT19937",
    "keys": lambda v: _tensor_of(v, torch.int64, (624,)),
    "pos": lambda v: _is_int(v) and 0 <= v <= 624,
    "has_gauss": _is_int,
    "cached_gaussian": _is_number,
}
_PYTHON_STATE = {
    "version": _is_int,
    "state": lambda v: _tensor_of(v, torch.int64, (625,)),
    "gauss_next": lambda v: v is None or _is_number(v),
}


def rng_problem(state: object) -> str | None:
    """What is wrong with a stored random state (``get_rng_state``'s layout), or None."""
    if not isinstance(state, dict):
        return "not a dict"
    if not _tensor_of(state.get("torch"), torch.uint8, tuple(torch.get_rng_state().shape)):
        return "torch: expected the uint8 tensor of torch.get_rng_state()"
    n = state.get("numpy")
    if not _fields_ok(n, _NUMPY_STATE):
        return "numpy: expected MT19937 with 624 keys"
    if not bool(((n["keys"] >= 0) & (n["keys"] < 2**32)).all()):
        return "numpy: keys out of range"
    if not _fields_ok(state.get("python"), _PYTHON_STATE):
        return "python: expected version, 625 words and gauss_next"
    return None


@functools.lru_cache(maxsize=16)
def parameter_shapes(net_config: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``(name, shape)`` of each parameter of the network of a JSON network config, in the
    order the optimizer numbers them; built on the ``meta`` device (nothing allocated).

    Raises
    ------
    ValueError
        The config is out of the weights format's bounds (too large a network included).
    """
    from deblur.models.net import MultiScaleNet
    from deblur.models.weights import checked_net_config

    cfg = checked_net_config(json.loads(net_config))
    with torch.device("meta"):
        model = MultiScaleNet(cfg)
    return tuple((k, tuple(p.shape)) for k, p in model.named_parameters())


def _weights_problem(state: object, shapes: dict[str, tuple[int, ...]]) -> str | None:
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        return "not a dict of tensors"
    missing, extra = sorted(set(shapes) - set(state)), sorted(set(state) - set(shapes))
    if missing or extra:
        return f"missing {missing[:3]}, unexpected {[k[:60] for k in extra[:3]]}"
    for k, t in state.items():
        if not (isinstance(t, torch.Tensor) and t.dtype == torch.float32):
            return f"{k}: not a float32 tensor"
        if tuple(t.shape) != shapes[k]:
            return f"{k}: shape {list(t.shape)[:8]}, the network's is {list(shapes[k])}"
        if not bool(torch.isfinite(t).all()):
            return f"{k}: not finite"
    return None


def _betas_ok(v: object) -> bool:
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        return False
    return all(_finite(b) and 0 <= b < 1 for b in v)


#: An AdamW parameter group: field -> check; its other entries must be plain values.
_ADAMW_GROUP = {
    "params": lambda v: isinstance(v, list),
    "lr": lambda v: _finite(v) and v >= 0,
    "eps": lambda v: _finite(v) and v > 0,
    "weight_decay": _finite,
    "betas": _betas_ok,
}
_ADAMW_LISTS = ("params", "betas")


def _is_plain(v: object) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _float_tensor_of(t: object, shape: tuple[int, ...]) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point() and tuple(t.shape) == shape


def _optimizer_problem(opt: object, shapes: list[tuple[int, ...]]) -> str | None:
    """AdamW's state dict: groups numbering every parameter once, per-parameter moments of
    the parameter's shape and a step count."""
    if not (isinstance(opt, dict) and set(opt) == {"state", "param_groups"}):
        return "expected 'state' and 'param_groups'"
    groups, state = opt["param_groups"], opt["state"]
    if not (isinstance(groups, list) and groups and all(isinstance(g, dict) for g in groups)):
        return "param_groups: expected a list of groups"
    numbered: list[object] = []
    for g in groups:
        if not _fields_ok(g, _ADAMW_GROUP):
            return "param_groups: a group lacks params, lr, betas, eps or weight_decay"
        if not all(_is_plain(v) for k, v in g.items() if k not in _ADAMW_LISTS):
            return "param_groups: a group holds values that are not numbers"
        numbered += g["params"]
    if not (all(map(_is_int, numbered)) and sorted(numbered) == list(range(len(shapes)))):  # type: ignore[type-var]
        return f"param_groups: expected the parameters 0..{len(shapes) - 1} once each"
    if not isinstance(state, dict):
        return "state: not a dict"
    for i, s in state.items():
        if not (_is_int(i) and 0 <= i < len(shapes) and isinstance(s, dict)):
            return f"state: entry {str(i)[:20]} is not a parameter's"
        step = s.get("step")
        if isinstance(step, torch.Tensor):
            step = float(step) if step.numel() == 1 and step.is_floating_point() else None
        if not (_finite(step) and 0 <= step <= _MAX_STEP):  # type: ignore[operator]
            return f"state {i}: no step count"
        for k, t in s.items():
            if k == "step":
                continue
            if not _float_tensor_of(t, shapes[i]):
                return f"state {i}: {str(k)[:20]} is not a tensor of the parameter's shape"
        if not {"exp_avg", "exp_avg_sq"} <= set(s):
            return f"state {i}: no exp_avg and exp_avg_sq"
    return None


#: The keys of LambdaLR's state dict (torch 2.x); ``load_state_dict`` sets each as an
#: attribute of the scheduler, so no other key is let in.
_LAMBDA_LR_KEYS = {
    "base_lrs",
    "last_epoch",
    "verbose",
    "_step_count",
    "_get_lr_called_within_step",
    "_last_lr",
    "lr_lambdas",
    "_is_initial",
}


def _scheduler_problem(sched: object, groups: int) -> str | None:
    """LambdaLR's state dict as this torch writes it (its lambdas are not stored: None)."""
    if not isinstance(sched, dict):
        return "not a dict"
    extra = set(sched) - _LAMBDA_LR_KEYS
    if extra:
        return f"unexpected keys {sorted(map(str, extra))[:3]}"
    for key in ("base_lrs", "last_epoch", "_step_count", "lr_lambdas"):
        if key not in sched:
            return f"no {key!r}"
    for key in ("base_lrs", "_last_lr"):
        v = sched.get(key, [1.0] * groups)
        if not (isinstance(v, list) and len(v) == groups and all(_finite(x) for x in v)):
            return f"{key}: expected {groups} learning rate(s)"
    lambdas = sched["lr_lambdas"]
    if not (
        isinstance(lambdas, list) and len(lambdas) == groups and all(f is None for f in lambdas)
    ):
        return f"lr_lambdas: expected {groups} None (lambdas are not stored)"
    for key in ("last_epoch", "_step_count"):
        if not (_is_int(sched[key]) and -1 <= sched[key] <= _MAX_STEP):
            return f"{key}: not a step count"
    for key, v in sched.items():
        if key not in ("base_lrs", "_last_lr", "lr_lambdas", "last_epoch", "_step_count"):
            if not (v is None or isinstance(v, (bool, int, float))):
                return f"{key}: not a plain value"
    return None


def _plain_json(v: object, limit: int = 1 << 20) -> bool:
    try:
        return len(json.dumps(v, allow_nan=False)) <= limit
    except (TypeError, ValueError, RecursionError):
        return False


def _is_scores(v: object) -> bool:
    """Validation scores: names and numbers."""
    return isinstance(v, dict) and all(isinstance(k, str) and _is_number(x) for k, x in v.items())


def checkpoint_problem(ck: dict) -> str | None:
    """What is wrong with a loaded checkpoint dict, or None (see the module docstring).

    Parameters
    ----------
    ck : the dict ``torch.load`` gave (tensors and plain values).

    Returns
    -------
    A short reason naming the entry (``"bad 'model': fuse.2.weight: shape ..."``), or None.
    """
    checks = {
        "step": lambda v: _is_int(v) and 0 <= v <= _MAX_STEP,
        "best_psnr": lambda v: _is_number(v) and v == v,  # -inf before any validation
        "wall_s": lambda v: _finite(v) and v >= 0,
        "config": lambda v: isinstance(v, dict),
        "net_config": lambda v: isinstance(v, dict) and _plain_json(v, 4096),
        "rng": lambda v: rng_problem(v) is None,
        "model": lambda v: isinstance(v, dict),
        "ema": lambda v: v is None or isinstance(v, dict),
        "optimizer": lambda v: isinstance(v, dict),
        "scheduler": lambda v: isinstance(v, dict),
    }
    for key, ok in checks.items():
        if key not in ck:
            return f"no {key!r}"
        if not ok(ck[key]):
            why = f" ({rng_problem(ck[key])})" if key == "rng" else ""
            return f"bad {key!r}{why}"
    val = ck.get("val", {})
    if not _is_scores(val):
        return "bad 'val': expected names and numbers"
    if val and not {"val_psnr", "val_input_psnr"} <= set(val):
        return "bad 'val': no val_psnr and val_input_psnr"
    if not (ck.get("init") is None or (isinstance(ck["init"], dict) and _plain_json(ck["init"]))):
        return "bad 'init': expected a record of plain values"
    try:
        TrainConfig.from_dict(ck["config"])
    except TrainError as e:
        return f"bad 'config': {one_line(e)[:160]}"
    try:
        params = parameter_shapes(json.dumps(ck["net_config"], sort_keys=True))
    except (ValueError, TypeError) as e:
        return f"bad 'net_config': {one_line(e)[:160]}"
    shapes = dict(params)
    for key in ("model", "ema"):
        problem = ck[key] is not None and _weights_problem(ck[key], shapes)
        if problem:
            return f"bad {key!r}: {problem}"[:240]
    problem = _optimizer_problem(ck["optimizer"], [s for _, s in params])
    if problem:
        return f"bad 'optimizer': {problem}"
    problem = _scheduler_problem(ck["scheduler"], len(ck["optimizer"]["param_groups"]))
    return f"bad 'scheduler': {problem}" if problem else None
