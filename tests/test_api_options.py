"""Every refusal of the public API is a DeblurError (issue 21): bad values of every option
of ``deblur.restore`` (and of the batch, blur and benchmark functions), in the library's own
words; the command line shows its flags for the same errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_image, write_png
from typer.testing import CliRunner

import deblur
from deblur.batch import blur_files, restore_files
from deblur.errors import (
    DeblurError,
    DeviceError,
    OptionError,
    OptionTypeError,
    PSFError,
    PSFOptionError,
    UsageError,
    WeightsError,
)
from deblur.evaluate import parse_methods, run_benchmark
from deblur.request import OPTION_NAMES, make_request

IMAGE = make_image(24, 32, 3, np.float32)
WIENER = dict(method="wiener", psf="gaussian:1.0", guard=False)

BAD_OPTIONS = [
    ("weights", 3),
    ("iterations", 0),
    ("iterations", 10_001),
    ("iterations", 2.5),
    ("iterations", True),
    ("nsr", 0),
    ("nsr", -1e-3),
    ("nsr", float("nan")),
    ("nsr", float("inf")),
    ("nsr", "0.01"),
    ("wiener_reg", "tikhonov"),
    ("boundary", "mirror"),
    ("boundary", None),
    ("accelerate", "yes"),
    ("tile", -1),
    ("tile", 64.0),
    ("tile_overlap", -8),
    ("device", "tpu"),
    ("guard", "false"),
    ("guard", None),
    ("max_pixels", 0),
    ("max_pixels", 1.5),
    ("strength", 1.5),
    ("strength", -0.1),
    ("strength", float("nan")),
    ("strength", "1"),
]


def test_every_option_has_a_bad_value_here():
    assert {name for name, _ in BAD_OPTIONS} == set(OPTION_NAMES)


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS)
def test_restore_refuses_a_bad_value_of_every_option(name, value):
    with pytest.raises(DeblurError) as e:
        deblur.restore(IMAGE, **{**WIENER, name: value})
    assert isinstance(e.value, OptionError) and e.value.option == name
    assert isinstance(e.value, ValueError)  # callers catching ValueError keep working
    message = str(e.value)
    assert message.startswith(name) and "--" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("kwargs", "kind", "fragment"),
    [
        (dict(method="sharpen"), OptionError, "unknown method"),
        (dict(method=None), OptionError, "unknown method"),
        (dict(method="rl"), OptionError, "needs a PSF"),
        (dict(method="net", psf="disk:2"), OptionError, "no PSF"),
        (dict(method="rl", psf="blob:3"), PSFOptionError, "bad PSF spec"),
        (dict(method="rl", psf="auto:4"), PSFOptionError, "odd"),
        (dict(method="rl", psf="auto:x"), PSFOptionError, "auto:SIZE"),
        (dict(method="rl", psf=np.zeros((3, 3))), PSFOptionError, "zero"),
        (dict(method="rl", psf=np.ones((3, 3, 3))), PSFOptionError, "psf"),
        (dict(method="rl", psf=b"disk:2"), PSFOptionError, "psf"),
        (dict(method="rl", psf="missing.npy"), PSFOptionError, "missing.npy"),
        (dict(method="wiener", psf="gaussian:20"), PSFError, "larger than"),
    ],
)
def test_restore_refuses_bad_methods_and_psfs(kwargs, kind, fragment):
    with pytest.raises(kind, match=fragment) as e:
        deblur.restore(IMAGE, **kwargs)
    assert isinstance(e.value, DeblurError) and "--" not in str(e.value)


def test_psf_errors_stay_psf_errors():
    with pytest.raises(PSFError):
        deblur.restore(IMAGE, "rl", psf="blob:3")


def test_bad_images_are_deblur_errors_of_the_old_kinds():
    with pytest.raises(OptionTypeError, match="dtype") as e:
        deblur.restore(np.zeros((8, 8), np.int64), "wiener", psf="disk:1")
    assert isinstance(e.value, TypeError) and isinstance(e.value, ValueError)
    with pytest.raises(OptionError, match="shape"):
        deblur.restore(np.zeros((4, 8, 8, 3), np.float32), "wiener", psf="disk:1")
    with pytest.raises(DeblurError, match="too large"):
        deblur.restore(IMAGE, "wiener", psf="disk:1", max_pixels=100)


def test_auto_psf_of_a_batch_is_refused():
    torch = pytest.importorskip("torch")
    batch = torch.rand(2, 3, 32, 32)
    with pytest.raises(OptionError, match="one image at a time"):
        deblur.restore(batch, "rl", psf="auto")


def test_network_refusals(tmp_path, tiny_weights):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk")
    with pytest.raises(WeightsError):
        deblur.restore(IMAGE, "net", weights=junk, device="cpu")
    with pytest.raises(OptionError, match="too small") as e:  # the network's own rule
        deblur.restore(IMAGE, "net", weights=tiny_weights, device="cpu", tile=8)
    assert e.value.option == "tile"
    with pytest.raises(OptionError) as e:
        deblur.restore(IMAGE, "net", weights=tiny_weights, device="cpu", tile_overlap=10**6)
    assert e.value.option == "tile_overlap"
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA"):
            deblur.restore(IMAGE, "net", weights=tiny_weights, device="cuda")


def test_make_request_refuses_an_unknown_option():
    with pytest.raises(OptionTypeError, match="not an option") as e:
        make_request("wiener", "disk:1", nsrr=0.1)
    assert e.value.option == "nsrr"


def test_load_image_refuses_a_bad_limit(tmp_path):
    path = write_png(tmp_path / "a.png", make_image())
    with pytest.raises(OptionError, match="max_pixels"):
        deblur.load_image(path, max_pixels=0)
    with pytest.raises(DeblurError, match="too large"):
        deblur.load_image(path, max_pixels=10)


# --- batches, blur and benchmark ----------------------------------------------------------


@pytest.fixture
def photo(tmp_path):
    return write_png(tmp_path / "in/a.png", make_image())


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(WIENER, nsr=0),
        dict(WIENER, strength=2),
        dict(WIENER, iterations=-1),
        dict(WIENER, max_pixels=-5),
        dict(WIENER, suffix="a/b"),
        dict(WIENER, save_psf="k"),
        dict(method="rl"),
        dict(method="net", psf="disk:1"),
        dict(method="rl", psf="blob:3"),
        dict(WIENER, colour="srgb"),
    ],
)
def test_restore_files_refuses_before_any_file(tmp_path, photo, kwargs):
    with pytest.raises(UsageError) as e:
        restore_files([str(photo)], output=tmp_path / "out", **kwargs)
    assert isinstance(e.value, DeblurError) and "--" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_restore_files_takes_a_request(tmp_path, photo):
    request = make_request("wiener", "gaussian:1.0", folders=True, guard=False)
    plan, outcomes = restore_files([str(photo)], output=tmp_path / "o.png", request=request)
    assert [o.error for o in outcomes] == [None]
    assert (tmp_path / "o.png").is_file()
    with pytest.raises(UsageError, match="not both"):
        restore_files([str(photo)], request=request, nsr=0.1)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        (dict(psf="disk:1", noise=float("inf")), "noise"),
        (dict(psf="disk:1", noise="x"), "noise"),
        (dict(psf="disk:1", seed=-1), "seed"),
        (dict(psf="disk:1", per_image=0), "per_image"),
        (dict(shake="9"), "shake"),
        (dict(psf="auto"), "psf"),
        (dict(psf="motion:x"), "psf"),
        (dict(psf="disk:1", max_pixels=0), "max_pixels"),
    ],
)
def test_blur_files_refuses_bad_options(tmp_path, photo, kwargs, option):
    with pytest.raises(OptionError) as e:
        blur_files([str(photo)], tmp_path / "ds", **kwargs)
    assert e.value.option == option and "--" not in str(e.value)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        (dict(methods="none,sharpen"), "methods"),
        (dict(methods=","), "methods"),
        (dict(methods="wiener", nsr=0), "nsr"),
        (dict(methods="rl", iterations=0), "iterations"),
        (dict(methods="net", device="tpu"), "device"),
        (dict(methods="none", max_pixels=0), "max_pixels"),
    ],
)
def test_run_benchmark_refuses_bad_options(tmp_path, kwargs, option):
    write_png(tmp_path / "ds/blur/a.png", make_image())
    write_png(tmp_path / "ds/sharp/a.png", make_image())
    with pytest.raises(OptionError) as e:
        run_benchmark(tmp_path / "ds", **kwargs)
    assert e.value.option == option


def test_parse_methods_refusal_is_a_value_error_too():
    with pytest.raises(ValueError, match="unknown benchmark method"):
        parse_methods("none,blob")


# --- the command line names its flags -----------------------------------------------------

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--method", "wiener", "--psf", "disk:1", "--nsr", "0"], "error: --nsr must be"),
        (["--method", "wiener", "--psf", "disk:1", "--nsr", "inf"], "error: --nsr must be"),
        (["--method", "rl"], "error: --psf missing: method 'rl' needs a PSF"),
        (["--psf", "disk:1"], "error: --psf is not for method 'net'"),
        (["--method", "rl", "--psf", "disk:1", "--save-psf", "k"], "error: --save-psf writes"),
        (["--method", "rl", "--psf", "disk:1", "--suffix", "a/b"], "error: --suffix 'a/b'"),
    ],
)
def test_cli_shows_flags_for_library_errors(tmp_path, photo, args, fragment):
    r = runner.invoke(app_(), ["restore", str(photo), *args], catch_exceptions=False)
    assert r.exit_code == 2, r.stderr
    assert r.stderr.startswith(fragment) and len(r.stderr.splitlines()) == 1, r.stderr


def test_cli_tile_rule_is_the_networks(tmp_path, photo, tiny_weights):
    args = ["restore", str(photo), "--weights", str(tiny_weights), "--device", "cpu"]
    r = runner.invoke(app_(), [*args, "--tile", "8"], catch_exceptions=False)
    assert r.exit_code == 2 and r.stderr.startswith("error: --tile 8 is too small"), r.stderr
    r = runner.invoke(
        app_(),
        [*args, "--tile", "40", "--tile-overlap", "8", "-o", str(tmp_path / "o.png")],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.stderr


def test_cli_per_file_errors_show_flags(tmp_path, photo):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/a.png").write_bytes(b"keep")
    args = ["restore", str(photo), "-o", str(tmp_path / "out"), "--method", "wiener"]
    r = runner.invoke(app_(), [*args, "--psf", "disk:1", "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 1
    assert "(use --overwrite to replace it)" in r.stderr
    assert "use --overwrite" in (tmp_path / "r.json").read_text()


def app_():
    from deblur.cli import app

    return app
