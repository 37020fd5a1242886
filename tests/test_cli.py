"""The command line: restore, blur, benchmark (CliRunner, plus one real subprocess each)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image, read_raw, run_module, write_png
from typer.testing import CliRunner

from deblur.cli import app
from deblur.datasets import find_pairs

runner = CliRunner()
# these tests are about files, not the result check: --no-guard keeps its notes out of stderr
WIENER = ["--method", "wiener", "--psf", "gaussian:1.0", "--no-guard"]


def cli(*args, cwd: Path | None = None, monkeypatch=None):
    if cwd is not None:
        monkeypatch.chdir(cwd)
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def assert_one_error_line(result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0]
    return lines[0]


# --- restore: where outputs go ---------------------------------------------------------


def test_restore_file_to_file(tmp_path, image_file):
    src = image_file("a.png")
    r = cli("restore", src, "-o", tmp_path / "out.png", *WIENER)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "out.png")
    assert r.stderr == ""
    assert read_raw(tmp_path / "out.png").shape == (24, 32, 3)


def test_restore_file_into_folder(tmp_path, image_file):
    src = image_file("a.png")
    (tmp_path / "existing").mkdir()
    assert cli("restore", src, "-o", tmp_path / "existing", *WIENER).exit_code == 0
    assert (tmp_path / "existing/a.png").is_file()
    # OUT without an image extension is a folder, created
    assert cli("restore", src, "-o", tmp_path / "new/dir", *WIENER).exit_code == 0
    assert (tmp_path / "new/dir/a.png").is_file()


def test_restore_folder_recursive_keeps_relative_paths(tmp_path, image_file):
    image_file("in/a.png")
    image_file("in/sub/deeper/b.jpg", seed=1)
    r = cli("restore", tmp_path / "in", "-o", tmp_path / "out", "--recursive", *WIENER)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out/a.png").is_file()
    assert (tmp_path / "out/sub/deeper/b.jpg").is_file()
    assert "2 restored, 0 failed" in r.stderr
    # without --recursive only the folder's own images
    r = cli("restore", tmp_path / "in", "-o", tmp_path / "flat", *WIENER)
    assert r.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "flat").rglob("*")) == ["a.png"]


def test_restore_default_beside_input_and_suffix(tmp_path, image_file):
    src = image_file("a.png")
    assert cli("restore", src, *WIENER).exit_code == 0
    assert (tmp_path / "a_deblurred.png").is_file()
    assert cli("restore", src, "--suffix", "_x", *WIENER).exit_code == 0
    assert (tmp_path / "a_x.png").is_file()
    assert cli("restore", src, "-o", tmp_path / "o", "--suffix", "_y", *WIENER).exit_code == 0
    assert (tmp_path / "o/a_y.png").is_file()


def test_restore_glob(tmp_path, image_file, monkeypatch):
    image_file("in/a.png")
    image_file("in/b.png")
    image_file("in/c.jpg")
    r = cli("restore", "in/*.png", "-o", "out", *WIENER, cwd=tmp_path, monkeypatch=monkeypatch)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def test_restore_psf_folder(tmp_path, image_file):
    from deblur.psf import disk, gaussian

    image_file("in/a.png")
    image_file("in/b.png", seed=2)
    (tmp_path / "k").mkdir()
    np.save(tmp_path / "k/a.npy", gaussian(1.0))
    np.save(tmp_path / "k/b.npy", disk(2))
    r = cli(
        "restore",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--method",
        "rl",
        "--iterations",
        "3",
        "--psf",
        tmp_path / "k",
    )
    assert r.exit_code == 0, r.stderr
    # a missing STEM.npy fails that file only
    (tmp_path / "k/b.npy").unlink()
    r = cli(
        "restore",
        tmp_path / "in",
        "-o",
        tmp_path / "out2",
        "--method",
        "rl",
        "--iterations",
        "3",
        "--psf",
        tmp_path / "k",
        "--no-guard",
    )
    assert r.exit_code == 1
    assert (tmp_path / "out2/a.png").is_file() and not (tmp_path / "out2/b.png").exists()
    lines = r.stderr.splitlines()
    assert lines == [
        f"error: {tmp_path / 'in/b.png'}: no PSF file {tmp_path / 'k/b.npy'}",
        "1 restored, 1 failed",
    ]


# --- restore: channels and bit depth ---------------------------------------------------


def test_rgba_alpha_untouched_and_16_bit_kept(tmp_path):
    rgba = make_image(24, 32, 4, np.uint8, seed=4)
    rgba[:, :, 3] = np.arange(32, dtype=np.uint8)[None, :] * 8  # a distinct alpha ramp
    write_png(tmp_path / "rgba.png", rgba)
    write_png(tmp_path / "deep.png", make_image(24, 32, 3, np.uint16, seed=5))
    write_png(tmp_path / "grey.png", make_image(24, 32, 1, np.uint16, seed=6))
    r = cli(
        "restore",
        tmp_path / "rgba.png",
        tmp_path / "deep.png",
        tmp_path / "grey.png",
        "-o",
        tmp_path / "out",
        *WIENER,
    )
    assert r.exit_code == 0, r.stderr
    out = read_raw(tmp_path / "out/rgba.png")
    assert out.dtype == np.uint8 and out.shape == (24, 32, 4)
    np.testing.assert_array_equal(out[:, :, 3], rgba[:, :, 3])
    deep = read_raw(tmp_path / "out/deep.png")
    assert deep.dtype == np.uint16 and deep.shape == (24, 32, 3)
    assert len(np.unique(deep)) > 256  # really 16-bit values, not 8-bit ones scaled
    grey = read_raw(tmp_path / "out/grey.png")
    assert grey.dtype == np.uint16 and grey.shape == (24, 32)


# --- restore: refusing to clobber ------------------------------------------------------


def test_output_collision_is_a_usage_error(tmp_path, image_file):
    image_file("x/a.png")
    image_file("y/a.png")
    r = cli("restore", tmp_path / "x/a.png", tmp_path / "y/a.png", "-o", tmp_path / "out", *WIENER)
    assert_one_error_line(r, 2, "would both be written")
    assert not (tmp_path / "out").exists()


def test_existing_output_refused_without_overwrite(tmp_path, image_file):
    image_file("in/a.png")
    image_file("in/b.png", seed=1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out/a.png").write_bytes(b"keep me")
    r = cli("restore", tmp_path / "in", "-o", tmp_path / "out", *WIENER)
    assert r.exit_code == 1
    assert (tmp_path / "out/a.png").read_bytes() == b"keep me"
    assert (tmp_path / "out/b.png").is_file()  # the batch went on
    assert r.stderr.splitlines()[0].startswith(f"error: {tmp_path / 'out/a.png'}: exists")
    assert r.stderr.splitlines()[-1] == "1 restored, 1 failed"
    r = cli("restore", tmp_path / "in", "-o", tmp_path / "out", "--overwrite", *WIENER)
    assert r.exit_code == 0, r.stderr
    assert read_raw(tmp_path / "out/a.png").shape == (24, 32, 3)


def test_input_never_overwritten(tmp_path, image_file):
    src = image_file("a.png")
    before = src.read_bytes()
    r = cli("restore", src, "-o", src, "--overwrite", *WIENER)
    assert_one_error_line(r, 1, "input")
    r = cli("restore", src, "--suffix", "", "--overwrite", *WIENER)
    assert_one_error_line(r, 1, "input")
    # a.png's default output a_deblurred.png is itself an input: refused
    other = image_file("a_deblurred.png", seed=3)
    other_before = other.read_bytes()
    r = cli("restore", src, other, "--overwrite", *WIENER)
    assert r.exit_code == 1
    assert src.read_bytes() == before and other.read_bytes() == other_before


def test_batch_goes_on_past_a_corrupt_file(tmp_path, image_file):
    image_file("in/a.png")
    (tmp_path / "in/b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    image_file("in/c.png", seed=1)
    r = cli("restore", tmp_path / "in", "-o", tmp_path / "out", *WIENER)
    assert r.exit_code == 1
    assert (tmp_path / "out/a.png").is_file() and (tmp_path / "out/c.png").is_file()
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and lines[-1] == "2 restored, 1 failed"
    assert lines[0].startswith("error: ") and "b.png" in lines[0]
    assert lines[0].count("b.png") == 1  # the file is named once
    assert r.stdout.splitlines() == [str(tmp_path / "out/a.png"), str(tmp_path / "out/c.png")]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["restore", "missing.png", *WIENER], 2, "missing.png"),
        (["restore", "notes.txt", *WIENER], 1, "notes.txt"),
        (["restore", "fake.png", *WIENER], 1, "fake.png"),
        (["restore", "a.png", "--method", "rl", "--psf", "blob:3"], 2, "blob:3"),
        (["restore", "a.png", "--method", "wiener", "--psf", "nofile.npy"], 2, "nofile.npy"),
        (["restore", "a.png", "--method", "rl"], 2, "--psf"),
        (["restore", "a.png", "--method", "wiener", "--psf", "gaussian:30"], 1, "larger"),
        (["restore", "a.png", "--psf", "disk:2"], 2, "--psf"),
        (["restore", "a.png", "--nsr", "0", "--method", "wiener", "--psf", "disk:1"], 2, "nsr"),
        (["restore", "empty", *WIENER], 2, "no images"),
        (["restore", "*.tif", *WIENER], 2, "match"),
        (["blur", "a.png", "-o", "ds", "--psf", "disk:1", "--shake", "3,5"], 2, "either"),
        (["blur", "a.png", "-o", "ds", "--shake", "9"], 2, "--shake"),
        (["blur", "a.png", "-o", "ds", "--psf", "motion:x"], 2, "motion:x"),
        (["blur", "fake.png", "-o", "ds", "--psf", "disk:1"], 1, "fake.png"),
        (["benchmark", "nowhere"], 2, "nowhere"),
        (["benchmark", "empty"], 1, "no image pairs"),
        (["benchmark", "ds", "--method", "none,sharpen"], 2, "sharpen"),
    ],
)
def test_bad_input_gives_one_error_line(tmp_path, image_file, monkeypatch, args, code, fragment):
    image_file("a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.png").write_bytes(b"not a png at all")
    (tmp_path / "empty").mkdir()
    image_file("ds/blur/a.png")
    image_file("ds/sharp/a.png")
    r = cli(*args, cwd=tmp_path, monkeypatch=monkeypatch)
    assert_one_error_line(r, code, fragment)
    assert r.stdout == ""


def test_missing_weights_is_one_clean_line(tmp_path, image_file):
    models = pytest.importorskip("deblur.models")
    if not hasattr(models, "load_model"):
        pytest.skip("deblur.models.load_model not written yet")
    src = image_file("a.png")
    r = cli("restore", src, "--weights", tmp_path / "missing.safetensors")
    assert_one_error_line(r, 1, "missing.safetensors")


def test_restore_with_the_network(tmp_path, tiny_weights):
    rgba = make_image(24, 32, 4, np.uint16, seed=2)
    write_png(tmp_path / "a.png", rgba)
    r = cli("restore", tmp_path / "a.png", "--weights", tiny_weights, "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    out = read_raw(tmp_path / "a_deblurred.png")
    assert out.dtype == np.uint16 and out.shape == rgba.shape
    np.testing.assert_array_equal(out[:, :, 3], rgba[:, :, 3])


def test_restore_subprocess(tmp_path, image_file):
    image_file("in/a.png")
    image_file("in/b.png", seed=1)
    (tmp_path / "in/c.png").write_bytes(b"garbage")
    p = run_module(
        "restore",
        "in",
        "-o",
        "out",
        "--method",
        "rl",
        "--iterations",
        "2",
        "--psf",
        "disk:1.5",
        "--threads",
        "1",
        cwd=tmp_path,
    )
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert p.stdout.splitlines() == [str(Path("out/a.png")), str(Path("out/b.png"))]
    # the check's notes (if any) come first; the summary counts them
    assert p.stderr.splitlines()[-1].startswith("2 restored")
    assert p.stderr.splitlines()[-1].endswith(", 1 failed")
    assert [x for x in p.stderr.splitlines() if x.startswith("error: ")] == [
        next(x for x in p.stderr.splitlines() if "c.png" in x)
    ]


def test_version_and_help():
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.strip() == "deblur 0.1.0"
    for cmd in ("restore", "blur", "benchmark"):
        r = cli(cmd, "--help")
        assert r.exit_code == 0 and "default" in r.stdout


# --- blur ------------------------------------------------------------------------------


def test_blur_makes_a_dataset_deterministically(tmp_path, image_file):
    image_file("photos/a.png", h=40, w=40)
    image_file("photos/b.jpg", seed=1, h=40, w=48)
    args = ["blur", tmp_path / "photos", "--shake", "5,9", "--noise", "0.01", "--seed", "7"]
    r = cli(*args, "-o", tmp_path / "ds1")
    assert r.exit_code == 0, r.stderr
    pairs = find_pairs(tmp_path / "ds1")
    assert [p.key for p in pairs] == ["a.png", "b.png"]
    assert all(p.psf is not None for p in pairs)
    k = np.load(pairs[0].psf)
    assert k.dtype == np.float32 and 5 <= k.shape[0] <= 9 and abs(k.sum() - 1) < 1e-5
    blurred, sharp = read_raw(pairs[1].blur), read_raw(pairs[1].sharp)
    assert blurred.dtype == np.uint8 and blurred.shape == sharp.shape == (40, 48, 3)
    assert not np.array_equal(blurred, sharp)

    assert cli(*args, "-o", tmp_path / "ds2").exit_code == 0
    assert cli(*args[:-1], "8", "-o", tmp_path / "ds3").exit_code == 0
    for rel in ("blur/a.png", "blur/b.png", "sharp/a.png", "psf/a.npy", "psf/b.npy"):
        assert (tmp_path / "ds1" / rel).read_bytes() == (tmp_path / "ds2" / rel).read_bytes()
    assert (tmp_path / "ds1/psf/a.npy").read_bytes() != (tmp_path / "ds3/psf/a.npy").read_bytes()

    # existing outputs are refused without --overwrite
    r = cli(*args, "-o", tmp_path / "ds1")
    assert r.exit_code == 1 and "exists" in r.stderr
    assert cli(*args, "-o", tmp_path / "ds1", "--overwrite").exit_code == 0


def test_blur_fixed_psf_and_variants(tmp_path, image_file):
    from deblur.psf import motion

    image_file("a.png")
    r = cli(
        "blur",
        tmp_path / "a.png",
        "-o",
        tmp_path / "ds",
        "--psf",
        "motion:5,30",
        "--per-image",
        "2",
        "--noise",
        "0",
    )
    assert r.exit_code == 0, r.stderr
    assert [p.key for p in find_pairs(tmp_path / "ds")] == ["a_0.png", "a_1.png"]
    np.testing.assert_array_equal(np.load(tmp_path / "ds/psf/a_1.npy"), motion(5, 30))


def test_blur_subprocess(tmp_path, image_file):
    image_file("a.png")
    p = run_module("blur", "a.png", "-o", "ds", "--psf", "gaussian:1", "--seed", "3", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(Path("ds/blur/a.png"))
    assert len(find_pairs(tmp_path / "ds")) == 1


# --- benchmark -------------------------------------------------------------------------


@pytest.fixture
def dataset(tmp_path, image_file):
    image_file("photos/a.png", h=32, w=32)
    image_file("photos/b.png", seed=1, h=32, w=40)
    r = cli(
        "blur",
        tmp_path / "photos",
        "-o",
        tmp_path / "ds",
        "--psf",
        "gaussian:1.2",
        "--noise",
        "0.005",
    )
    assert r.exit_code == 0, r.stderr
    return tmp_path / "ds"


def test_benchmark_table_json_csv(tmp_path, dataset):
    from deblur.io import read_image
    from deblur.metrics import psnr

    r = cli(
        "benchmark",
        dataset,
        "--method",
        "none,wiener,rl",
        "--iterations",
        "5",
        "--crop",
        "2",
        "--json",
        tmp_path / "r.json",
        "--csv",
        tmp_path / "r.csv",
    )
    assert r.exit_code == 0, r.stderr
    assert "PSNR" in r.stdout and "SSIM" in r.stdout and "2 px border crop" in r.stdout
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line}
    assert {"none", "wiener", "rl"} <= set(rows)

    results = json.loads((tmp_path / "r.json").read_text())
    assert results["methods"] == ["none", "wiener", "rl"]
    assert results["settings"]["crop"] == 2
    a = find_pairs(dataset)[0]
    expected = psnr(read_image(a.blur).color, read_image(a.sharp).color, crop=2)
    row = next(x for x in results["images"] if x["key"] == "a.png" and x["method"] == "none")
    assert row["psnr"] == pytest.approx(expected, abs=1e-6)
    means = results["mean"]
    assert means["wiener"]["count"] == 2 and means["wiener"]["failed"] == 0
    assert means["rl"]["psnr"] > means["none"]["psnr"]  # restoration helps
    assert f"{means['none']['psnr']:.2f}" in " ".join(rows["none"])

    with open(tmp_path / "r.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 * 3 + 3
    none_a = next(x for x in table if x["key"] == "a.png" and x["method"] == "none")
    assert float(none_a["psnr"]) == pytest.approx(expected, abs=1e-6)
    assert [x["method"] for x in table if x["key"] == "MEAN"] == ["none", "wiener", "rl"]


def test_benchmark_says_when_a_psf_is_missing(tmp_path, dataset):
    (dataset / "psf/b.npy").unlink()
    r = cli("benchmark", dataset, "--method", "none,rl", "--iterations", "2")
    assert r.exit_code == 1
    assert "none" in r.stdout and "rl" in r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1
    assert "rl failed on 1 of 2" in lines[0] and "no PSF" in lines[0]
    assert str(dataset / "psf/b.npy") in lines[0]


def test_benchmark_default_methods_without_net(dataset):
    from deblur import evaluate as bench

    pairs = find_pairs(dataset)
    assert bench.default_methods(pairs, net=False) == ["none", "rl", "wiener"]
    (dataset / "psf/a.npy").unlink()
    assert bench.default_methods(find_pairs(dataset), net=True) == ["none", "net"]


def test_benchmark_subprocess(tmp_path, dataset):
    p = run_module("benchmark", "ds", "--method", "none,wiener", "--json", "r.json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "wiener" in p.stdout
    assert json.loads((tmp_path / "r.json").read_text())["mean"]["none"]["count"] == 2


# --- click's own usage errors are one line too ----------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["restore", "a.png", "--bogus"], "No such option: --bogus"),
        (["restore", "a.png", "--method", "nope"], "--method"),
        (["restore", "a.png", "--tile", "-3"], "--tile"),
        (["restore"], "Missing argument"),
        (["blur", "a.png"], "Missing option"),
        (["nosuch"], "No such command"),
    ],
)
def test_click_usage_errors_are_one_line(args, fragment):
    line = assert_one_error_line(runner.invoke(app, args), 2, fragment)
    assert "--help" in line  # points at the help of the command that failed


def test_no_arguments_prints_help():
    r = runner.invoke(app, [])
    assert r.exit_code == 2
    assert "restore" in r.output and "Usage:" in r.output


def test_usage_error_in_a_real_process(tmp_path):
    p = run_module("restore", "a.png", "--bogus", cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        "error: No such option: --bogus (see 'deblur restore --help')"
    ], p.stderr
