"""The result check as users meet it: ``deblur.restore(guard=, strength=)`` and the CLI's
``--guard/--no-guard``, ``--strength`` and ``--json`` (a fallback is reported, not a failure)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import read_raw, write_png
from typer.testing import CliRunner

from deblur import restore
from deblur.cli import app
from deblur.psf import blur, gaussian
from deblur.restoration.classical import wiener
from deblur.synth import dead_leaves

runner = CliRunner()


def _blurred(seed: int = 0, size: int = 96) -> np.ndarray:
    sharp = dead_leaves(size, np.random.default_rng(seed), r_min=3, r_max=30)
    t = torch.from_numpy(sharp).permute(2, 0, 1)[None]
    y = blur(t, gaussian(1.5))[0].permute(1, 2, 0).numpy()
    y = y + 0.01 * np.random.default_rng(seed + 1).standard_normal(y.shape)
    return np.clip(y, 0, 1).astype(np.float32)


def test_strength_zero_returns_the_input_exactly():
    y = _blurred()
    out = restore(y, "wiener", psf=gaussian(1.5), strength=0.0)
    np.testing.assert_array_equal(out, y)


def test_no_guard_returns_the_raw_method_output():
    y = _blurred()
    raw = wiener(y, gaussian(1.5), 1e-2)
    out, report = restore(y, "wiener", psf=gaussian(1.5), guard=False, return_report=True)
    assert report is None
    np.testing.assert_allclose(out, raw, atol=1e-6)


def test_strength_blends_linearly():
    y = _blurred()
    full = restore(y, "wiener", psf=gaussian(1.5), guard=False)
    half = restore(y, "wiener", psf=gaussian(1.5), guard=False, strength=0.5)
    np.testing.assert_allclose(half, y + 0.5 * (full - y), atol=1e-6)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True])
def test_bad_strength_is_refused(bad):
    with pytest.raises(ValueError, match="strength"):
        restore(_blurred(), "wiener", psf=gaussian(1.5), strength=bad)


def test_a_ringing_result_falls_back_to_the_input_and_says_so(tmp_path):
    """Wiener with a far too small NSR rings: the check keeps the input (exit 0, a note)."""
    y = _blurred()
    src = write_png(tmp_path / "in.png", np.round(y * 255).astype(np.uint8))
    out, rec = str(tmp_path / "out.png"), str(tmp_path / "r.json")
    args = ["restore", str(src), "-o", out, "--method", "wiener", "--psf", "gaussian:1.5",
            "--nsr", "1e-7", "--json", rec]  # fmt: skip
    r = runner.invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert "result doubtful (" in r.stderr and "kept the input" in r.stderr
    np.testing.assert_array_equal(read_raw(tmp_path / "out.png"), read_raw(src))
    record = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert record["check"]["action"] == "fell back to input" and record["error"] is None
    # --no-guard hands back the ringing result itself
    args[args.index("--json") : args.index("--json") + 2] = ["--no-guard"]
    r = runner.invoke(app, [*args, "--overwrite"], catch_exceptions=False)
    assert r.exit_code == 0 and "doubtful" not in r.stderr
    assert not np.array_equal(read_raw(tmp_path / "out.png"), read_raw(src))


def test_cli_strength_out_of_range_is_bad_usage(tmp_path):
    src = write_png(tmp_path / "in.png", np.round(_blurred() * 255).astype(np.uint8))
    r = runner.invoke(app, ["restore", str(src), "--method", "wiener", "--psf", "gaussian:1",
                            "--strength", "2"], catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 2 and r.stderr.startswith("error: ")
