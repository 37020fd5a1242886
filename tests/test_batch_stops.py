"""An error that concerns every file of a batch (unusable weights or device, a full or
read-only output disk) is reported once and stops the batch; an error of one file is
reported for that file and the batch goes on (issue 22)."""

from __future__ import annotations

import errno

import pytest
from conftest import make_image, write_png
from typer.testing import CliRunner

from deblur.cli import app
from deblur.errors import WeightsError, concerns_every_file

runner = CliRunner()
WIENER = ["--method", "wiener", "--psf", "gaussian:1.0", "--no-guard"]


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def photos(tmp_path):
    return [write_png(tmp_path / f"in/p{i}.png", make_image(32, 32, seed=i)) for i in range(3)]


@pytest.fixture
def junk_weights(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"not weights")
    return path


def test_which_errors_concern_every_file():
    assert concerns_every_file(WeightsError("w: bad"))
    assert concerns_every_file(OSError(errno.ENOSPC, "No space left on device"))
    assert concerns_every_file(OSError(errno.EROFS, "Read-only file system"))
    assert not concerns_every_file(OSError(errno.ENOENT, "No such file"))
    assert not concerns_every_file(ValueError("a.png: not an image"))


@pytest.mark.parametrize("method", ["net", "auto"])
def test_bad_weights_are_reported_once(tmp_path, photos, junk_weights, method):
    r = cli(
        "restore",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--method",
        method,
        "--weights",
        junk_weights,
    )
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "junk.safetensors" in lines[0]
    assert not (tmp_path / "out").exists()


def test_an_unavailable_device_is_reported_once(tmp_path, photos):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    r = cli(
        "restore", tmp_path / "in", "-o", tmp_path / "out", "--method", "auto", "--device", "cuda"
    )
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "cuda" in lines[0].lower(), r.stderr


def test_restore_files_refuses_bad_weights_before_any_file(tmp_path, photos, junk_weights):
    from deblur.batch import restore_files

    with pytest.raises(WeightsError, match="junk.safetensors"):
        restore_files([str(tmp_path / "in")], output=tmp_path / "out", weights=junk_weights)


def _full_disk(calls: list):
    def write(*args, **kwargs):
        calls.append(args)
        raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))

    return write


def test_a_full_disk_stops_restore_after_one_file(tmp_path, photos, monkeypatch):
    import deblur.io.results

    calls: list = []
    monkeypatch.setattr(deblur.io.results, "write_result", _full_disk(calls))
    r = cli("restore", tmp_path / "in", "-o", tmp_path / "out", *WIENER)
    assert r.exit_code == 1
    assert len(calls) == 1  # the other files were not tried
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("error: ") and "No space left" in lines[0]
    assert lines[1] == "0 restored, 1 failed, 2 not tried (the error above concerns every file)"


def test_a_full_disk_stops_blur_after_one_file(tmp_path, photos, monkeypatch):
    import deblur.io

    calls: list = []
    monkeypatch.setattr(deblur.io, "write_image", _full_disk(calls))
    r = cli("blur", tmp_path / "in", "-o", tmp_path / "ds", "--psf", "disk:1")
    assert r.exit_code == 1 and len(calls) == 1
    assert r.stderr.splitlines()[-1].endswith("2 not tried (the error above concerns every file)")


def test_errors_of_one_file_do_not_stop_the_batch(tmp_path, photos):
    photos[1].write_bytes(b"not an image")
    r = cli("restore", tmp_path / "in", "-o", tmp_path / "out", *WIENER)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[-1] == "2 restored, 1 failed"


def _dataset(root, n=3):
    for i in range(n):
        write_png(root / f"sharp/x{i}.png", make_image(32, 32, seed=i))
        write_png(root / f"blur/x{i}.png", make_image(32, 32, seed=i + 10))
    return root


def test_benchmark_bad_weights_for_auto_are_one_error(tmp_path, junk_weights):
    ds = _dataset(tmp_path / "ds")
    r = cli("benchmark", ds, "--method", "none,auto", "--weights", junk_weights)
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "junk.safetensors" in lines[0], r.stderr


def test_benchmark_stops_a_method_at_an_error_of_every_pair(tmp_path, monkeypatch):
    import deblur.api
    from deblur.evaluate import run_benchmark

    calls: list = []

    def restore(*args, **kwargs):
        calls.append(args)
        raise WeightsError("w.safetensors: tampered with")

    monkeypatch.setattr(deblur.api, "restore_request", restore)
    ds = _dataset(tmp_path / "ds")
    results = run_benchmark(ds, "none,wiener-auto")
    assert len(calls) == 1
    rows = [r for r in results["images"] if r["method"] == "wiener-auto"]
    assert len(rows) == 3 and all(r["error"] == "w.safetensors: tampered with" for r in rows)
    assert results["mean"]["none"]["count"] == 3
