"""A long fuzz run: the properties of tests/test_fuzz.py on many more generated inputs.

    python -m benchmarks.fuzz_long --minutes 5                # every target, ~5 minutes
    python -m benchmarks.fuzz_long --minutes 2 --targets psf_spec,weights --seed 7

Each target of ``tests/test_fuzz.py`` (:data:`TARGETS`) gets an equal share of the time and
runs Hypothesis batches with fresh seeds until its share is spent. Failing cases do not
stop the run (nothing is shrunk): every distinct failure (its kind, e.g. ``bug TypeError at
deblur/models/net.py:98``) is counted and its first example kept. Unlike the test suite,
inputs that reach the known bugs of files the tests pin with ``xfail`` are drawn too
(``--no-known-bugs`` leaves them out). Risky cases run in the test's worker process under
``RLIMIT_AS``. Writes ``benchmarks/results/fuzz_long.json``: cases tried per target, their
outcomes (``ok``, ``refused``, ...), the failures found, the worker's peak memory growth.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from benchmarks.common import RESULTS
from tests import test_fuzz  # the harness: tests/ as a namespace package (no __init__.py)

BATCH = 100  # examples per Hypothesis run (a fresh seed each)


def run_target(ctx, name: str, seconds: float, first_seed: int) -> dict:
    target = test_fuzz.TARGETS[name]
    outcomes: collections.Counter[str] = collections.Counter()
    failures: dict[str, dict] = {}
    cases = 0
    end = time.monotonic() + seconds
    batch_seed = first_seed

    def record(key: str, detail: str) -> None:
        key, detail = (test_fuzz.scrub_paths(t, ctx.root) for t in (key, detail))
        entry = failures.setdefault(key, {"count": 0, "example": detail[:3000]})
        entry["count"] += 1

    while time.monotonic() < end:

        @seed(batch_seed)
        @settings(
            max_examples=BATCH,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def prop(data) -> None:
            nonlocal cases
            case = data.draw(target.strategy(ctx))
            if time.monotonic() >= end:
                return  # (drawn anyway: Hypothesis wants the same draws for a seed)
            cases += 1
            try:
                outcomes[str(target.check(ctx, case))] += 1
            except test_fuzz.PropertyFailure as e:
                outcomes["FAILED"] += 1
                record(e.key, e.detail)
            except AssertionError as e:  # the CLI's and the file checks' own assertions
                outcomes["FAILED"] += 1
                text = str(e)
                record(text.splitlines()[0][:200] if text else "assertion", f"{case!r}: {text}")
            except Exception as e:  # noqa: BLE001 - the harness itself failed on this case
                outcomes["HARNESS"] += 1
                record(f"harness {type(e).__name__}: {str(e)[:100]}", f"{case!r}")

        prop()
        batch_seed += 1
    return {
        "cases": cases,
        "outcomes": dict(outcomes),
        "failures": [{"kind": k, **v} for k, v in sorted(failures.items())],
        "seeds": [first_seed, batch_seed - 1],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="total running time")
    ap.add_argument("--targets", default=",".join(test_fuzz.TARGETS), help="comma-separated")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000, help="first seed")
    ap.add_argument("--no-known-bugs", action="store_true", help="leave known-bug inputs out")
    ap.add_argument("--hang-seconds", type=float, default=30.0,
                    help="a case taking longer counts as hung")  # fmt: skip
    ap.add_argument("--json", type=Path, default=RESULTS / "fuzz_long.json")
    args = ap.parse_args()
    names = [n for n in args.targets.split(",") if n]
    unknown = sorted(set(names) - set(test_fuzz.TARGETS))
    if unknown:
        ap.error(f"unknown targets {unknown}; choose among {sorted(test_fuzz.TARGETS)}")

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="deblur-fuzz-") as tmp:
        sandbox = test_fuzz.Sandbox(hang_s=args.hang_seconds)
        ctx = test_fuzz.make_context(Path(tmp), sandbox=sandbox, known_bugs=not args.no_known_bugs)
        setup_s = time.monotonic() - t0
        share = max(1.0, (args.minutes * 60 - setup_s) / len(names))
        results = {}
        try:
            for i, name in enumerate(names):
                t = time.monotonic()
                results[name] = run_target(ctx, name, share, args.seed + 1000 * i)
                results[name]["seconds"] = round(time.monotonic() - t, 1)
                r = results[name]
                print(
                    f"{name:20s} {r['cases']:6d} cases in {r['seconds']:6.1f} s  {r['outcomes']}"
                    f"  failures: {[f['kind'] for f in r['failures']] or 'none'}",
                    flush=True,
                )
        finally:
            growth = ctx.sandbox.max_rss_growth_mb
            calls = ctx.sandbox.calls
            ctx.sandbox.close()
    report = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": list(os.getloadavg()),
        },  # fmt: skip
        "minutes": round((time.monotonic() - t0) / 60, 2),
        "known_bug_inputs": not args.no_known_bugs,
        "worker_headroom_mb": test_fuzz.HEADROOM_MB,
        "hang_seconds": args.hang_seconds,
        "worker_calls": calls,
        "worker_peak_rss_growth_mb": round(growth, 1),
        "total_cases": sum(r["cases"] for r in results.values()),
        "targets": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"{report['total_cases']} cases in {report['minutes']} min; wrote {args.json}")
    return 1 if any(r["failures"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
