"""The README's quick start runs as written: every ``deblur ...`` command of its shell blocks,
in a temporary folder, on small inputs made here; and the links of the README and docs/
point at files that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, write_png
from typer.testing import CliRunner

from deblur.cli import app

IMAGE = re.compile(r"\.(png|jpe?g|tiff?|bmp|webp)$", re.I)
# pages that another change writes (docs/blind.md: blind estimation, HQS, --method auto)
PENDING = {"docs/blind.md"}


def quick_start_commands(readme: str) -> list[list[str]]:
    """The arguments of every ``deblur`` line in the shell blocks of ``## Quick start``."""
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith("deblur "):
                commands.append(shlex.split(line, comments=True)[1:])
    return commands


def _photo(path: Path, seed: int) -> None:
    """A smooth synthetic photo, as the quick start makes them (128x96)."""
    rng = np.random.default_rng(seed)
    x = rng.random((16, 16, 3), dtype=np.float32)
    x = cv2.resize(x, (128, 96), interpolation=cv2.INTER_CUBIC)
    write_png(path, np.uint8(np.clip(x, 0, 1) * 255))  # any extension OpenCV writes


def _expected_outputs(args: list[str]) -> list[str]:
    """What a command says it writes: ``-o``/``--json`` targets; beside a lone input file
    without ``-o``, ``STEM_deblurred.EXT``."""
    out = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-o", "--output", "--json")]
    if args[0] == "restore" and not out and len(args) == 2 and IMAGE.search(args[1]):
        p = Path(args[1])
        out.append(str(p.with_name(p.stem + "_deblurred" + p.suffix)))
    return out


def test_quick_start_runs_as_written(tmp_path, monkeypatch):
    commands = quick_start_commands((REPO / "README.md").read_text())
    assert {c[0] for c in commands} >= {"blur", "restore", "benchmark"}, commands
    monkeypatch.chdir(tmp_path)
    for i in range(3):  # the quick start's photos folder
        _photo(tmp_path / "photos" / f"photo{i}.png", i)
    runner = CliRunner()
    for n, args in enumerate(commands):
        for a in args[1:]:  # an input photo of yours (your_photo.jpg): a small one
            if IMAGE.search(a) and not a.startswith("-") and not (tmp_path / a).exists():
                if a not in _expected_outputs(args):
                    _photo(tmp_path / a, 10 + n)
        result = runner.invoke(app, args, catch_exceptions=False)
        shown = "deblur " + " ".join(args)
        assert result.exit_code == 0, (shown, result.stdout, result.stderr)
        for out in _expected_outputs(args):
            assert (tmp_path / out).exists(), (shown, out, result.stderr)


def test_the_quick_start_parser_finds_commands_and_options():
    text = "# deblur\n\n## Quick start\n\n```bash\nmkdir x\ndeblur blur a -o 'b c'  # note\n```\n"
    text += "## Next\n\n```bash\ndeblur restore elsewhere\n```\n"
    assert quick_start_commands(text) == [["blur", "a", "-o", "b c"]]


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.name for p in (REPO / "docs").glob("*.md"))]
)
def test_links_point_at_files(page):
    path = REPO / page if page == "README.md" else REPO / "docs" / page
    missing = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        rel = (path.parent / target).resolve().relative_to(REPO).as_posix()
        if not (REPO / rel).exists() and rel not in PENDING:
            missing.append(target)
    assert not missing, f"{page}: links to missing files: {missing}"
