"""Shared by the benchmarks: where things are, the data folder, timings, JSON results."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The repository root, the benchmarks folder, its results and the committed split lists.
REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
RESULTS = BENCH / "results"
SPLITS = BENCH / "splits"


def data_root() -> str:
    """The data folder: ``DEBLUR_DATA``, by default ``../shared/data`` beside the repository."""
    return os.environ.get("DEBLUR_DATA", str(BENCH / "../../shared/data"))


def timings(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn``, after one warm-up call."""
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON with a final newline (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")
