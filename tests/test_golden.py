"""The shipped weights reproduce their stored golden output (made by benchmarks/make_golden.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deblur.models import DEFAULT_VARIANT, WEIGHTS_DIR, default_weights_path, load_model
from deblur.restoration.tiling import run_network

GOLDEN = Path(__file__).parent / "data" / f"golden_{DEFAULT_VARIANT}.npz"


def test_default_weights_ship():
    assert default_weights_path() is not None, f"no {DEFAULT_VARIANT}.safetensors in {WEIGHTS_DIR}"


def test_model_card_matches_weights():
    path = default_weights_path()
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["training"]["steps"] > 0


def test_shipped_weights_reproduce_golden_output():
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} missing: run python -m benchmarks.make_golden")
    data = np.load(GOLDEN)
    model = load_model(None, device="cpu")
    y = run_network(model, torch.from_numpy(data["input"]), tile=0).numpy()
    np.testing.assert_allclose(y, data["output"], atol=1e-4)
    # and the network does something: the output is not the input
    assert np.abs(y - data["input"]).mean() > 1e-3


def test_wheel_packages_every_module_and_the_weights(tmp_path):
    """A built (non-editable) wheel carries every module of every package under deblur/, the
    web page's files, and weights/ as deblur/weights (found without the working directory)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    repo = Path(__file__).resolve().parent.parent
    # built from a copy of the sources: an in-tree build would reuse a stale build/ folder,
    # whose old copies of the modules hide a package missing from pyproject.toml's list
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("deblur", "weights"):
        shutil.copytree(repo / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, src / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    command += ["-q", "-w", str(tmp_path / "dist"), str(src)]
    r = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("deblur-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"deblur/weights/{DEFAULT_VARIANT}.safetensors" in names
    assert f"deblur/weights/{DEFAULT_VARIANT}.json" in names
    source = repo / "deblur"
    packages = sorted(p.parent for p in source.rglob("__init__.py"))
    assert {"cli", "io", "models", "psf", "restoration", "serve", "synth", "training"} <= {
        p.name for p in packages
    }
    modules = {m.relative_to(repo).as_posix() for p in packages for m in p.glob("*.py")}
    static = {f.relative_to(repo).as_posix() for f in (source / "serve" / "static").iterdir()}
    assert static and modules
    missing = sorted((modules | static) - names)
    assert not missing, f"not in the wheel: {missing}"
