"""PSNR and SSIM against scikit-image, with crop, luma, shift tolerance and batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from deblur.metrics import psnr, ssim

SK_SSIM = dict(gaussian_weights=True, use_sample_covariance=False, sigma=1.5, data_range=1)


def pair(shape, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    ref = rng.random(shape)
    ref = (ref + np.roll(ref, 1, 0) + np.roll(ref, 1, 1)) / 3  # some structure
    x = np.clip(ref + noise * rng.standard_normal(shape), 0, 1)
    return x, ref


def sk_ssim(x, ref):
    kw = dict(channel_axis=-1) if x.ndim == 3 else {}
    return structural_similarity(x, ref, **SK_SSIM, **kw)


@pytest.mark.parametrize("shape", [(23, 31), (24, 32, 3), (17, 13, 3), (15, 19, 1)])
def test_agree_with_skimage(shape):
    x, ref = pair(shape)
    assert isinstance(psnr(x, ref), float) and isinstance(ssim(x, ref), float)
    assert psnr(x, ref) == pytest.approx(peak_signal_noise_ratio(ref, x, data_range=1), abs=1e-4)
    assert ssim(x, ref) == pytest.approx(sk_ssim(x, ref), abs=1e-4)


def test_float32_and_uint8_inputs():
    x, ref = pair((20, 22, 3), seed=1)
    x32, ref32 = x.astype(np.float32), ref.astype(np.float32)
    assert psnr(x32, ref32) == pytest.approx(
        peak_signal_noise_ratio(ref32, x32, data_range=1), abs=1e-4
    )
    assert ssim(x32, ref32) == pytest.approx(sk_ssim(x32, ref32), abs=1e-4)
    x8, ref8 = (np.round(x * 255).astype(np.uint8), np.round(ref * 255).astype(np.uint8))
    assert psnr(x8, ref8) == pytest.approx(peak_signal_noise_ratio(ref8, x8), abs=1e-4)
    assert ssim(x8, ref8) == pytest.approx(sk_ssim(x8 / 255.0, ref8 / 255.0), abs=1e-4)


def test_data_range():
    x, ref = pair((16, 16), seed=2)
    assert psnr(x, ref, data_range=2.0) == pytest.approx(
        psnr(x, ref) + 20 * math.log10(2), abs=1e-9
    )
    with pytest.raises(ValueError, match="data_range"):
        psnr(x, ref, data_range=0)


@pytest.mark.parametrize("crop", [1, 4])
def test_crop(crop):
    x, ref = pair((27, 25, 3), seed=3)
    c = (slice(crop, -crop), slice(crop, -crop))
    assert psnr(x, ref, crop=crop) == pytest.approx(
        peak_signal_noise_ratio(ref[c], x[c], data_range=1), abs=1e-4
    )
    assert ssim(x, ref, crop=crop) == pytest.approx(sk_ssim(x[c], ref[c]), abs=1e-4)


def test_y_channel_is_bt601_studio_swing():
    x, ref = pair((21, 26, 3), seed=4)
    yx, yr = rgb2ycbcr(x)[..., 0] / 255, rgb2ycbcr(ref)[..., 0] / 255
    assert psnr(x, ref, y_channel=True) == pytest.approx(
        peak_signal_noise_ratio(yr, yx, data_range=1), abs=1e-4
    )
    assert ssim(x, ref, y_channel=True) == pytest.approx(sk_ssim(yx, yr), abs=1e-4)
    gx, gr = x[..., 0], ref[..., 0]
    assert psnr(gx, gr, y_channel=True) == pytest.approx(psnr(gx, gr))  # gray: used as is
    with pytest.raises(ValueError, match="C = 3"):
        psnr(np.zeros((12, 12, 2)), np.zeros((12, 12, 2)), y_channel=True)


def test_identical_images():
    x, _ = pair((16, 18, 3), seed=5)
    assert psnr(x, x) == math.inf
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    assert psnr(x, x, shift=2) == math.inf


def test_shift_tolerance():
    _, ref = pair((30, 34, 3), seed=6)
    x = np.roll(ref, (1, -2), axis=(0, 1))  # a copy offset by (1, -2) pixels
    assert psnr(x, ref, shift=2) == math.inf
    assert ssim(x, ref, shift=2) == pytest.approx(1.0, abs=1e-12)
    assert psnr(x, ref, shift=2) > psnr(x, ref)
    assert ssim(x, ref, shift=2) > ssim(x, ref) + 0.1
    noisy = np.clip(x + 0.02 * np.random.default_rng(0).standard_normal(x.shape), 0, 1)
    assert psnr(noisy, ref, shift=3) > psnr(noisy, ref) + 3
    # shift 0 equals the plain metric, and the search only ever helps on the same region
    assert psnr(noisy, ref, shift=0) == psnr(noisy, ref)
    m = 3
    region = (slice(m, -m), slice(m, -m))
    assert psnr(noisy, ref, shift=m) >= psnr(noisy[region], ref[region])


def test_batches():
    x, ref = pair((3, 19, 21, 3), seed=7)
    tx = torch.from_numpy(x).permute(0, 3, 1, 2).float()
    tr = torch.from_numpy(ref).permute(0, 3, 1, 2).float()
    for fn in (psnr, ssim):
        for kw in ({}, {"crop": 2}, {"y_channel": True}, {"shift": 1}):
            values = fn(tx, tr, **kw)
            assert isinstance(values, torch.Tensor) and values.shape == (3,)
            assert values.dtype == torch.float32
            singles = [
                fn(x[i].astype(np.float32), ref[i].astype(np.float32), **kw) for i in range(3)
            ]
            np.testing.assert_allclose(values.numpy(), singles, rtol=1e-6)
        one = fn(tx[:1], tr[:1])
        assert isinstance(one, float)
    same = psnr(tx, tx)
    assert torch.isinf(same).all()


def test_errors():
    x, ref = pair((20, 20, 3), seed=8)
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, ref[:, :19])
    with pytest.raises(ValueError, match="leave less than 11x11"):
        ssim(x, ref, crop=3, shift=2)
    with pytest.raises(ValueError, match="crop"):
        psnr(x, ref, crop=-1)
    with pytest.raises(ValueError, match="shift"):
        psnr(x, ref, shift=1.5)
    with pytest.raises(ValueError, match="leave less than"):
        psnr(x, ref, crop=10)
    with pytest.raises(ValueError, match=r"x: .*\(H, W\)"):
        psnr(np.zeros((2, 3, 4, 5)), np.zeros((2, 3, 4, 5)))
