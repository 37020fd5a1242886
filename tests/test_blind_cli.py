"""``--psf auto``: the blind kernel estimate in the API, ``deblur restore`` and ``deblur
benchmark`` (contracts only; the estimator's accuracy is tested in test_blind.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_png
from typer.testing import CliRunner

from deblur import restore
from deblur.cli import app
from deblur.psf import blur, motion
from deblur.synth import dead_leaves

runner = CliRunner()


def _blurred_photo(size: int = 128, seed: int = 0) -> np.ndarray:
    x = dead_leaves(size, np.random.default_rng(seed), r_min=3, r_max=40)
    t = torch.from_numpy(x).permute(2, 0, 1)[None]
    y = blur(t, motion(9, 30))[0].permute(1, 2, 0).numpy()
    y = y + 0.01 * np.random.default_rng(seed + 1).standard_normal(y.shape)
    return np.round(np.clip(y, 0, 1) * 255).astype(np.uint8)


def test_api_auto_psf_runs_rl_and_wiener():
    y = _blurred_photo()
    for method in ("rl", "wiener"):
        out = restore(y, method, psf="auto:21", guard=False, iterations=5)
        assert out.shape == y.shape and np.isfinite(out).all()


def test_api_auto_psf_bad_size_and_net():
    with pytest.raises(ValueError):
        restore(_blurred_photo(), "rl", psf="auto:x")
    with pytest.raises(ValueError, match="no PSF"):
        restore(_blurred_photo(), "net", psf="auto")


def test_cli_auto_save_psf_reads_back(tmp_path):
    write_png(tmp_path / "in/sub/a.png", _blurred_photo())
    r = runner.invoke(app, ["restore", str(tmp_path / "in"), "-r", "-o", str(tmp_path / "out"),
                            "--method", "rl", "--iterations", "3", "--psf", "auto:21",
                            "--save-psf", str(tmp_path / "k")], catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    k = np.load(tmp_path / "k/sub/a.npy")
    assert k.ndim == 2 and k.shape[0] % 2 == 1 and abs(k.sum() - 1) < 1e-4 and k.min() >= 0
    assert (tmp_path / "k/sub/a_psf.png").is_file()
    # the saved estimates are what --psf DIR reads back
    r = runner.invoke(app, ["restore", str(tmp_path / "in"), "-r", "-o", str(tmp_path / "out2"),
                            "--method", "rl", "--iterations", "3", "--psf", str(tmp_path / "k"),
                            "--no-guard"], catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out2/sub/a.png").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ["restore", "IN", "--psf", "auto"],  # net takes no PSF
        ["restore", "IN", "--method", "rl", "--psf", "auto:4"],  # even size
        ["restore", "IN", "--method", "rl", "--psf", "gaussian:1", "--save-psf", "K"],
        ["blur", "IN", "-o", "DS", "--psf", "auto"],
    ],
)
def test_cli_auto_bad_usage(tmp_path, args):
    src = write_png(tmp_path / "a.png", _blurred_photo(64))
    args = [str(src) if a == "IN" else str(tmp_path / a) if a in ("K", "DS") else a for a in args]
    r = runner.invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("error: ") and "Traceback" not in r.output


def test_benchmark_auto_methods_need_no_psf_folder(tmp_path):
    for n in range(2):
        y = _blurred_photo(seed=n)
        write_png(tmp_path / f"ds/blur/p{n}.png", y)
        write_png(tmp_path / f"ds/sharp/p{n}.png", y)
    assert not (tmp_path / "ds/psf").exists()
    r = runner.invoke(app, ["benchmark", str(tmp_path / "ds"), "--method",
                            "none,rl-auto,wiener-auto", "--iterations", "3"],
                      catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "rl-auto" in r.stdout and "wiener-auto" in r.stdout
