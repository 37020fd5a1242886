"""Richardson–Lucy and Wiener deconvolution (tiny synthetic images only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.restoration import richardson_lucy as sk_richardson_lucy

from deblur.metrics import psnr
from deblur.psf import BOUNDARIES, blur, gaussian
from deblur.restoration import richardson_lucy, wiener


def scene(h: int = 48, w: int = 48) -> np.ndarray:
    """Piecewise-smooth gray test image in [0.05, 0.9], float32 ``(h, w)``."""
    yy, xx = np.mgrid[:h, :w]
    img = 0.2 + 0.3 * (xx / w)
    img = np.where((yy - 20) ** 2 + (xx - 26) ** 2 < 100, 0.9, img)
    img = np.where((abs(yy - 36) < 5) & (abs(xx - 12) < 8), 0.05, img)
    img = np.where(((yy // 4) % 2 == 0) & (xx > 34) & (yy < 20), 0.7, img)
    return img.astype(np.float32)


def blurred(x: np.ndarray, k: np.ndarray, boundary: str, noise: float = 0.002) -> np.ndarray:
    t = torch.from_numpy(x if x.ndim == 3 else x[..., None]).permute(2, 0, 1)[None]
    y = blur(t, k, boundary)[0].permute(1, 2, 0).numpy()
    y = y + noise * np.random.default_rng(0).standard_normal(y.shape)
    y = np.clip(y, 0, 1).astype(np.float32)
    return y if x.ndim == 3 else y[..., 0]


# --------------------------------------------------------------------------------------
# Richardson–Lucy
# --------------------------------------------------------------------------------------


def test_rl_periodic_keeps_flux_and_stays_non_negative():
    rng = np.random.default_rng(1)
    y = rng.random((20, 24)).astype(np.float32)
    y[5:9, 5:9] = 0.0
    for accelerate in (False, True):
        out = richardson_lucy(
            y, gaussian(1.0), 12, boundary="periodic", clip=False, accelerate=accelerate
        )
        assert out.min() >= 0
        assert out.sum() == pytest.approx(y.sum(), rel=1e-4)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("accelerate", [False, True])
def test_rl_black_and_saturated_images(boundary, accelerate):
    k = gaussian(1.2)
    black = richardson_lucy(
        np.zeros((12, 14), np.float32), k, 8, boundary=boundary, accelerate=accelerate
    )
    assert np.isfinite(black).all() and np.abs(black).max() == 0
    white = richardson_lucy(
        np.ones((12, 14, 3)), k, 8, boundary=boundary, accelerate=accelerate, clip=False
    )
    assert np.isfinite(white).all() and white.min() >= 0
    if boundary != "zero":  # the zero boundary darkens the border by design (skimage's model)
        np.testing.assert_allclose(white, 1.0, atol=1e-4)
    for image in (np.zeros((12, 14)), np.ones((12, 14))):
        assert np.isfinite(wiener(image, k, boundary=boundary)).all()


def _odd_padded(k: np.ndarray) -> np.ndarray:
    """The same PSF on an odd-sized support: zeros appended at the bottom/right.

    Under the library's convention (centre at ``(h // 2, w // 2)``) this changes nothing;
    under scipy's 'same' convolution (centre at ``((h - 1) // 2, (w - 1) // 2)``) it moves
    the centre to where the library puts it.
    """
    return np.pad(k, ((0, 1 - k.shape[0] % 2), (0, 1 - k.shape[1] % 2)))


@pytest.mark.parametrize("psf_shape", [(5, 5), (3, 7), (4, 4), (4, 5)])
def test_rl_zero_boundary_matches_skimage(psf_shape):
    rng = np.random.default_rng(2)
    image = rng.random((19, 22))
    k = rng.random(psf_shape)
    k /= k.sum()
    ours = richardson_lucy(image, k, 15, boundary="zero", clip=False, normalize=False)
    # scikit-image's even-sized PSFs are centred at (h - 1) // 2 in the forward convolution
    # but at h // 2 in its mirrored correlation (so that pair is not an operator and its
    # adjoint); padding to odd sizes gives it the library's (consistent) centre.
    theirs = sk_richardson_lucy(image, _odd_padded(k), 15, clip=False)
    assert ours.dtype == np.float32 and ours.shape == image.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
    clipped = richardson_lucy(image, k, 3, boundary="zero", normalize=False)
    np.testing.assert_allclose(
        clipped, np.clip(sk_richardson_lucy(image, _odd_padded(k), 3), 0, 1), atol=1e-4
    )


def test_rl_zero_boundary_normalised_keeps_the_borders():
    """Dividing by A^T 1 (the default) keeps a zero-padded RL's borders from darkening."""
    x = scene()
    k = gaussian(1.5)
    y = blurred(x, k, "zero")
    border = np.ones(x.shape[:2], bool)
    border[6:-6, 6:-6] = False
    err = {
        n: np.abs(richardson_lucy(y, k, 30, boundary="zero", normalize=n) - x)[border].mean()
        for n in (True, False)
    }
    assert err[True] < 0.5 * err[False]


def test_rl_clips_negative_data():
    y = np.full((16, 18), 0.3, np.float32)
    y[3, 4] = -0.5  # noise below black
    clipped = y.clip(0, None)
    np.testing.assert_array_equal(
        richardson_lucy(y, gaussian(1.0), 5), richardson_lucy(clipped, gaussian(1.0), 5)
    )


def test_wiener_laplacian_regulariser_beats_identity_on_noisy_data():
    x = scene()
    k = gaussian(1.5)
    y = blurred(x, k, "reflect", noise=0.03)
    lap = max(psnr(wiener(y, k, n, reg="laplacian"), x) for n in (1e-3, 3e-3, 1e-2, 3e-2))
    ident = max(psnr(wiener(y, k, n, reg="identity"), x) for n in (1e-3, 3e-3, 1e-2, 3e-2, 0.1))
    assert lap > ident
    with pytest.raises(ValueError, match="reg must be"):
        wiener(y, k, reg="tv")


def test_rl_acceleration_needs_fewer_iterations():
    x = scene()
    k = gaussian(1.5)
    y = blurred(x, k, "reflect")
    plain = psnr(richardson_lucy(y, k, 30), x)
    fast = psnr(richardson_lucy(y, k, 15, accelerate=True), x)
    assert fast >= plain
    assert psnr(richardson_lucy(y, k, 15), x) < plain


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_rl_and_wiener_improve_psnr(boundary):
    x = scene()
    k = gaussian(1.5)
    y = blurred(x, k, boundary)
    # with a zero boundary, the RL of scikit-image (reproduced here) darkens a PSF-wide
    # border and Wiener rings there: judge the interior
    crop = 8 if boundary == "zero" else 0
    before = psnr(y, x, crop=crop)
    assert psnr(richardson_lucy(y, k, 30, boundary=boundary), x, crop=crop) > before + 1.5
    assert psnr(wiener(y, k, 1e-3, boundary=boundary), x, crop=crop) > before + 1.5


def test_rl_converges_to_the_truth_without_noise():
    x = scene(32, 36)
    k = gaussian(1.0)
    for boundary in ("reflect", "periodic"):
        y = blurred(x, k, boundary, noise=0.0)
        out = richardson_lucy(y, k, 60, boundary=boundary, accelerate=True)
        assert psnr(out, x) > psnr(y, x) + 4


def test_wiener_periodic_inverts_noiseless_blur():
    x = scene(24, 30)
    k = gaussian(0.7)
    y = blurred(x, k, "periodic", noise=0.0)
    np.testing.assert_allclose(wiener(y, k, 1e-9, boundary="periodic", clip=False), x, atol=1e-3)


# --------------------------------------------------------------------------------------
# Input and output kinds
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [richardson_lucy, wiener], ids=["rl", "wiener"])
def test_kinds_and_layouts(fn):
    k = gaussian(1.0)
    gray = scene(16, 20)
    out = fn(gray, k)
    assert isinstance(out, np.ndarray) and out.shape == (16, 20) and out.dtype == np.float32
    rgb = np.stack([gray, 1 - gray, gray**2], -1)
    out = fn(rgb, k)
    assert isinstance(out, np.ndarray) and out.shape == (16, 20, 3) and out.dtype == np.float32
    t = torch.from_numpy(rgb).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    before = t.clone()
    out_t = fn(t, k)
    assert isinstance(out_t, torch.Tensor) and out_t.shape == (2, 3, 16, 20)
    assert out_t.dtype == torch.float32
    torch.testing.assert_close(t, before)  # the input is not modified
    np.testing.assert_allclose(out_t[1].permute(1, 2, 0).numpy(), out, atol=1e-6)
    ref = fn(gray.astype(np.float64), k)
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535), (np.float32, 1), (np.float64, 1)):
        q = np.round(gray * top).astype(dtype) if top > 1 else gray.astype(dtype)
        res = fn(q, k)
        assert res.dtype == np.float32 and res.shape == gray.shape
        np.testing.assert_allclose(res, ref, atol=0.05 if dtype == np.uint8 else 1e-3)
    out_t64 = fn(t.double(), torch.from_numpy(k))
    assert out_t64.dtype == torch.float32


@pytest.mark.parametrize("fn", [richardson_lucy, wiener], ids=["rl", "wiener"])
def test_per_image_psfs(fn):
    rng = np.random.default_rng(3)
    t = torch.from_numpy(rng.random((2, 3, 14, 15), dtype=np.float32))
    ks = np.stack([gaussian(1.0, size=5), gaussian(0.6, size=5)])[:, None]
    out = fn(t, torch.from_numpy(ks))
    for i in range(2):
        torch.testing.assert_close(out[i : i + 1], fn(t[i : i + 1], ks[i, 0]), atol=1e-5, rtol=0)


def test_psf_is_normalised():
    y = scene(16, 16)
    k = gaussian(1.0)
    np.testing.assert_allclose(richardson_lucy(y, 5 * k, 5), richardson_lucy(y, k, 5), atol=1e-6)
    np.testing.assert_allclose(wiener(y, 5 * k), wiener(y, k), atol=1e-6)


def test_validation_errors():
    y = scene(10, 12)
    k = gaussian(1.0)
    with pytest.raises(ValueError, match="iterations"):
        richardson_lucy(y, k, -1)
    with pytest.raises(ValueError, match="iterations"):
        richardson_lucy(y, k, 2.5)
    with pytest.raises(ValueError, match="nsr"):
        wiener(y, k, 0)
    for fn in (richardson_lucy, wiener):
        with pytest.raises(ValueError, match="larger than the 10x12 image"):
            fn(y, np.ones((11, 3)))
        with pytest.raises(ValueError, match="negative"):
            fn(y, -k)
        with pytest.raises(ValueError, match="all zero"):
            fn(y, np.zeros((3, 3)))
        with pytest.raises(ValueError, match="boundary"):
            fn(y, k, boundary="symmetric")
        with pytest.raises(ValueError, match=r"\(h, w\) or \(1, 1, h, w\)"):
            fn(y, np.ones((2, 3, 3)))
        with pytest.raises(ValueError, match=r"\(H, W\)"):
            fn(np.ones((2, 3, 4, 5)), k)
    assert richardson_lucy(y, k, 0).max() == pytest.approx(0.5)
