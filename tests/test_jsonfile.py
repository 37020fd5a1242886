"""Strict JSON (issue 22): a key given twice in any JSON deblur reads is refused in one line.

The helper (:mod:`deblur.io.jsonfile`), then each reader: ``train --config`` files, model
cards (``--init``), the model config in a weights file's metadata, and the weights file's
header (where safetensors itself keeps the last of two entries without a word)."""

from __future__ import annotations

import json
import struct

import pytest
from safetensors import safe_open

from deblur.errors import DeblurError, TrainError, WeightsError
from deblur.io.jsonfile import DuplicateKeyError, loads
from deblur.models import build_model, load_weights, save_weights
from deblur.training.checkpoint import init_state
from deblur.training.config import read_config_file


@pytest.mark.parametrize(
    "text, key",
    [
        ('{"steps": 10, "steps": 20}', "steps"),
        ('{"a": 1, "blur": {"noise": [0, 0.01], "noise": [0, 0.02]}}', "noise"),
        ('[{"x": 1}, {"y": 2, "y": 2}]', "y"),
        ('{"a": 1, "b": 2, "a": 1}', "a"),
        ('{"\\u0073teps": 1, "steps": 2}', "steps"),  # the same key, escaped once
    ],
)
def test_a_repeated_key_is_refused_at_any_depth(text, key):
    with pytest.raises(DuplicateKeyError, match=f"'{key}' is given twice") as info:
        loads(text)
    assert isinstance(info.value, DeblurError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_json_without_repeats_parses_as_json_loads_does():
    text = '{"a": [1, 2.5, {"b": null, "c": {"a": true}}], "b": "x", "": {}, "A": -1e3}'
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)
    assert loads("[]") == [] and loads("3") == 3
    with pytest.raises(json.JSONDecodeError):
        loads("{")


def test_a_long_repeated_key_is_shortened_in_the_message():
    key = "k" * 5000
    with pytest.raises(DuplicateKeyError) as info:
        loads(json.dumps({key: 1})[:-1] + f', "{key}": 2}}')
    assert len(str(info.value)) < 120


def test_a_config_file_that_repeats_a_setting_is_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"steps": 10, "lr": 0.001, "steps": 99999}')
    with pytest.raises(TrainError, match=r"run\.json: .*'steps' is given twice") as info:
        read_config_file(path)
    assert "\n" not in str(info.value)
    path.write_text('{"blur": {"p_sharp": 0.1, "p_sharp": 0.2}}')
    with pytest.raises(TrainError, match="'p_sharp' is given twice"):
        read_config_file(path)
    path.write_text('{"steps": 10, "lr": 0.001}')
    assert read_config_file(path) == {"steps": 10, "lr": 0.001}


def test_a_model_card_that_repeats_a_key_is_refused(tmp_path):
    weights = save_weights(build_model("tiny"), tmp_path / "w.safetensors")
    card = tmp_path / "w.json"
    card.write_text('{"training": {"steps": 5}, "sha256": "x"}')
    _, provenance = init_state(str(weights), build_model("tiny"))
    assert provenance["training"] == {"steps": 5}
    card.write_text('{"training": {"steps": 5}, "training": {"steps": 50000}}')
    with pytest.raises(TrainError, match=r"w\.json: .*'training' is given twice"):
        init_state(str(weights), build_model("tiny"))


def _header(data: bytes) -> tuple[str, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return data[8 : 8 + n].decode(), data[8 + n :]


def _with_header(text: str, body: bytes) -> bytes:
    raw = text.encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    return save_weights(build_model("tiny"), path).read_bytes()


def test_weights_whose_metadata_config_repeats_a_key_are_refused(tmp_path, tiny):
    text, body = _header(tiny)
    header = json.loads(text)
    config = header["__metadata__"]["config"]
    assert config.startswith("{")
    header["__metadata__"]["config"] = '{"width": 1024, ' + config[1:]  # then the real one
    path = tmp_path / "w.safetensors"
    path.write_bytes(_with_header(json.dumps(header), body))
    with pytest.raises(WeightsError, match=r"invalid model config .*'width' is given twice"):
        load_weights(path)


@pytest.mark.parametrize("where", ["metadata", "tensor"])
def test_weights_whose_header_repeats_a_key_are_refused(tmp_path, tiny, where):
    text, body = _header(tiny)
    header = json.loads(text)
    if where == "metadata":  # a second "format" before the real one: safetensors keeps the last
        old, new = '"__metadata__": {', '"__metadata__": {"format": "other", '
    else:  # a tensor listed twice, the first time with other offsets
        name = next(k for k in header if k != "__metadata__")
        entry = dict(header[name], data_offsets=[0, 4], shape=[1])
        old, new = "{", "{" + json.dumps(name) + ": " + json.dumps(entry) + ", "
    text = json.dumps(header)
    assert text.count(old) >= 1
    path = tmp_path / "w.safetensors"
    path.write_bytes(_with_header(text.replace(old, new, 1), body))
    with safe_open(str(path), framework="pt") as f:  # what safetensors alone makes of it
        assert f.metadata()["format"] != "other"
    with pytest.raises(WeightsError, match=r"w\.safetensors: .*header: .* is given twice"):
        load_weights(path)
    (tmp_path / "good.safetensors").write_bytes(tiny)
    assert load_weights(tmp_path / "good.safetensors") is not None
