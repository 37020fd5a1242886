"""Probe of hostile and malformed inputs against the command line (issue 22).

About 400 cases (``benchmarks/probe_cases.py``): made-up and corrupted images, PSFs,
weights, checkpoints and config files, ``**`` globs under symbolic-link loops, huge option
values, names that are not UTF-8 or near the file-system limit, against ``restore``,
``blur``, ``benchmark``, ``train``, ``export`` and ``convert-checkpoint``. Everything is
made in a temporary folder, removed at the end.

Each case runs in a child process of its own: forked from this process once it has
imported deblur (so that a case costs its own work, not the ~3 s of imports), in a new
session, stdout/stderr to files, address space capped (``RLIMIT_AS``: this process's size
plus 3 GB, so a runaway allocation fails instead of swapping the machine), killed after
``--timeout`` s. Recorded: the exit status; a traceback (``Traceback``, an exception's
``Name: message`` line, or an exit status other than 0, 1, 2); whether a refusal is one
``error:`` line; a hang (timeout); a crash (a signal); a refusal that names a failed
allocation; inputs changed (size or mtime of any file there before, for a refused case,
and of the shared inputs always); the child's peak resident memory (``ru_maxrss`` from
``wait4``, which includes what it inherited from this process, the imports). With
``--exec N`` the first N cases of a fixed list also run as ``python -m deblur`` (the real
entry point), measured the same way.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m benchmarks.probe_inputs

writes ``benchmarks/results/probe_inputs.json`` and ``.md``; file names in them are
relative to the temporary folder (``<tmp>``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.probe_cases import TINY, make_cases
from benchmarks.probe_report import summarise, write_markdown

RESULTS = Path(__file__).resolve().parent / "results"
EXEC = [("restore", "option", "--threads 100000"), ("restore", "option", "--iterations 1000000"),
        ("restore", "glob loop", "**/*.png"), ("restore", "weights", "largest bounds"),
        ("restore", "file name", "not UTF-8, file"), ("train", "option", "--threads 100000"),
        ("train", "config file", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["),
        ("restore", "file name", "-o 300 bytes")]  # fmt: skip
TRACE = re.compile(r"^(Traceback \(most recent call last\)|\w[\w.]*(Error|Exception): )", re.M)
ALLOC = re.compile(r"can't allocate memory|MemoryError|bad_alloc|Cannot allocate memory", re.I)


def _setup(case: dict, files: Path, folder: Path) -> list[str]:
    sub = {"{ws}": str(files), "{c}": str(folder)}

    def fill(text):
        if isinstance(text, bytes):
            return os.fsdecode(text)
        for k, v in sub.items():
            text = text.replace(k, v)
        return text

    for op, *args in case["setup"]:
        dst = folder / fill(args[0] if op in ("write", "writeb", "chmod") else args[-1])
        if op not in ("remove", "rmtree", "chmod"):
            dst.parent.mkdir(parents=True, exist_ok=True)
        if op == "mkdir":
            dst.mkdir(parents=True, exist_ok=True)
        elif op == "copy":
            shutil.copy(files / args[0], dst)
        elif op == "copytree":
            shutil.copytree(files / args[0], dst)
        elif op == "link":
            dst.symlink_to(fill(args[0]))
        elif op == "write":
            dst.write_text(args[1])
        elif op == "writeb":
            dst.write_bytes(args[1])
        elif op == "rename":
            (folder / fill(args[0])).rename(dst)
        elif op == "remove":
            dst.unlink()
        elif op == "rmtree":
            shutil.rmtree(dst)
        elif op == "fifo":
            os.mkfifo(dst)
        elif op == "chmod":
            dst.chmod(int(args[1], 8))
    return [fill(a) for a in case["argv"]]


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root in roots:
        for d, _, names in os.walk(root):
            for n in names:
                p = os.path.join(d, n)
                st = os.lstat(p)
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("VmSize:"))


def _fork(cmd, argv: list[str], folder: Path, limit: int) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        for fd, name in ((1, "stdout"), (2, "stderr")):
            f = os.open(folder / f".probe_{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(f, fd)
            os.close(f)
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        cmd(argv, prog_name="deblur")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - what a user would see as a traceback
        import traceback

        traceback.print_exc()
        code = 99
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _spawn(argv: list[str], folder: Path, limit: int) -> int:
    def child() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))

    with open(folder / ".probe_stdout", "wb") as out, open(folder / ".probe_stderr", "wb") as err:
        p = subprocess.Popen([sys.executable, "-m", "deblur", *argv], stdout=out, stderr=err,
                             start_new_session=True, preexec_fn=child)  # fmt: skip
    return p.pid


def _wait(pid: int, timeout: float):
    t0 = time.monotonic()
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, False
        if time.monotonic() - t0 > timeout:
            os.killpg(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return status, usage, True
        time.sleep(0.01)


def run_case(cmd, case: dict, files: Path, folder: Path, limit: int, timeout: float,
             real: bool = False) -> dict:  # fmt: skip
    """Lay out ``case`` in ``folder``, run it, and return its record."""
    folder.mkdir(parents=True)
    argv = _setup(case, files, folder)
    before = _snapshot(files, folder)
    t0 = time.monotonic()
    pid = _spawn(argv, folder, limit) if real else _fork(cmd, argv, folder, limit)
    status, usage, hung = _wait(pid, timeout)
    seconds = time.monotonic() - t0
    out = (folder / ".probe_stdout").read_text(errors="replace")
    err = (folder / ".probe_stderr").read_text(errors="replace")
    rc = os.waitstatus_to_exitcode(status)
    after = _snapshot(files, folder)
    keep = [p for p in before if rc != 0 or p.startswith(str(files))]
    if rc == 0 and "--resume" not in argv:
        keep = list(before)
    changed = sorted(p for p in keep if after.get(p) != before[p])
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    if hung:
        verdict = "hang"
    elif rc < 0:
        verdict = f"crash (signal {-rc})"
    elif TRACE.search(err) or TRACE.search(out) or rc not in (0, 1, 2):
        verdict = "traceback"
    elif rc != 0 and ALLOC.search(err):
        verdict = "allocation failed"
    elif rc != 0 and len(errors) != 1:
        verdict = f"{len(errors)} error lines"
    elif changed:
        verdict = "input changed"
    elif case["expect"] == "refuse" and rc == 0:
        verdict = "accepted"
    elif case["expect"] == "accept" and rc != 0:
        verdict = "refused a valid input"
    else:
        verdict = "ok"
    last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "")
    line = errors[0] if errors else last
    return {"command": case["command"], "category": case["category"], "name": case["name"],
            "rc": rc, "verdict": verdict, "errors": [e[:200] for e in errors[:3]],
            "peak_mb": round(usage.ru_maxrss / 1024),
            "s": round(seconds, 2), "stderr_lines": len(err.splitlines()),
            "warning": "Warning:" in err, "line": line[:300],
            "changed": [os.path.relpath(p, folder.parent.parent) for p in changed][:5],
            "entry": "python -m deblur" if real else "fork"}  # fmt: skip


def _prepare(cmd, root: Path, limit: int, timeout: float) -> list[dict]:
    import numpy as np
    import torch

    from deblur import synth
    from deblur.io import write_image

    files = root / "files"
    rng = np.random.default_rng(0)
    (files / "photos").mkdir(parents=True)
    for i in range(2):
        write_image(files / "photos" / f"p{i}.png", synth.dead_leaves(96, rng, r_min=3, r_max=30))
    shutil.copy(files / "photos" / "p0.png", files / "photo.png")
    made = []
    train = ["train", "--sharp", "{ws}/photos", *TINY, "-o", "{ws}/base_run", "--steps", "1"]
    for argv in (["blur", "{ws}/photos", "-o", "{ws}/dataset", "--psf", "gaussian:1"], train):
        rec = run_case(cmd, {"argv": argv, "setup": [], "expect": "accept", "command": argv[0],
                             "category": "setup", "name": argv[0]}, files,
                       root / "scratch" / f"setup{len(made)}", limit, 10 * timeout)  # fmt: skip
        if rec["rc"] != 0:
            raise SystemExit(f"setup failed: {rec}")
        made.append(rec)
    base = torch.load(files / "base_run" / "last.ckpt", weights_only=True)
    return make_cases(files, base)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "probe_inputs.json")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a case hangs")
    ap.add_argument("--stride", type=int, default=1, help="run every N-th case only")
    ap.add_argument("--only", default="", help="only categories with one of these (a,b,...)")
    ap.add_argument("--exec", type=int, default=3, dest="n_exec",
                    help="cases also run as python -m deblur")  # fmt: skip
    args = ap.parse_args()

    import cv2
    import torch
    import torch._dynamo  # noqa: F401 - what an optimizer imports on first use (seconds)
    import typer.main

    import deblur.cli

    # every module now, so that all children run one version of the code, also while the
    # shared checkout is being edited (a lazy import would read the newer files)
    for m in pkgutil.walk_packages(deblur.__path__, "deblur."):
        if not m.name.startswith("deblur.serve"):
            importlib.import_module(m.name)

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cmd = typer.main.get_command(deblur.cli.app)  # built once; each child runs it
    limit = _vm_bytes() + 3 * 2**30
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="probe") as tmp:
        root = Path(tmp)
        cases = _prepare(cmd, root, limit, args.timeout)
        n_all = len(cases)
        only = args.only.split(",")
        cases = [c for c in cases if any(o in c["category"] for o in only)][:: args.stride]
        files, pristine = root / "files", root / "pristine"
        shutil.copytree(files, pristine, symlinks=True)
        chosen = [c for key in EXEC[: args.n_exec] for c in cases
                  if (c["command"], c["category"], c["name"]) == key]  # fmt: skip
        results = []
        for i, (case, real) in enumerate([(c, False) for c in cases] + [(c, True) for c in chosen]):
            folder = root / "scratch" / f"c{i}"
            r = run_case(cmd, case, files, folder, limit, args.timeout, real)
            for p in r["changed"]:  # the next cases get the inputs back as they were
                if p.startswith("files/"):
                    shutil.copy2(pristine / p.removeprefix("files/"), root / p)
            for p in (str(folder), str(files), str(root)):
                r["line"] = r["line"].replace(p, "<tmp>")
                r["errors"] = [e.replace(p, "<tmp>") for e in r["errors"]]
            results.append(r)
            shutil.rmtree(folder, ignore_errors=True)
            print(f"{i:4d} {r['s']:6.2f}s {r['peak_mb']:5d} MB {r['verdict']:>12} "
                  f"{r['command']} {r['category']}: {r['name'][:50]!r}", file=sys.stderr,
                  flush=True)  # fmt: skip
    summary = summarise(results, n_all, parent_mb, time.monotonic() - t_all)
    args.out.write_text(json.dumps({"summary": summary, "results": results}, indent=1) + "\n")
    write_markdown(args.out.with_suffix(".md"), summary, results)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
