"""Totals and the Markdown summary of ``benchmarks/probe_inputs.py``'s results."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

#: Verdicts that the issue's "Done when" counts (the others are findings too).
BAD = ("traceback", "hang", "crash", "allocation failed", "error lines", "input changed")


def _is(r: dict, *kinds: str) -> bool:
    return any(r["verdict"].startswith(k) for k in kinds)


def summarise(results: list[dict], n_all: int, parent_mb: float, wall_s: float) -> dict:
    fork = [r for r in results if r["entry"] == "fork"]
    refused = [r for r in fork if r["rc"] in (1, 2)]
    by_command = {}
    for cmd in sorted({r["command"] for r in fork}):
        rs = [r for r in fork if r["command"] == cmd]
        ref = [r for r in rs if r["rc"] in (1, 2)]
        by_command[cmd] = {
            "cases": len(rs), "refused": len(ref), "accepted": sum(r["rc"] == 0 for r in rs),
            "tracebacks": sum(_is(r, "traceback") for r in rs),
            "hangs": sum(_is(r, "hang") for r in rs), "crashes": sum(_is(r, "crash") for r in rs),
            "not ok": sum(r["verdict"] != "ok" for r in rs),
            "peak_mb_refused": max((r["peak_mb"] for r in ref), default=0),
            "peak_mb_all": max((r["peak_mb"] for r in rs), default=0),
        }  # fmt: skip
    real = [r for r in results if r["entry"] != "fork"]
    return {
        "cases": len(fork), "cases_defined": n_all,
        "verdicts": dict(sorted(Counter(r["verdict"] for r in fork).items())),
        "tracebacks": sum(_is(r, "traceback") for r in fork),
        "hangs": sum(_is(r, "hang") for r in fork),
        "crashes": sum(_is(r, "crash") for r in fork),
        "refused": len(refused), "accepted": sum(r["rc"] == 0 for r in fork),
        "peak_mb_refused": max((r["peak_mb"] for r in refused), default=0),
        "refused_over_1536_mb": sum(r["peak_mb"] > 1536 for r in refused),
        "with_warnings": sum(r["warning"] for r in fork),
        "by_command": by_command,
        "exec_cases": len(real),
        "exec_verdicts": dict(Counter(r["verdict"] for r in real)),
        "exec_peak_mb_refused": max((r["peak_mb"] for r in real if r["rc"] in (1, 2)), default=0),
        "parent_rss_mb": round(parent_mb), "wall_s": round(wall_s, 1),
    }  # fmt: skip


def write_markdown(path: Path, s: dict, results: list[dict]) -> None:
    lines = [
        "# Probe of hostile and malformed inputs (issue 22)",
        "",
        "`OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m benchmarks.probe_inputs`: each case a",
        "child process (forked after the imports; peak memory is the child's `ru_maxrss`,",
        "which includes the imports it inherited), timeout = hang, signal = crash. Full",
        "records in `probe_inputs.json`.",
        "",
        f"**{s['cases']} cases**: {s['tracebacks']} tracebacks, {s['hangs']} hangs, "
        f"{s['crashes']} crashes; {s['refused']} refused, {s['accepted']} accepted; peak "
        f"memory over refused inputs {s['peak_mb_refused']} MB "
        f"({s['refused_over_1536_mb']} refused cases over 1.5 GB); wall {s['wall_s']} s.",
        "",
        "Verdicts: " + ", ".join(f"{k} {v}" for k, v in s["verdicts"].items()) + ".",
        "",
        "| command | cases | refused | accepted | tracebacks | hangs | crashes | not ok "
        "| peak MB (refused) | peak MB (all) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for cmd, c in s["by_command"].items():
        lines.append(f"| {cmd} | {c['cases']} | {c['refused']} | {c['accepted']} | "
                     f"{c['tracebacks']} | {c['hangs']} | {c['crashes']} | {c['not ok']} | "
                     f"{c['peak_mb_refused']} | {c['peak_mb_all']} |")  # fmt: skip
    verdicts = ", ".join(f"{k} {v}" for k, v in s["exec_verdicts"].items())
    lines += ["", f"Also run as `python -m deblur` (the real entry point): {s['exec_cases']} "
              f"cases, verdicts {verdicts}; peak memory over those refused "
              f"{s['exec_peak_mb_refused']} MB.", ""]  # fmt: skip
    bad = [r for r in results if r["verdict"] != "ok"]
    if bad:
        lines += ["## Cases not ok", "", "| entry | command | case | exit | verdict | last line |",
                  "| --- | --- | --- | ---: | --- | --- |"]  # fmt: skip
        for r in bad:
            name = f"{r['category']}: {r['name']}".replace("|", "\\|")
            line = r["line"][:160].replace("|", "\\|")
            lines.append(f"| {r['entry']} | {r['command']} | {name!r} | {r['rc']} | "
                         f"{r['verdict']} | {line} |")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
