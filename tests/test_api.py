"""deblur.restore (the library entry point) and the lazy package namespace."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, make_image

from deblur.api import restore
from deblur.psf import gaussian


@pytest.mark.parametrize("method", ["rl", "wiener"])
def test_numpy_kinds_and_shapes(method):
    opts = dict(psf=gaussian(1.0), iterations=3)
    for image in (
        make_image(24, 32, 3, np.float32),
        make_image(24, 32, 3, np.uint8),
        make_image(24, 32, 3, np.uint16),
        make_image(24, 32, 1, np.uint8),  # (H, W)
        make_image(24, 32, 1, np.float32)[:, :, None],  # (H, W, 1)
    ):
        out = restore(image, method, **opts)
        assert isinstance(out, np.ndarray)
        assert out.dtype == np.float32 and out.shape == image.shape
        assert 0 <= out.min() and out.max() <= 1


def test_integer_input_is_scaled():
    x = make_image(24, 32, 3, np.float32)
    a = restore(x, "wiener", psf=gaussian(1.0))
    b = restore(np.round(x * 65535).astype(np.uint16), "wiener", psf=gaussian(1.0))
    np.testing.assert_allclose(a, b, atol=1e-3)


@pytest.mark.parametrize("method", ["rl", "wiener"])
def test_tensor_round_trip(method):
    x = torch.from_numpy(make_image(24, 32, 3, np.float32)).permute(2, 0, 1)[None]
    x = torch.cat([x, x.flip(-1)])  # B = 2
    out = restore(x, method, psf=gaussian(1.0), iterations=3)
    assert isinstance(out, torch.Tensor)
    assert out.dtype == torch.float32 and out.shape == x.shape
    # the same result as the numpy path
    ref = restore(x[1].permute(1, 2, 0).numpy(), method, psf=gaussian(1.0), iterations=3)
    np.testing.assert_allclose(out[1].permute(1, 2, 0).numpy(), ref, atol=1e-5)


def test_restoration_helps():
    from deblur.psf import blur

    sharp = torch.from_numpy(make_image(32, 32, 3, np.float32, seed=3)).permute(2, 0, 1)[None]
    k = gaussian(1.5)
    blurred = blur(sharp, k)
    out = restore(blurred, "rl", psf=k, iterations=30, guard=False)
    assert (out - sharp).abs().mean() < (blurred - sharp).abs().mean()


def test_rgba_alpha_untouched():
    rgba = make_image(24, 32, 4, np.uint8, seed=1)
    out = restore(rgba, "wiener", psf="gaussian:1.0")
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[:, :, 3], rgba[:, :, 3] / np.float32(255))
    t = torch.from_numpy(make_image(24, 32, 4, np.float32)).permute(2, 0, 1)[None]
    out = restore(t, "rl", psf="disk:1", iterations=2)
    assert torch.equal(out[:, 3], t[:, 3])
    # grey + alpha
    ga = make_image(24, 32, 2, np.float32)
    out = restore(ga, "wiener", psf=gaussian(1.0))
    assert out.shape == ga.shape and np.array_equal(out[:, :, 1], ga[:, :, 1])


def test_psf_as_spec_file_and_array(tmp_path):
    x = make_image(24, 32, 3, np.float32)
    np.save(tmp_path / "k.npy", gaussian(1.0) * 7)  # normalised on load
    a = restore(x, "wiener", psf="gaussian:1.0")
    b = restore(x, "wiener", psf=tmp_path / "k.npy")
    c = restore(x, "wiener", psf=gaussian(1.0) * 3)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(method="rl"), "needs a PSF"),
        (dict(method="wiener"), "needs a PSF"),
        (dict(method="sharpen", psf="disk:2"), "unknown method"),
        (dict(method="net", psf="disk:2"), "no PSF"),
        (dict(method="rl", psf="blob:3"), "bad PSF spec"),
        (dict(method="rl", psf="gaussian:20"), "larger than"),
        (dict(method="wiener", psf="disk:1", nsr=0), "nsr"),
        (dict(method="rl", psf="disk:1", iterations=0), "iterations"),
        (dict(method="rl", psf="disk:1", boundary="mirror"), "boundary"),
        (dict(method="rl", psf=np.zeros((3, 3))), "zero"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        restore(make_image(24, 32, 3, np.float32), **kwargs)


def test_bad_images():
    with pytest.raises(ValueError, match="shape"):
        restore(np.zeros((4, 8, 8, 3), np.float32), "wiener", psf="disk:1")
    with pytest.raises(TypeError, match="dtype"):
        restore(np.zeros((8, 8), np.int64), "wiener", psf="disk:1")
    with pytest.raises(ValueError, match="shape"):
        restore(torch.zeros(3, 8, 8), "wiener", psf="disk:1")


def test_package_exports_are_lazy():
    code = (
        "import sys, deblur\n"
        "assert 'torch' not in sys.modules, 'import deblur loaded torch'\n"
        "assert deblur.__version__ == '0.1.0'\n"
        "import deblur.restoration.classical\n"
        "from deblur import restore, richardson_lucy, wiener, psnr, ssim, load_image, save_image\n"
        "assert callable(restore) and restore.__module__ == 'deblur.api'\n"
        "assert deblur.restore is restore\n"
        "assert wiener is sys.modules['deblur.restoration.classical'].wiener\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_net_on_array_and_tensor(tiny_weights):
    x = make_image(24, 40, 3, np.float32)
    out = restore(x, "net", weights=tiny_weights, device="cpu")
    assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == np.float32
    rgba = make_image(24, 40, 4, np.uint8)
    out = restore(rgba, "net", weights=tiny_weights, device="cpu")
    np.testing.assert_array_equal(out[:, :, 3], rgba[:, :, 3] / np.float32(255))
    t = torch.from_numpy(make_image(40, 40, 3, np.float32)).permute(2, 0, 1)[None]
    out = restore(t, "net", weights=tiny_weights, device="cpu", tile=32, tile_overlap=8)
    assert isinstance(out, torch.Tensor) and out.shape == t.shape
    grey = make_image(24, 40, 1, np.float32)
    assert restore(grey, "net", weights=tiny_weights, device="cpu").shape == grey.shape


def test_net_bad_weights(tmp_path):
    models = pytest.importorskip("deblur.models")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    with pytest.raises(models.WeightsError, match="bad.safetensors"):
        restore(make_image(), "net", weights=bad, device="cpu")
