"""The shipped weights reproduce their stored golden output (made by benchmarks/make_golden.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deblur.models import DEFAULT_VARIANT, WEIGHTS_DIR, default_weights_path, load_model
from deblur.restoration.network import run_network

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
        pytest.fail(f"{GOLDEN} missing: run benchmarks/make_golden.py")
    data = np.load(GOLDEN)
    model = load_model(None, device="cpu")
    y = run_network(model, torch.from_numpy(data["input"]), tile=0).numpy()
    np.testing.assert_allclose(y, data["output"], atol=1e-4)
    # and the network does something: the output is not the input
    assert np.abs(y - data["input"]).mean() > 1e-3
