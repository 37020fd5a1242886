"""ONNX export: the shipped network exported with dynamic sizes matches PyTorch through
onnxruntime; networks that cannot be exported are refused in one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from deblur.cli import app
from deblur.models import build_model, default_weights_path, save_weights

runner = CliRunner()
HAVE_ONNX = importlib.util.find_spec("onnx") is not None
HAVE_ORT = importlib.util.find_spec("onnxruntime") is not None
needs_onnx = pytest.mark.skipif(
    not HAVE_ONNX, reason="onnx not installed: pip install 'deblur[onnx]'"
)
needs_ort = pytest.mark.skipif(
    not (HAVE_ONNX and HAVE_ORT), reason="onnxruntime not installed: pip install 'deblur[onnx]'"
)


@pytest.fixture(scope="module")
def base_onnx(tmp_path_factory) -> tuple[Path, Path]:
    if not HAVE_ONNX:
        pytest.skip("onnx not installed: pip install 'deblur[onnx]'")
    from deblur.models.onnx_export import export_onnx

    weights = default_weights_path()
    assert weights is not None, "the shipped base weights are missing"
    out = export_onnx(weights, tmp_path_factory.mktemp("onnx") / "base.onnx")
    return weights, out


@needs_ort
def test_shipped_network_matches_pytorch_on_odd_sizes(base_onnx):
    import onnxruntime as ort

    from deblur.models import load_weights

    weights, path = base_onnx
    net = load_weights(weights)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(1)
    for h, w in [(17, 31), (45, 97), (129, 63)]:  # odd, not multiples of 16, both ways round
        x = torch.rand(2, 3, h, w, generator=gen)  # the batch is dynamic too
        with torch.no_grad():
            ref = net(x).clamp(0, 1).numpy()
        got = session.run(["sharp"], {"image": x.numpy()})[0]
        assert got.shape == (2, 3, h, w)
        assert np.abs(got - ref).max() < 1e-4, (h, w, np.abs(got - ref).max())


@needs_ort
def test_check_onnx_reports_a_tiny_difference_and_catches_a_wrong_file(base_onnx, tmp_path):
    from deblur.models.onnx_export import check_onnx, export_onnx

    weights, path = base_onnx
    assert check_onnx(weights, path) < 1e-4
    # the check can fail: another network's file against the shipped weights
    torch.manual_seed(0)
    other = build_model("base")
    other_file = export_onnx(other, tmp_path / "other.onnx")
    assert check_onnx(weights, other_file) > 1e-3


@needs_onnx
def test_model_metadata_and_dynamic_axes(base_onnx):
    import onnx

    _, path = base_onnx
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["deblur_multiple"] == "16"
    assert '"width": 48' in meta["deblur_config"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "height", "width"]


def test_fourier_network_is_refused_in_one_line(tmp_path):
    weights = save_weights(build_model("base-fourier"), tmp_path / "f.safetensors")
    r = runner.invoke(app, ["export-onnx", str(weights), str(tmp_path / "f.onnx")])
    assert r.exit_code == 1, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "fourier" in lines[0]
    assert not (tmp_path / "f.onnx").exists()
    assert list(tmp_path.iterdir()) == [weights]  # no temporary left behind


def test_without_onnx_the_export_says_how_to_install_it(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    r = runner.invoke(app, ["export-onnx", str(default_weights_path()), str(tmp_path / "m.onnx")])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and "pip install 'deblur[onnx]'" in r.stderr
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["missing.safetensors", "o.onnx"], 1, "not found"),
        (["W", "o.onx"], 2, ".onnx"),
        (["W", "existing.onnx"], 1, "already exists"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, monkeypatch, args, code, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing.onnx").write_bytes(b"keep")
    weights = str(default_weights_path())
    r = runner.invoke(app, ["export-onnx", *[weights if a == "W" else a for a in args]])
    assert r.exit_code == code, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], r.stderr
    assert (tmp_path / "existing.onnx").read_bytes() == b"keep"


@needs_ort
def test_cli_exports_and_checks(tmp_path):
    out = tmp_path / "m.onnx"
    r = runner.invoke(app, ["export-onnx", str(default_weights_path()), str(out)])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out)
    assert "max abs difference" in r.stderr
    diff = float(r.stderr.split("max abs difference")[1].split()[0])
    assert diff < 1e-4
