"""Where restore's outputs go and in what format: unknown extensions refused, --ext,
--quality, - for standard input and output; and readable --help for every command."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO, make_image, read_raw, write_png
from typer.testing import CliRunner

from deblur.cli import app

runner = CliRunner()
WIENER = ["--method", "wiener", "--psf", "gaussian:1.0", "--no-guard"]


def cli(*args, stdin: bytes | None = None):
    return runner.invoke(app, [str(a) for a in args], input=stdin, catch_exceptions=False)


def one_error(result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def photo(tmp_path):
    return write_png(tmp_path / "a.png", make_image(32, 48))


# --- outputs that are not what they seem -------------------------------------------------


def test_a_mistyped_extension_is_an_error_not_a_folder(tmp_path, photo):
    one_error(cli("restore", photo, "-o", tmp_path / "out.jgp", *WIENER), 2, "'.jgp'", "end it")
    assert not (tmp_path / "out.jgp").exists()
    # several inputs into what names an image file
    b = write_png(tmp_path / "b.png", make_image(32, 48, seed=1))
    one_error(cli("restore", photo, b, "-o", tmp_path / "x.png", *WIENER), 2, "folder")
    assert not (tmp_path / "x.png").exists()


def test_a_trailing_slash_makes_a_dotted_name_a_folder(tmp_path, photo):
    r = cli("restore", photo, "-o", f"{tmp_path / 'v1.2'}{os.sep}", *WIENER)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "v1.2" / "a.png").is_file()
    # an existing folder needs no slash, and a name without a dot is a folder as before
    r = cli("restore", photo, "-o", tmp_path / "v1.2", "--overwrite", *WIENER)
    assert r.exit_code == 0, r.stderr


def test_ext_changes_the_format_of_every_output(tmp_path, photo):
    r = cli("restore", photo, "--ext", "JPG", *WIENER)
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "a_deblurred.jpg"
    assert r.stdout.strip() == str(out)
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"
    r = cli("restore", tmp_path / "a.png", "-o", tmp_path / "d", "--ext", ".webp", *WIENER)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "d" / "a.webp").read_bytes()[8:12] == b"WEBP"
    one_error(cli("restore", photo, "--ext", "gif", *WIENER), 2, "gif", "png")
    one_error(cli("restore", photo, "-o", tmp_path / "o.jpg", "--ext", "png", *WIENER), 2)


def test_quality_for_jpeg_and_webp(tmp_path, photo):
    big = make_image(96, 128, seed=3)
    src = write_png(tmp_path / "big.png", big)
    sizes = {}
    for name, extra in [("q95.jpg", []), ("q20.jpg", ["--quality", "20"]),
                        ("lossless.webp", []), ("q50.webp", ["--quality", "50"])]:  # fmt: skip
        r = cli("restore", src, "-o", tmp_path / name, "--strength", "0", "--no-guard", *extra)
        assert r.exit_code == 0, r.stderr
        sizes[name] = (tmp_path / name).stat().st_size
    assert sizes["q20.jpg"] < 0.7 * sizes["q95.jpg"]
    assert sizes["q50.webp"] < sizes["lossless.webp"]
    np.testing.assert_array_equal(read_raw(tmp_path / "lossless.webp"), big)  # still lossless
    assert not np.array_equal(read_raw(tmp_path / "q50.webp"), big)
    one_error(cli("restore", src, "-o", tmp_path / "x.png", "--quality", "50", *WIENER), 2)
    one_error(cli("restore", src, "--quality", "0", *WIENER), 2, "--quality")
    one_error(cli("restore", src, "--quality", "101", *WIENER), 2, "--quality")


# --- standard input and output -----------------------------------------------------------


def test_stdin_to_stdout(photo):
    r = cli("restore", "-", *WIENER, stdin=photo.read_bytes())
    assert r.exit_code == 0, r.stderr
    data = r.stdout_bytes
    assert data.startswith(b"\x89PNG")  # the input's own format
    out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert out.shape == (32, 48, 3)
    # with --ext, another format; a kept input (strength 0) is the input's bytes
    r = cli("restore", "-", "-o", "-", "--ext", "jpg", *WIENER, stdin=photo.read_bytes())
    assert r.exit_code == 0 and r.stdout_bytes[:3] == b"\xff\xd8\xff"
    r = cli("restore", "-", "--strength", "0", "--no-guard", stdin=photo.read_bytes())
    assert r.exit_code == 0 and r.stdout_bytes == photo.read_bytes()


def test_file_to_stdout_and_stdin_to_file(tmp_path, photo):
    r = cli("restore", photo, "-o", "-", *WIENER)
    assert r.exit_code == 0, r.stderr
    assert r.stdout_bytes.startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # nothing else written
    r = cli("restore", "-", "-o", tmp_path / "from_stdin.tif", *WIENER, stdin=photo.read_bytes())
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "from_stdin.tif")
    assert read_raw(tmp_path / "from_stdin.tif").shape == (32, 48, 3)


@pytest.mark.parametrize(
    "args, stdin, code, fragment",
    [
        (["-", "A"], b"", 2, "only input"),
        (["A", "A2", "-o", "-"], None, 2, "one input"),
        (["-", "-o", "DIR/"], b"x", 2, "standard input"),
        (["-"], b"", 1, "empty"),
        (["-"], b"not an image at all", 1, "not an image"),
    ],
)
def test_stdio_misuse_is_one_line(tmp_path, photo, args, stdin, code, fragment):
    b = write_png(tmp_path / "b.png", make_image(32, 48, seed=2))
    names = {"A": str(photo), "A2": str(b), "DIR/": f"{tmp_path / 'dir'}{os.sep}"}
    r = cli("restore", *[names.get(a, a) for a in args], *WIENER, stdin=stdin)
    one_error(r, code, fragment)
    assert r.stdout_bytes == b""


def test_a_real_pipe(tmp_path, photo):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    p = subprocess.run(
        [sys.executable, "-m", "deblur", "restore", "-", *WIENER, "--ext", "png"],
        input=photo.read_bytes(), capture_output=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.startswith(b"\x89PNG") and p.stderr == b""


# --- help ------------------------------------------------------------------------------

COMMANDS = ["restore", "blur", "benchmark", "serve", "train", "export", "export-onnx",
            "convert-checkpoint"]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_raw_type_placeholders(command):
    r = runner.invoke(app, [command, "--help"], terminal_width=100)
    assert r.exit_code == 0, r.output
    for raw in ("<int", "<float", "<str>", "<path>", "<list", "range>", "{"):
        assert raw not in r.stdout, (raw, r.stdout)


def test_the_top_level_help_lists_whole_sentences():
    r = runner.invoke(app, ["--help"], terminal_width=100)
    assert r.exit_code == 0
    listed = r.stdout.split("Commands:")[1]
    assert "..." not in listed
    names = [line.split()[0] for line in listed.splitlines() if line[:3].strip()]
    assert names[:2] == ["restore", "blur"] and set(COMMANDS) <= set(names)


def test_train_help_lists_every_variant():
    from deblur.models import VARIANTS

    r = runner.invoke(app, ["train", "--help"], terminal_width=200)
    text = " ".join(r.stdout.split())
    listed = text.split("Network variant:")[1].split("(")[0]
    assert [v.strip() for v in listed.split(",")] == list(VARIANTS)


def test_batch_summary_counts_files_that_kept_the_input_once(tmp_path, photo):
    from test_metadata import ADOBE_RGB, blurred_leaves, tagged

    ring = tagged(tmp_path / "ring.png", blurred_leaves(), ADOBE_RGB, None)
    args = ["--method", "wiener", "--psf", "gaussian:1.5", "--nsr", "1e-7"]
    r = cli("restore", ring, photo, "-o", tmp_path / "out", *args)
    assert r.exit_code == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if line.startswith(str(ring))]
    assert len(notes) == 2  # doubtful, and copied unchanged
    assert (tmp_path / "out" / "ring.png").read_bytes() == ring.read_bytes()
    # the smooth photo is judged already sharp: two files kept their input, four notes
    assert len(r.stderr.splitlines()) == 5
    assert "(2 kept the input" in r.stderr.splitlines()[-1], r.stderr
