"""How ``deblur train`` makes its config: one default per setting (the dataclasses'), given
options over a ``--config`` file over those defaults (no training is run here)."""

from __future__ import annotations

import dataclasses
import inspect
import json
from enum import Enum

import pytest
from typer.testing import CliRunner

from deblur.cli import app
from deblur.errors import TrainError
from deblur.synth import BlurConfig
from deblur.training.config import (
    BLUR_OPTIONS,
    TrainConfig,
    check_run,
    merge_settings,
    read_config_file,
)


def test_every_option_defaults_to_its_field():
    from deblur.cli.training import train

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    blur = BlurConfig()
    checked = set()
    for name, param in inspect.signature(train).parameters.items():
        default = param.default
        default = default.value if isinstance(default, Enum) else default
        if name in BLUR_OPTIONS:
            value = getattr(blur, BLUR_OPTIONS[name])
            assert default == (value[1] if isinstance(value, tuple) else value), name
        elif name in fields and name != "out":
            want = fields[name].default
            assert (() if default is None and want == () else default) == want, name
        else:
            continue
        checked.add(name)
    assert "device" in checked and "steps" in checked and "max_shake" in checked
    assert TrainConfig(out="x").device == "auto"


def test_given_options_over_the_file_over_the_defaults(tmp_path):
    path = tmp_path / "c.json"
    settings = {"steps": 7, "lr": 0.01, "sharp": ["photos"]}
    settings["blur"] = {"shake_size": [9, 21], "p_sharp": 0.2}
    path.write_text(json.dumps(settings))
    file = read_config_file(path)
    s = merge_settings({"steps": 9, "max_noise": 0.05}, file)
    assert s["steps"] == 9 and s["lr"] == 0.01 and s["sharp"] == (str(tmp_path / "photos"),)
    assert s["blur"].shake_size == (9, 21) and s["blur"].p_sharp == 0.2
    assert s["blur"].noise == (BlurConfig().noise[0], 0.05)
    # --max-shake sets the upper end; the lower end is the default's, as it always was
    assert merge_settings({"max_shake": 25}, file)["blur"].shake_size == (7, 25)
    assert merge_settings({}) == {}
    with pytest.raises(TrainError, match="steps"):
        merge_settings({"steps": 0})
    with pytest.raises(TrainError, match="unknown setting"):
        merge_settings({"stepz": 3})


def test_check_run_refuses_what_the_schema_cannot():
    ok = TrainConfig(out="r", sharp=("p",), variant="tiny", batch=4, patch=32)
    check_run(ok, world=2)
    for change, world, match in [
        ({"variant": "nope"}, 1, "unknown variant"),
        ({}, 3, "not a multiple of the 3 processes"),
        ({"patch": 33}, 1, "must be a multiple"),
        ({"sharp": ()}, 1, "no training data"),
    ]:
        with pytest.raises(TrainError, match=match):
            check_run(dataclasses.replace(ok, **change), world)


def _cli_config(monkeypatch, args):
    import deblur.training.loop as loop

    seen = {}

    def fake_train(cfg, **kwargs):
        seen["cfg"], seen["kwargs"] = cfg, kwargs
        return {"step": cfg.steps}

    monkeypatch.setattr(loop, "train", fake_train)
    r = CliRunner().invoke(app, ["train", *args])
    assert r.exit_code == 0, r.output
    return seen["cfg"], seen["kwargs"]


def test_cli_without_a_file_gives_the_defaults(monkeypatch, tmp_path):
    cfg, kwargs = _cli_config(monkeypatch, ["--sharp", "photos", "-o", str(tmp_path / "r")])
    assert cfg == TrainConfig(out=str(tmp_path / "r"), sharp=("photos",))
    assert kwargs["dist_timeout"] == 1800.0 and kwargs["time_limit"] is None


def test_cli_options_override_the_file(monkeypatch, tmp_path):
    path = tmp_path / "c.json"
    settings = {"out": "r", "device": "cpu", "steps": 7, "sharp": ["p"]}
    path.write_text(json.dumps({**settings, "blur": {"shake_size": [9, 21]}}))
    args = ["--config", str(path), "--steps", "9", "--max-noise", "0.05", "--sharp", "q", "DS"]
    cfg, _ = _cli_config(monkeypatch, args)
    assert cfg.out == str(tmp_path / "r") and cfg.device == "cpu" and cfg.steps == 9
    assert cfg.sharp == ("q",) and cfg.datasets == ("DS",) and cfg.lr == TrainConfig(out="").lr
    assert cfg.blur == dataclasses.replace(BlurConfig(), shake_size=(9, 21), noise=(0.0, 0.05))


def test_cli_needs_a_run_folder(tmp_path):
    r = CliRunner().invoke(app, ["train", "--sharp", "photos"])
    assert r.exit_code == 2 and "--out RUN_DIR" in r.output
