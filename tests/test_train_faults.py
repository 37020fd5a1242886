"""Fault injection for training: ``python -m deblur train`` is stopped by SIGTERM or killed by
SIGKILL at seeded moments, resumed with ``--resume`` each time, and must end with weights
bit-identical to an uninterrupted run.

Each interrupted run is a real subprocess in its own process group
(``start_new_session=True``), with a loader worker (``--workers 1``); signals go to the
whole group, as a scheduler or Ctrl-C sends them. The uninterrupted reference run and the
last, uninterrupted resume run the same command in-process (``CliRunner``): a process
start costs seconds of imports on a loaded machine, the result is the same.

SIGTERM must give exit status 130 with ``last.ckpt`` written at the step the run reached;
SIGKILL loses the steps after the last checkpoint, which the resumed run redoes, and the
next start removes the temporary files a killed writer left. The moments are drawn from a
fixed seed as "after the progress line of step k" (``log_every`` is 1 here). Both variants
run in CI (about 30 s each).
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from deblur.training import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
STEPS = 10
CKPT_EVERY = 3
SEED = 13  # of the interruption moments
TIMEOUT_S = 300  # per run; never reached by a correct run (each takes seconds)
_STEP_LINE = re.compile(r"^step (\d+)/(\d+) ")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny photos and a config file that logs (and prints) every step."""
    root = tmp_path_factory.mktemp("faults")
    from deblur import synth
    from deblur.io import write_image

    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(root / "photos" / f"p{i}.png", synth.dead_leaves(96, rng, r_min=3, r_max=30))
    (root / "config.json").write_text(json.dumps({"log_every": 1}))
    return root


def _train_args(ws: Path, run: Path, resume: bool) -> list[str]:
    args = ["train", "--config", str(ws / "config.json")]
    args += ["--sharp", str(ws / "photos"), "-o", str(run), "--variant", "tiny"]
    args += ["--steps", str(STEPS), "--batch", "2", "--patch", "32", "--max-shake", "9"]
    args += ["--ckpt-every", str(CKPT_EVERY), "--workers", "1", "--warmup", "2"]
    args += ["--device", "cpu", "--threads", "1", "--seed", "0"]
    return args + (["--resume"] if resume else [])


def _run(ws: Path, run: Path, resume: bool, stop_at: int | None = None,
         sig: int = signal.SIGTERM) -> tuple[int, list[str], int | None]:  # fmt: skip
    """Run training; with ``stop_at``, send ``sig`` to its process group right after the
    progress line of that step appears. Returns (exit status, output lines, step signalled)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "deblur", *_train_args(ws, run, resume)], cwd=ws, env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    signalled = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            m = _STEP_LINE.match(line)
            if m and stop_at is not None and signalled is None and int(m.group(1)) >= stop_at:
                signalled = int(m.group(1))
                os.killpg(proc.pid, sig)
        code = proc.wait(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    _expect_group_gone(proc.pid)  # no loader worker outlives its trainer
    return code, lines, signalled


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (zombies are dead: whoever adopted
    them reaps them when it likes)."""
    live = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                live.append(int(entry.name))
    return live


def _expect_group_gone(pgid: int) -> None:
    if not Path("/proc/self/stat").exists():
        return
    deadline = time.monotonic() + 60  # a safety net, not a timing assertion
    while _live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _live_members(pgid), f"processes of the run outlived it: {_live_members(pgid)}"


def _run_here(ws: Path, run: Path, resume: bool) -> tuple[int, str]:
    """The same command, uninterrupted, in this process."""
    import cv2
    from typer.testing import CliRunner

    from deblur.cli import app

    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    try:
        result = CliRunner().invoke(app, _train_args(ws, run, resume))
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)
    return result.exit_code, result.output


def _weights(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    ck = load_checkpoint(run / "last.ckpt")
    assert ck["step"] == STEPS
    return {"model": ck["model"], "ema": ck["ema"]}


def _log(run: Path) -> list[tuple[str, str, str]]:
    """(step, loss, lr) of each log.csv row: with log_every 1 the loss is that step's own."""
    with open(run / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [(r["step"], r["loss"], r["lr"]) for r in rows]


def _assert_same(run: Path, reference: Path) -> None:
    ours, theirs = _weights(run), _weights(reference)
    for part in ("model", "ema"):
        assert ours[part].keys() == theirs[part].keys()
        for name, tensor in theirs[part].items():
            assert torch.equal(ours[part][name], tensor), f"{part}.{name} differs"
    assert _log(run) == _log(reference)  # every step once, with the same loss and lr
    assert not list(run.glob(".*.tmp*")), "temporary files left behind"


@pytest.fixture(scope="module")
def reference(workspace: Path) -> Path:
    run = workspace / "reference"
    code, output = _run_here(workspace, run, resume=False)
    assert code == 0, output
    return run


def _moments(kind: str, first: int) -> list[int]:
    """Three seeded steps (increasing) to signal at, from ``first`` to STEPS - 2 (a signal
    after the last step would stop a finished run, which --resume then refuses)."""
    rng = random.Random(f"{SEED}-{kind}")
    return sorted(rng.sample(range(first, STEPS - 1), 3))


def test_sigterm_resume_is_bit_identical(workspace: Path, reference: Path) -> None:
    run = workspace / "sigterm"
    resume = False
    for at in _moments("term", 1):
        code, lines, signalled = _run(workspace, run, resume, stop_at=at, sig=signal.SIGTERM)
        assert signalled is not None, "\n".join(lines[-20:])
        assert code == 130, "\n".join(lines[-20:])
        assert any("continue with --resume" in line for line in lines), lines[-5:]
        assert not any("Traceback" in line for line in lines), "\n".join(lines)
        step = load_checkpoint(run / "last.ckpt")["step"]
        assert signalled <= step < STEPS  # the checkpoint holds the step the run reached
        resume = True
    code, output = _run_here(workspace, run, resume=True)
    assert code == 0, output
    _assert_same(run, reference)


def test_sigkill_resume_is_bit_identical(workspace: Path, reference: Path) -> None:
    run = workspace / "sigkill"
    resume = False
    # the first kill comes after the first checkpoint (step CKPT_EVERY) exists
    for i, at in enumerate(_moments("kill", CKPT_EVERY + 1)):
        code, lines, signalled = _run(workspace, run, resume, stop_at=at, sig=signal.SIGKILL)
        assert signalled is not None and code == -signal.SIGKILL, "\n".join(lines[-20:])
        assert (run / "last.ckpt").is_file()
        if i == 0:  # what a writer killed while writing leaves behind
            (run / ".last.ckpt.0123456789ab.tmp").write_bytes(b"half a checkpoint")
            (run / ".log.csv.0123456789ab.tmp").write_bytes(b"step,lo")
        resume = True
    code, output = _run_here(workspace, run, resume=True)
    assert code == 0, output
    _assert_same(run, reference)
