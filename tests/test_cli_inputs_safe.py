"""Inputs are never overwritten (issue 22): a report (--json, --csv), an output image, a PSF
preview or an exported file that is the same file as an input (its own name, a hard link or
a symbolic link) is refused with one ``error:`` line and a non-zero exit, and nothing is
written; out-of-range option values such as ``blur --noise inf`` are refused the same way."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import make_image, write_png
from typer.testing import CliRunner

from deblur.cli import app

runner = CliRunner()
WIENER = ["--method", "wiener", "--psf", "gaussian:1.0", "--no-guard"]


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def refused(result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def snapshot(*paths):
    return {p: p.read_bytes() for p in paths}


def unchanged(before: dict) -> bool:
    return all(p.read_bytes() == data for p, data in before.items())


@pytest.fixture
def photo(tmp_path):
    return write_png(tmp_path / "a.png", make_image(24, 32))


@pytest.fixture
def dataset(tmp_path):
    ds = tmp_path / "ds"
    write_png(ds / "sharp/x.png", make_image(24, 32))
    write_png(ds / "blur/x.png", make_image(24, 32, seed=1))
    (ds / "psf").mkdir()
    k = np.zeros((3, 3), np.float32)
    k[1, 1] = 1
    np.save(ds / "psf/x.npy", k)
    return ds


def link_or_skip(kind: str, target, link):
    try:
        (os.link if kind == "hard" else os.symlink)(target, link)
    except (OSError, NotImplementedError) as e:
        pytest.skip(f"no {kind} links here: {e}")
    return link


# --- restore --json ------------------------------------------------------------------------


def test_restore_json_onto_its_input_is_refused(tmp_path, photo):
    before = snapshot(photo)
    out = tmp_path / "out.png"
    line = refused(cli("restore", photo, "-o", out, "--json", photo, *WIENER), 2, "--json")
    assert "input" in line and str(photo) in line
    assert unchanged(before) and not out.exists()


@pytest.mark.parametrize("kind", ["hard", "symbolic"])
def test_restore_json_onto_a_link_to_its_input_is_refused(tmp_path, photo, kind):
    link = link_or_skip(kind, photo, tmp_path / "report.json")
    before = snapshot(photo)
    refused(cli("restore", photo, "-o", tmp_path / "o.png", "--json", link, *WIENER), 2, "input")
    assert unchanged(before) and not (tmp_path / "o.png").exists()


def test_restore_json_onto_one_of_a_batch_of_inputs(tmp_path):
    files = [write_png(tmp_path / f"in/{n}.png", make_image(seed=i)) for i, n in enumerate("abc")]
    before = snapshot(*files)
    r = cli("restore", tmp_path / "in", "-o", tmp_path / "out", "--json", files[1], *WIENER)
    refused(r, 2, "input")
    assert unchanged(before) and not (tmp_path / "out").exists()


def test_restore_json_onto_its_psf_file_or_output_image(tmp_path, photo):
    k = tmp_path / "k.npy"
    np.save(k, np.full((3, 3), 1 / 9, np.float32))
    before = snapshot(photo, k)
    args = ["restore", photo, "--method", "wiener", "--psf", k, "-o", tmp_path / "o.png"]
    refused(cli(*args, "--json", k), 2, "input")
    refused(cli(*args, "--json", tmp_path / "o.png"), 2, "output")
    assert unchanged(before) and not (tmp_path / "o.png").exists()


def test_restore_json_onto_the_weights_is_refused(tmp_path, photo):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"pretend weights")
    before = snapshot(photo, weights)
    r = cli("restore", photo, "--weights", weights, "--json", weights, "-o", tmp_path / "o.png")
    refused(r, 2, "input")
    assert unchanged(before)


def test_restore_json_elsewhere_still_works(tmp_path, photo):
    r = cli("restore", photo, "-o", tmp_path / "o.png", "--json", tmp_path / "r.json", *WIENER)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "r.json").is_file() and (tmp_path / "o.png").is_file()


# --- restore: output images onto other files read -------------------------------------------


def test_restore_output_onto_its_psf_image_is_refused(tmp_path, photo):
    psf_image = write_png(tmp_path / "k.png", np.full((5, 5), 255, np.uint8))
    before = snapshot(photo, psf_image)
    r = cli(
        "restore",
        photo,
        "--method",
        "rl",
        "--iterations",
        "2",
        "--psf",
        psf_image,
        "-o",
        psf_image,
        "--overwrite",
        "--no-guard",
    )
    refused(r, 1, "input")
    assert unchanged(before)


def test_restore_output_onto_a_hard_link_of_its_input_is_refused(tmp_path, photo):
    link = link_or_skip("hard", photo, tmp_path / "b.png")
    before = snapshot(photo)
    refused(cli("restore", photo, "-o", link, "--overwrite", *WIENER), 1, "input")
    assert unchanged(before)


def test_save_psf_preview_onto_an_input_is_refused(tmp_path, monkeypatch):
    import deblur.restoration.blind

    kernel = np.full((3, 3), 1 / 9, np.float32)  # the estimator is not under test here
    monkeypatch.setattr(deblur.restoration.blind, "estimate_psf", lambda *a, **k: kernel)
    a = write_png(tmp_path / "d/a.png", make_image(32, 32))
    b = write_png(tmp_path / "d/a_psf.png", make_image(32, 32, seed=1))  # a.png's preview name
    before = snapshot(a, b)
    r = cli(
        "restore",
        tmp_path / "d",
        "-o",
        tmp_path / "out",
        "--method",
        "rl",
        "--iterations",
        "2",
        "--psf",
        "auto:5",
        "--save-psf",
        tmp_path / "d",
        "--overwrite",
        "--no-guard",
    )
    assert r.exit_code == 1, r.stderr
    assert any("a_psf.png" in line and "input" in line for line in r.stderr.splitlines())
    assert unchanged(before)


# --- benchmark --json / --csv ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "rel"),
    [
        ("--json", "sharp/x.png"),
        ("--json", "blur/x.png"),
        ("--csv", "psf/x.npy"),
        ("--csv", "sharp/x.png"),
    ],
)
def test_benchmark_report_onto_a_dataset_file_is_refused(dataset, flag, rel):
    files = [dataset / "sharp/x.png", dataset / "blur/x.png", dataset / "psf/x.npy"]
    before = snapshot(*files)
    line = refused(cli("benchmark", dataset, "--method", "none", flag, dataset / rel), 2, flag)
    assert "input" in line
    assert unchanged(before)


def test_benchmark_report_onto_a_hard_link_of_a_dataset_file(tmp_path, dataset):
    link = link_or_skip("hard", dataset / "sharp/x.png", tmp_path / "r.json")
    before = snapshot(dataset / "sharp/x.png")
    refused(cli("benchmark", dataset, "--method", "none", "--json", link), 2, "input")
    assert unchanged(before)


def test_benchmark_json_and_csv_the_same_file(tmp_path, dataset):
    r = cli(
        "benchmark", dataset, "--method", "none", "--json", tmp_path / "r", "--csv", tmp_path / "r"
    )
    refused(r, 2, "--json", "--csv")
    assert not (tmp_path / "r").exists()
    r = cli("benchmark", dataset, "--method", "none", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.stderr


# --- blur ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("noise", ["inf", "-inf", "nan", "-0.1", "1e9"])
def test_blur_refuses_a_noise_that_is_not_a_finite_std(tmp_path, photo, noise):
    r = cli("blur", photo, "-o", tmp_path / "ds", "--psf", "disk:1", "--noise", noise)
    refused(r, 2, "--noise")
    assert not (tmp_path / "ds").exists()


def test_blur_refuses_to_overwrite_its_psf_file(tmp_path, dataset):
    psf = dataset / "psf/x.npy"
    before = snapshot(psf, dataset / "sharp/x.png")
    r = cli("blur", dataset / "sharp", "-o", dataset, "--psf", psf, "--overwrite")
    refused(r, 2, "--psf", "overwrite")
    assert unchanged(before)


# --- exported files -------------------------------------------------------------------------


def test_export_onnx_onto_its_weights_is_refused(tmp_path):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"pretend weights")
    before = snapshot(weights)
    refused(cli("export-onnx", weights, weights, "--overwrite"), 2, "input")
    assert unchanged(before)


def test_export_onto_its_checkpoint_is_refused(tmp_path):
    ckpt = tmp_path / "run.safetensors"
    ckpt.write_bytes(b"pretend checkpoint")
    before = snapshot(ckpt)
    refused(cli("export", ckpt, ckpt, "--overwrite"), 2, "input")
    link = link_or_skip("symbolic", ckpt, tmp_path / "w.safetensors")
    refused(cli("export", ckpt, link, "--overwrite"), 2, "input")
    assert unchanged(before)


def test_convert_checkpoint_onto_itself_is_refused(tmp_path):
    old = tmp_path / "old.ckpt"
    old.write_bytes(b"pretend checkpoint")
    before = snapshot(old)
    refused(cli("convert-checkpoint", old, old, "--trust"), 2, "input")
    assert unchanged(before)
