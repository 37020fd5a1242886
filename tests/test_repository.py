"""The repository itself: no machine's paths in tracked files, modules of bounded size,
imports that only point down."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# absolute paths of a development machine (temporary, home, work and root folders); the
# pattern is built from pieces so this file does not match itself
_ROOTS = ["tmp", "home", "root", "work", "Users", "private/var"]
ABSOLUTE = re.compile(r"(?<![\w.~-])/(?:" + "|".join(_ROOTS) + r")/[\w.-]")
MAX_MODULE_LINES = 400


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / p for p in out.decode().split("\0") if p]


def test_no_absolute_paths_in_tracked_text_files():
    found = []
    for path in _tracked():
        if not path.is_file() or path.suffix in {".png", ".npz", ".safetensors", ".npy", ".jpg"}:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if ABSOLUTE.search(line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:80]}")
    assert not found, "absolute paths in tracked files:\n" + "\n".join(found)


def test_the_scan_finds_an_absolute_path():
    assert ABSOLUTE.search('"out": "/' + 'work/runs/x"')
    assert not ABSOLUTE.search("../shared/data/photos and https://example.org/home/x")


def test_no_module_is_too_long():
    long = {
        str(p.relative_to(REPO)): n
        for p in (REPO / "deblur").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _layer(module: str) -> int:
    """Lower layers never import higher ones (lazy imports inside functions included)."""
    order = [
        ("deblur.__version__", 0), ("deblur.constants", 0), ("deblur.errors", 0),
        ("deblur.atomic", 1), ("deblur.paths", 1),
        ("deblur.layout", 1), ("deblur.io", 2), ("deblur.psf", 2), ("deblur.metrics", 2),
        ("deblur.datasets", 2), ("deblur.synth", 3), ("deblur.models", 3),
        ("deblur.restoration", 4), ("deblur.request", 5), ("deblur.api", 5), ("deblur.training", 5),
        ("deblur.evaluate", 6), ("deblur.batch", 6), ("deblur.files", 6), ("deblur.blurset", 6),
        ("deblur.serve", 7), ("deblur.cli", 7),
        ("deblur.__main__", 8),
    ]  # fmt: skip
    for prefix, layer in order:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return 9


def test_imports_only_point_down():
    bad = []
    for path in (REPO / "deblur").rglob("*.py"):
        rel = path.relative_to(REPO).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if name == "deblur":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("deblur") and t != "deblur" and _layer(t) > _layer(name):
                    if not t.startswith(name):
                        bad.append(f"{name} imports {t}")
    assert not bad, "\n".join(sorted(set(bad)))


def _sys_path_uses(source: str) -> list[int]:
    """Lines of ``source`` that use ``sys.path`` (``sys.path...`` or ``from sys import path``)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            if isinstance(node.value, ast.Name) and node.value.id == "sys":
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "sys":
            if any(a.name == "path" for a in node.names):
                lines.append(node.lineno)
    return lines


def test_the_sys_path_scan_finds_an_edit():
    assert _sys_path_uses("import sys\nx = 1\nsys.path.insert(0, 'here')\n") == [3]
    assert _sys_path_uses("from sys import path\n") == [1]
    assert _sys_path_uses("import os\nos.path.join('a', 'b')\nsys.argv\n") == []


def test_nothing_edits_sys_path():
    """Benchmarks run as modules (``python -m benchmarks.NAME``) and import each other, their
    helpers and the fuzz harness (``tests.test_fuzz``) as packages: no file of the
    repository uses ``sys.path``."""
    found = []
    for path in _tracked():
        if path.suffix != ".py" or not path.is_file():
            continue
        rel = path.relative_to(REPO)
        found += [f"{rel}:{n}" for n in _sys_path_uses(path.read_text())]
    assert not found, "sys.path used in:\n" + "\n".join(found)
