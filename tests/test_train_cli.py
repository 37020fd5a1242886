"""`deblur train` / `deblur export` end to end, and 2-process DDP training."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from deblur import synth
from deblur.cli import app
from deblur.io import write_image

TINY = [
    "--variant",
    "tiny",
    "--batch",
    "2",
    "--patch",
    "32",
    "--workers",
    "0",
    "--max-shake",
    "9",
    "--val-patch",
    "32",
]


def _photos(folder, n=2, size=96):
    rng = np.random.default_rng(0)
    for i in range(n):
        write_image(folder / f"p{i}.png", synth.dead_leaves(size, rng, r_min=3, r_max=30))
    return folder


def test_train_export_restore(tmp_path):
    runner = CliRunner()
    sharp = _photos(tmp_path / "sharp")
    run = tmp_path / "run"
    args = ["train", "--sharp", str(sharp), "--val-sharp", str(sharp / "p0.png"), "-o", str(run)]
    args += ["--val-every", "2"]
    r = runner.invoke(app, [*args, *TINY, "--steps", "4"])
    assert r.exit_code == 0, r.output
    assert "trained 4 steps" in r.output
    for name in ("last.ckpt", "best.ckpt", "log.csv", "config.json"):
        assert (run / name).is_file(), name
    # a non-empty run folder is refused without --resume; --resume with more steps continues
    r = runner.invoke(app, [*args, *TINY, "--steps", "4"])
    assert r.exit_code == 1 and "not empty" in r.output
    r = runner.invoke(app, [*args, *TINY, "--steps", "6", "--resume"])
    assert r.exit_code == 0 and "trained 6 steps" in r.output, r.output
    weights = tmp_path / "w" / "mine.safetensors"
    r = runner.invoke(app, ["export", str(run / "best.ckpt"), str(weights)])
    assert r.exit_code == 0, r.output
    assert weights.is_file() and weights.with_suffix(".json").is_file()
    r = runner.invoke(app, ["export", str(run / "best.ckpt"), str(weights)])
    assert r.exit_code == 2 and "exists" in r.output
    img = tmp_path / "img.png"
    write_image(img, np.random.default_rng(1).uniform(size=(37, 50, 3)))
    r = runner.invoke(
        app, ["restore", str(img), "-o", str(tmp_path / "out"), "--weights", str(weights)]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "img.png").is_file()


def test_train_without_data_is_one_line_error(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "deblur", "train", "-o", str(tmp_path / "run"), *TINY],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "no training data" in r.stderr
    assert "Traceback" not in r.stderr


def test_ddp_two_processes(tmp_path):
    sharp = _photos(tmp_path / "sharp")
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "deblur", "train", "--sharp", str(sharp), "-o", str(run), *TINY,
        "--steps", "3", "--device", "cpu", "--dist-timeout", "60",
        "--val-sharp", str(sharp / "p0.png"),
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[:3000] + "\n...\n" + r.stderr[-2000:]
    assert "trained 3 steps" in r.stdout
    assert (run / "last.ckpt").is_file()
    import torch

    ckpt = torch.load(run / "last.ckpt", weights_only=False)
    assert ckpt["step"] == 3


def test_train_init_smooth_p_sharp(tmp_path):
    runner = CliRunner()
    sharp = _photos(tmp_path / "sharp")
    args = ["train", "--sharp", str(sharp), *TINY, "--steps", "2", "--val-every", "2"]
    r = runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    more = ["--init", str(tmp_path / "a" / "last.ckpt"), "--smooth", "0.3", "--p-sharp", "0.2"]
    r = runner.invoke(app, [*args, "-o", str(tmp_path / "b"), *more])
    assert r.exit_code == 0, r.output
    import json

    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["init"].endswith("last.ckpt") and cfg["smooth"] == 0.3
    assert cfg["blur"]["p_sharp"] == 0.2
    import torch

    torch.save({"not": "a checkpoint"}, tmp_path / "other.ckpt")
    for bad, why in [
        ("missing.safetensors", "not found"),
        ("missing.ckpt", "not a readable checkpoint"),
        ("other.ckpt", "not a deblur training checkpoint"),
    ]:
        run = str(tmp_path / f"run-{bad}")
        r = runner.invoke(app, [*args, "-o", run, "--init", str(tmp_path / bad)])
        assert r.exit_code == 1 and bad in r.output and why in r.output.lower(), r.output
        assert r.output.strip().count("\n") == 0, r.output
