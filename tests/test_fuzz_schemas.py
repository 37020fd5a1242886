"""Property-based tests of the schemas of what training reads: config files, checkpoints and
weights metadata (issue 22), plus the issue's hostile options, globs and file names.

The cases are generated from the schemas themselves (the fields of ``TrainConfig`` and
``BlurConfig`` with their metadata bounds, ``weights._CONFIG_BOUNDS``), so a field added
later is drawn too. Each draw is either valid (it must be accepted, values kept) or holds
one known fault (it must be refused with a one-line :class:`~deblur.errors.DeblurError`
naming the setting): a check that is too strict or missing fails. Weights files and globs
run in the memory-limited worker of ``tests/test_fuzz.py`` (``RLIMIT_AS``: its size after
imports plus 1 GB; a hang counts after 60 s), so building a huge network, or a glob that
loops, fails the test instead of the machine.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import struct
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from deblur import synth
from deblur.errors import DeblurError, TrainError
from deblur.models import build_model, save_weights
from deblur.models.weights import _CONFIG_BOUNDS, MAX_PARAMETERS, NetConfig
from deblur.training.checkpoint import (
    FORMAT,
    get_rng_state,
    load_checkpoint,
    restore_training,
    set_rng_state,
)
from deblur.training.config import PATH_KEYS, TrainConfig, read_config_file
from deblur.training.export import export_checkpoint
from tests.conftest import make_image, write_png

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


def _fields(cls: type) -> list[tuple[str, Any, dict]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], dict(f.metadata)) for f in dataclasses.fields(cls)]


def _one_line_refusal(e: BaseException, *names: str) -> None:
    assert isinstance(e, DeblurError), f"{type(e).__name__}: {e}"
    message = str(e)
    assert message and "\n" not in message, repr(message)
    assert any(n in message for n in names), (names, message)


# --- Values drawn from a field's schema --------------------------------------------------


def _number_range(hint: Any, meta: dict) -> tuple[float, float]:
    lo = meta.get("ge", meta.get("gt", -1e6))
    hi = meta.get("le", meta.get("lt", 1e6))
    if hint is int:
        lo, hi = lo + ("gt" in meta), hi - ("lt" in meta)
    return lo, hi


def _valid(hint: Any, meta: dict) -> st.SearchStrategy:
    """Values the schema accepts (as JSON gives them: lists for tuples)."""
    if dataclasses.is_dataclass(hint):
        return st.fixed_dictionaries(
            {}, optional={n: _valid(h, m) for n, h, m in _fields(hint)}
        )  # fmt: skip
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return st.one_of(st.none(), _valid(typing.get_args(hint)[0], meta))
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args[-1] is Ellipsis:
            return st.lists(_valid(args[0], meta), max_size=3)
        values = st.tuples(*(_valid(a, meta) for a in args)).map(list)
        if meta.get("ordered"):
            values = values.map(sorted)
        if meta.get("positive_sum"):
            values = values.filter(lambda v: sum(v) > 0)
        return values
    if hint is bool:
        return st.booleans()
    if hint is str:
        if "choices" in meta:
            return st.sampled_from(meta["choices"])
        return st.text(st.characters(blacklist_characters="\0"), min_size=1, max_size=12)
    lo, hi = _number_range(hint, meta)
    if hint is int:
        return st.integers(int(lo), int(hi))
    floats = st.floats(lo, hi, exclude_min="gt" in meta, exclude_max="lt" in meta)
    ints = st.integers(math.floor(lo) + 1 if "gt" in meta else math.ceil(lo),
                       math.ceil(hi) - 1 if "lt" in meta else math.floor(hi))  # fmt: skip
    return st.one_of(floats, ints)


def _bad_scalars(hint: Any, meta: dict) -> list:
    """Values a scalar field's schema refuses: wrong types, the first values past each
    bound, NaN, infinities and numbers too large for a float."""
    if hint is bool:
        return [0, 1, "true", None, [True], {"a": 1}]
    if hint is str:
        return [3, 1.5, True, None, ["a"], {"a": 1}, "a\0b"] + ["no-such"] * ("choices" in meta)
    lo, hi = _number_range(hint, meta)
    out = [True, None, "1", [1], {"a": 1}, math.nan, math.inf, -math.inf, 10**400, -(10**400)]
    out += [int(lo) - 1, int(hi) + 1] if hint is int else [lo - 1, hi + 1]
    if hint is int:
        out += [1.5, float(lo)]  # a float is not an integer, even a whole one
    else:
        out += [meta["gt"]] if "gt" in meta else [math.nextafter(lo, -math.inf)]
        out += [meta["lt"]] if "lt" in meta else [math.nextafter(hi, math.inf)]
    return out


def _bad_values(name: str, hint: Any, meta: dict, default: Any) -> list[tuple[Any, str]]:
    """``(value, name the refusal must give)`` for every kind of fault of one field."""
    if dataclasses.is_dataclass(hint):
        out = [(v, name) for v in (3, "x", [], [1, 2])] + [({"no_such": 1}, f"{name}.no_such")]
        for f in dataclasses.fields(hint):
            inner = _bad_values(f.name, typing.get_type_hints(hint)[f.name], dict(f.metadata),
                                f.default)  # fmt: skip
            out += [({f.name: v}, f"{name}.{n}") for v, n in inner]
        return out
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        bad = _bad_scalars(typing.get_args(hint)[0], meta)
        return [(v, name) for v in bad if v is not None]
    if typing.get_origin(hint) is not tuple:
        return [(v, name) for v in _bad_scalars(hint, meta)]
    args = typing.get_args(hint)
    out = [(v, name) for v in (3, "x", None, {"a": 1})]
    if args[-1] is Ellipsis:
        out += [(["ok", v], name) for v in _bad_scalars(args[0], meta)]
        return out + [(["ok"] * (meta["max_len"] + 1), name)]
    d = list(default)
    out += [(d[:-1], name), ([*d, d[-1]], name)]
    for i, t in enumerate(args):
        out += [
            ([v if j == i else x for j, x in enumerate(d)], name) for v in _bad_scalars(t, meta)
        ]
    if meta.get("ordered"):
        lo, hi = _number_range(args[0], meta)
        out.append(([hi, lo], name))
    if meta.get("positive_sum"):
        out.append(([0] * len(args), name))
    return out


def _all_faults(cls: type = TrainConfig) -> list[tuple[str, Any, str]]:
    """``(field, bad value, name the refusal gives)`` of every field of ``cls``."""
    defaults = cls(out="x") if cls is TrainConfig else cls()
    return [(f.name, v, n) for f in dataclasses.fields(cls) if f.name != "out"
            for v, n in _bad_values(f.name, typing.get_type_hints(cls)[f.name],
                                    dict(f.metadata), getattr(defaults, f.name))]  # fmt: skip


def _invalid(name: str) -> st.SearchStrategy:
    return st.sampled_from([(v, n) for f, v, n in _all_faults() if f == name])


@st.composite
def config_files(draw: Any) -> tuple[dict, str | None]:
    """A JSON config of random valid settings, and maybe one fault: ``(data, faulty key)``."""
    fields = [f for f in _fields(TrainConfig) if f[0] != "out"]
    data: dict = {}
    for name, hint, meta in fields:
        if draw(st.integers(0, 3)) == 0:
            data[name] = draw(_valid(hint, meta))
    fault = None
    if draw(st.integers(0, 3)) > 0:
        name = draw(st.sampled_from([f[0] for f in fields] + ["no_such_setting"]))
        data[name], fault = (1, name) if name == "no_such_setting" else draw(_invalid(name))
    return data, fault


@settings(FUZZ, max_examples=150)
@given(case=config_files())
def test_config_files_are_checked_against_the_schema(tmp_path_factory, case) -> None:
    """Valid settings are kept; one bad setting is refused in one line that names it."""
    data, fault = case
    path = tmp_path_factory.mktemp("cfg") / "train.json"
    path.write_text(json.dumps(data))
    try:
        settings_ = read_config_file(path)
        cfg = TrainConfig(**{"out": "run", **settings_})
    except Exception as e:  # noqa: BLE001 - the property: a one-line refusal naming it
        assert fault is not None, f"valid config refused: {e}"
        _one_line_refusal(e, fault)
        return
    assert fault is None, f"{fault}={data[fault]!r} was accepted"
    stored = cfg.to_dict()
    for key, value in data.items():
        if key not in PATH_KEYS and key != "blur":
            assert stored[key] == (list(value) if isinstance(value, tuple) else value), key
    for key, value in data.get("blur", {}).items():
        assert stored["blur"][key] == value, key
    assert TrainConfig.from_dict(stored) == cfg  # the checkpoint's round trip


def test_every_fault_of_every_field_is_refused(tmp_path) -> None:
    """Each kind of fault of each field (drawn from its schema), alone in a config file:
    refused in one line that names the field (nested ones as ``blur.NAME``)."""
    path, failures = tmp_path / "train.json", []
    faults = _all_faults()
    for name, value, named in faults:
        path.write_text(json.dumps({name: value}))
        try:
            TrainConfig(**{"out": "run", **read_config_file(path)})
            failures.append(f"accepted {name}={value!r:.60}")
        except Exception as e:  # noqa: BLE001
            try:
                _one_line_refusal(e, f"'{named}", f"unknown {named} ")
            except AssertionError as bad:
                failures.append(f"{name}={value!r:.60}: {bad}")
    assert len(faults) > 400 and not failures, "\n".join(failures[:20])


def test_every_numeric_field_declares_its_bounds() -> None:
    """A new number field without bounds (or of a type the schema cannot check) fails here."""
    for cls in (TrainConfig, synth.BlurConfig):
        for name, hint, meta in _fields(cls):
            leaf = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
            if leaf in (int, float):
                assert {"ge", "gt"} & set(meta) and {"le", "lt"} & set(meta), (cls, name)
            with pytest.raises(TrainError, match=name):  # checked, whatever its type
                if cls is TrainConfig:
                    TrainConfig.from_dict({"out": "x", name: object()})
                else:
                    TrainConfig(out="x", blur={name: object()})


@pytest.mark.parametrize(
    "text, key",
    [('{"steps": 1.5}', "steps"), ('{"steps": "x"}', "steps"), ('{"steps": 1e999}', "steps"),
     ('{"lr": "x"}', "lr"), ('{"patch": "x"}', "patch"), ('{"grad_clip": "x"}', "grad_clip"),
     ('{"dead_leaves": "x"}', "dead_leaves"), ('{"sharp": 3}', "sharp"), ('{"blur": 3}', "blur"),
     ('{"ckpt_every": 0}', "ckpt_every"), ('{"log_every": 0}', "log_every"), ('{"ema": 2}', "ema"),
     ('{"val_every": 0}', "val_every"), ('{"out": 3}', "out"), ("[" * 100_000, "nested"),
     ('{"blur": {"noise": [0.1, 0.0]}}', "blur.noise"), ("[1, 2]", "JSON object")],
)  # fmt: skip
def test_train_config_file_faults_are_one_line_errors(tmp_path, text, key) -> None:
    """The issue's config files: `deblur train --config` exits 1 with one `error:` line."""
    from deblur.cli import app

    (tmp_path / "c.json").write_text(text)
    r = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "c.json"), "-o",
                                 str(tmp_path / "run"), "--dead-leaves", "1"])  # fmt: skip
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert r.exit_code == 1 and len(errors) == 1 and key in errors[0], r.output
    assert "Traceback" not in r.output and not (tmp_path / "run").exists()


# --- Checkpoints --------------------------------------------------------------------------


def _run_state() -> dict:
    """A checkpoint dict as the training loop writes it (tiny network, one step)."""
    torch.manual_seed(0)
    model = build_model("tiny")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(1, 3, 16, 16)).mean().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return {
        "model": model.state_dict(), "ema": {k: v.clone() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": 1,
        "best_psnr": float("-inf"), "wall_s": 0.5, "net_config": model.cfg.to_dict(),
        "config": TrainConfig(out="run", variant="tiny").to_dict(), "val": {}, "init": None,
        "rng": get_rng_state(),
    }  # fmt: skip


@pytest.fixture(scope="module")
def seed_state() -> dict:
    return _run_state()


def _fresh_run() -> tuple:
    model = build_model("tiny")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)


_WIDTHS = {"width": 24, "res_blocks": 3, "fuse_width": 1024, "context": 8}


@st.composite
def checkpoint_faults(draw: Any, state: dict) -> tuple[dict, str, bool]:
    """A copy of ``state`` with one change: ``(state, what, must be refused)``."""
    s = {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
    opt = state["optimizer"]
    s["optimizer"] = {
        "state": {i: dict(v) for i, v in opt["state"].items()},
        "param_groups": [dict(g) for g in opt["param_groups"]],
    }
    names = sorted(state["model"])
    part = draw(st.sampled_from(["model", "ema", "optimizer", "scheduler", "config",
                                 "net_config", "scalars", "drop"]))  # fmt: skip
    if part in ("model", "ema"):
        key = draw(st.sampled_from(names))
        t = s[part][key]
        how = draw(st.sampled_from(["drop", "extra", "shape", "dtype", "nan", "value", "none"]))
        if how == "drop":
            del s[part][key]
        elif how == "extra":
            s[part]["fuse.99.weight"] = torch.zeros(3)
        elif how == "shape":
            s[part][key] = torch.zeros(t.numel() + 1)
        elif how == "dtype":
            s[part][key] = t.double()
        elif how == "nan":
            s[part][key] = torch.full_like(t, math.nan)
        elif how == "value":
            s[part][key] = t.tolist()
        else:
            s[part] = None
            return s, f"{part}=None", part == "model"
        return s, f"{part}.{key}: {how}", True
    if part == "optimizer":
        opt, i = s["optimizer"], draw(st.integers(0, len(names) - 1))
        how = draw(st.sampled_from(["params", "dup", "step", "moment", "groups", "state", "lr",
                                    "extra"]))  # fmt: skip
        if how == "params":
            del opt["param_groups"][0]["params"]
        elif how == "dup":
            opt["param_groups"][0]["params"] = [0] * len(names)
        elif how == "step":
            del opt["state"][i]["step"]
        elif how == "moment":
            opt["state"][i]["exp_avg"] = torch.zeros(2, 2, 2)
        elif how == "groups":
            opt["param_groups"] = {}
        elif how == "state":
            opt["state"] = [1, 2]
        elif how == "lr":
            opt["param_groups"][0]["lr"] = "x"
        else:
            opt["extra"] = 1
        return s, f"optimizer: {how} ({i})", True
    if part == "scheduler":
        key = draw(st.sampled_from(sorted(state["scheduler"]) + ["optimizer"]))
        how = draw(st.sampled_from(["drop", "junk"] if key != "optimizer" else ["junk"]))
        if how == "drop":
            del s["scheduler"][key]
        else:
            s["scheduler"][key] = draw(st.sampled_from([[{}], "x", [], {"a": 1}]))
        optional = key in ("_last_lr", "_is_initial", "_get_lr_called_within_step")
        return s, f"scheduler.{key}: {how}", not (how == "drop" and optional)
    if part == "config":
        name = draw(st.sampled_from([f.name for f in dataclasses.fields(TrainConfig)]))
        if draw(st.booleans()) and name != "out":
            s["config"][name] = draw(_invalid(name))[0]
            return s, f"config.{name}: invalid", True
        s["config"].pop(name, None)  # an older checkpoint: the default is taken
        return s, f"config.{name}: dropped", name == "out"
    if part == "net_config":
        key = draw(st.sampled_from(sorted(_CONFIG_BOUNDS) + ["ird_reach", "extra"]))
        if key in _WIDTHS and draw(st.booleans()):
            s["net_config"][key] = _WIDTHS[key]  # in bounds, but not the tensors' network
        else:
            lo, hi = _CONFIG_BOUNDS.get(key, (1, 16))
            s["net_config"][key] = draw(st.sampled_from([lo - 1, hi + 1, 10**12, "3", 2.0]))
        return s, f"net_config.{key}", True
    if part == "scalars":
        key = draw(st.sampled_from(["step", "best_psnr", "wall_s", "val", "init", "rng"]))
        s[key] = v = draw(st.sampled_from([-1, math.nan, "x", [1], {"a": "x"}, torch.ones(2)]))
        sound = (key == "best_psnr" and isinstance(v, int) and v == -1) or (
            key == "init" and isinstance(v, dict)
        )
        return s, f"{key}={v!r}"[:60], not sound
    key = draw(st.sampled_from(sorted(state)))
    del s[key]
    return s, f"no {key}", key not in ("val", "init")


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_checkpoints_are_checked_before_use(tmp_path_factory, seed_state, data) -> None:
    """A changed checkpoint is refused at load in one line, or loads and then exports and
    resumes (model, optimizer, schedule, random states) without any other exception."""
    s, what, must_refuse = data.draw(checkpoint_faults(seed_state), label="fault")
    folder = tmp_path_factory.mktemp("ck")
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **s}, buf)
    (folder / "last.ckpt").write_bytes(buf.getvalue())
    try:
        ck = load_checkpoint(folder / "last.ckpt")
    except Exception as e:  # noqa: BLE001
        _one_line_refusal(e, "last.ckpt")
        return
    assert not must_refuse, f"accepted: {what}"
    saved = get_rng_state()
    try:
        export_checkpoint(folder / "last.ckpt", folder / "w.safetensors")
        model, opt, sched = _fresh_run()
        restore_training(ck, folder / "last.ckpt", model, opt, sched, ema=True)
        set_rng_state(ck["rng"])
    except Exception as e:  # noqa: BLE001
        _one_line_refusal(e, "last.ckpt")
    finally:
        set_rng_state(saved)


@pytest.mark.parametrize("fault", ["params", "step", "lr_lambdas", "extra", "shape", "list"])
def test_issue_checkpoint_faults_are_refused(tmp_path, seed_state, fault) -> None:
    """The issue's checkpoints that loaded and then failed with a traceback."""
    s = _run_state()
    if fault == "params":
        del s["optimizer"]["param_groups"][0]["params"]
    elif fault == "step":
        del s["optimizer"]["state"][0]["step"]
    elif fault == "lr_lambdas":
        del s["scheduler"]["lr_lambdas"]
    elif fault == "extra":
        s["ema"]["extra.weight"] = torch.zeros(1)
    elif fault == "shape":
        s["model"]["fuse.2.weight"] = torch.zeros(3, 3, 1, 1)
    else:
        s["val"] = [1, 2]
    torch.save({"format": FORMAT, **s}, tmp_path / "last.ckpt")
    with pytest.raises(TrainError, match="damaged deblur training checkpoint"):
        load_checkpoint(tmp_path / "last.ckpt")


def test_scheduler_schema_knows_this_torch() -> None:
    """Every key this torch's LambdaLR stores is one the schema lets in (an upgrade that adds
    one fails here, not in a user's resume)."""
    from deblur.training.schema import _LAMBDA_LR_KEYS

    assert set(_fresh_run()[2].state_dict()) <= _LAMBDA_LR_KEYS


def test_resume_refuses_a_checkpoint_of_another_network(tmp_path) -> None:
    s = _run_state()
    torch.save({"format": FORMAT, **s}, tmp_path / "last.ckpt")
    ck = load_checkpoint(tmp_path / "last.ckpt")  # a sound tiny checkpoint ...
    small = build_model("small")
    opt = torch.optim.AdamW(small.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    with pytest.raises(TrainError, match="another network"):  # ... is not a small one
        restore_training(ck, tmp_path / "last.ckpt", small, opt, sched, ema=True)


@pytest.mark.parametrize("card", ["[1, 2]", '{"training": 3}', "{", "\xff"])
def test_init_refuses_a_bad_model_card(tmp_path, card) -> None:
    from deblur.training.checkpoint import init_state

    weights = save_weights(build_model("tiny"), tmp_path / "w.safetensors")
    (tmp_path / "w.json").write_text(card, encoding="latin-1")
    with pytest.raises(TrainError, match=r"w\.json"):
        init_state(str(weights), build_model("tiny"))


# --- Weights metadata (in the memory-limited worker) -------------------------------------


@pytest.fixture(scope="module")
def sandbox():
    from test_fuzz import Sandbox

    box = Sandbox(hang_s=60.0)
    yield box
    box.close()


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    return save_weights(build_model("tiny"), path).read_bytes()


def _with_config(seed: bytes, config: dict) -> bytes:
    n = struct.unpack("<Q", seed[:8])[0]
    header = json.loads(seed[8 : 8 + n])
    header["__metadata__"]["config"] = json.dumps(config)
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + seed[8 + n :]


@st.composite
def net_configs(draw: Any) -> dict:
    """Configs drawn from the bounds: each key left out, in bounds, at a bound, or out."""
    out: dict = {}
    for key, (lo, hi) in _CONFIG_BOUNDS.items():
        how = draw(st.sampled_from(["skip", "skip", "in", "max", "bad"]))
        if how == "in":
            out[key] = draw(st.integers(lo, hi))
        elif how == "max":
            out[key] = hi - (key == "fourier_support" and hi % 2 == 0)
        elif how == "bad":
            out[key] = draw(st.sampled_from([lo - 1, hi + 1, 10**9, None, "8", 2.5]))
    if draw(st.booleans()):
        out["ird_reach"] = draw(st.lists(st.integers(0, 17), max_size=18))
    return out


@settings(FUZZ, max_examples=60)
@given(config=st.one_of(net_configs(), st.just({k: hi for k, (lo, hi) in _CONFIG_BOUNDS.items()})))
def test_weights_metadata_is_bounded(sandbox, tiny_weights, tmp_path_factory, config) -> None:
    """Whatever network a weights file's metadata claims, loading it stays within the
    worker's memory (nothing near the 5 GB the issue saw) and gives the tiny network or a
    one-line refusal."""
    path = tmp_path_factory.mktemp("wm") / "w.safetensors"
    path.write_bytes(_with_config(tiny_weights, config))
    resp = sandbox.call("load_weights", path=str(path))
    assert resp["status"] in ("ok", "refused"), resp
    assert resp["rss_growth_mb"] < 1500, resp
    if resp["status"] == "ok":
        assert resp["info"]["parameters"] == 15455, (config, resp)
    else:
        assert "\n" not in resp["message"], resp


def test_largest_network_in_bounds_is_refused_by_its_size() -> None:
    from deblur.models.weights import checked_net_config

    huge = {k: hi for k, (lo, hi) in _CONFIG_BOUNDS.items()}
    with pytest.raises(ValueError, match=f"more than the {MAX_PARAMETERS:,}"):
        checked_net_config(huge)
    named = {f.name for f in dataclasses.fields(NetConfig)}
    assert named == set(_CONFIG_BOUNDS) | {"ird_reach"}  # every field has a bound


# --- Globs, options and file names --------------------------------------------------------


def test_globs_end_under_symlink_loops(sandbox, tmp_path) -> None:
    """`**` under two links to the root and a link to itself (never ended before)."""
    root = tmp_path / "data"
    for rel in ("a.png", "x/b.png", "x/y/c.png"):
        write_png(root / rel, make_image(8, 8))
    (root / "x" / "up").symlink_to(root, target_is_directory=True)
    (root / "x" / "y" / "up").symlink_to(root, target_is_directory=True)
    (root / "x" / "self").symlink_to(root / "x", target_is_directory=True)
    for spec in (root / "**" / "*.png", root / "x" / "**", root / "**" / "y" / "**" / "*.png"):
        resp = sandbox.call("list_photos", spec=str(spec))
        assert resp["status"] == "ok", resp
    assert sandbox.call("list_photos", spec=str(root / "**" / "*.png"))["info"]["photos"] == 3


def _restore(tmp_path: Path, *args: str):
    import cv2

    from deblur.cli import app

    photo = write_png(tmp_path / "p.png", make_image(16, 16))
    threads, cv = torch.get_num_threads(), cv2.getNumThreads()
    try:
        argv = ["restore", str(photo), "--method", "rl", "--psf", "gaussian:1", "-o"]
        return CliRunner().invoke(app, [*argv, str(tmp_path / "o"), *args])
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv)


def test_threads_are_clamped_to_the_machine(tmp_path, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    r = _restore(tmp_path, "--threads", "100000", "--iterations", "1")
    assert r.exit_code == 0, r.output
    cpus = len(os.sched_getaffinity(0))
    assert seen and seen[0] == min(100000, cpus) and max(seen) <= cpus, seen


def test_iterations_are_bounded(tmp_path) -> None:
    r = _restore(tmp_path, "--iterations", "1000000")
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert r.exit_code == 2 and len(errors) == 1 and "10000" in errors[0], r.output


def test_names_that_are_not_utf8_are_processed(tmp_path) -> None:
    from deblur.cli import app

    folder = tmp_path / "in"
    name = os.fsdecode(b"caf\xe9-\xff.png")  # Latin-1 bytes, as an old camera card has them
    os.rename(write_png(folder / "plain.png", make_image(24, 24)), folder / name)
    for command in (["blur", str(folder), "-o", str(tmp_path / "ds")],
                    ["restore", str(folder), "--method", "wiener", "--psf", "gaussian:1", "-o",
                     str(tmp_path / "out")]):  # fmt: skip
        r = CliRunner().invoke(app, command)
        assert r.exit_code == 0, r.output
    assert (tmp_path / "ds" / "blur" / name).is_file() and (tmp_path / "out" / name).is_file()


def test_output_names_too_long_are_refused_up_front(tmp_path) -> None:
    from deblur.cli import app

    photo = write_png(tmp_path / ("b" * 246 + ".png"), make_image(16, 16))
    r = CliRunner().invoke(app, ["restore", str(photo), "--method", "wiener", "--psf",
                                 "gaussian:1"])  # fmt: skip
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert r.exit_code == 2 and len(errors) == 1 and "255" in errors[0], r.output
