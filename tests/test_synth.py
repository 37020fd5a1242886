"""Blur synthesis: colour transfer, the simple model, training pairs, random PSFs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur import synth
from deblur.psf import blur


def test_srgb_round_trip():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(synth.linear_to_srgb(synth.srgb_to_linear(x)), x, atol=1e-5)
    assert synth.srgb_to_linear(np.float32(0.5)) == pytest.approx(0.2140, abs=1e-4)


def test_quantize8_is_on_the_grid():
    q = synth.quantize8(np.array([-0.2, 0.1, 0.5, 1.3], np.float32))
    np.testing.assert_array_equal(q * 255, np.round(q * 255))
    assert q.min() == 0 and q.max() == 1


@pytest.mark.parametrize("shape", [(20, 30), (21, 18, 3)])
def test_simple_blur_matches_the_stated_model(shape):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=shape).astype(np.float32)
    k = synth.psflib.gaussian(1.0)
    y = synth.simple_blur(x, k, 0.0, np.random.default_rng(1))
    chw = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
    ref = blur(torch.from_numpy(chw.copy())[None], k, boundary="reflect")[0].numpy()
    ref = ref[0] if x.ndim == 2 else ref.transpose(1, 2, 0)
    np.testing.assert_allclose(y, synth.quantize8(ref), atol=1e-6)
    # seeded noise is reproducible and has the asked std
    a = synth.simple_blur(x, k, 0.05, np.random.default_rng(3))
    b = synth.simple_blur(x, k, 0.05, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert 0.03 < np.std(a - y) < 0.07


@pytest.mark.parametrize("size", [5, 6])
def test_synthesize_pair_is_aligned(size):
    """A delta PSF (odd or even support, centre at size // 2) leaves the patch in place;
    mass one pixel below the centre moves the content one pixel down."""
    rng = np.random.default_rng(0)
    crop = rng.uniform(size=(40, 40, 3)).astype(np.float32)
    cfg = synth.BlurConfig(noise=(0, 0), p_linear=0.0)
    k = np.zeros((size, size), np.float32)
    k[size // 2, size // 2] = 1
    b, s = synth.synthesize_pair(crop, 32, rng, cfg, psf=k)
    np.testing.assert_allclose(b, synth.quantize8(s), atol=1e-6)
    k2 = np.zeros((size, size), np.float32)
    k2[size // 2 + 1, size // 2] = 1
    b2, _ = synth.synthesize_pair(crop, 32, rng, cfg, psf=k2)
    np.testing.assert_allclose(b2, synth.quantize8(crop[3:35, 4:36]), atol=1e-6)


def test_synthesize_pair_linear_path_and_ranges():
    rng = np.random.default_rng(0)
    cfg = synth.BlurConfig(p_linear=1.0, p_saturate=1.0)
    m = cfg.margin
    crop = rng.uniform(size=(32 + 2 * m, 32 + 2 * m, 3)).astype(np.float32)
    b, s = synth.synthesize_pair(crop, 32, rng, cfg)
    assert b.shape == s.shape == (32, 32, 3) and b.dtype == np.float32
    assert 0 <= b.min() and b.max() <= 1
    np.testing.assert_array_equal(b * 255, np.round(b * 255))


def test_synthesize_pair_refuses_small_margin():
    with pytest.raises(ValueError, match="margin"):
        synth.synthesize_pair(np.zeros((36, 36, 3), np.float32), 32, np.random.default_rng(0),
                              psf=synth.psflib.gaussian(2.0))  # fmt: skip


def test_random_psfs_are_valid_and_fit_the_margin():
    cfg = synth.BlurConfig()
    rng = np.random.default_rng(0)
    for _ in range(40):
        k = synth.random_psf(rng, cfg)
        assert k.dtype == np.float32 and k.min() >= 0
        assert abs(float(k.sum()) - 1) < 1e-5
        assert max(k.shape) // 2 <= cfg.margin


def test_dead_leaves():
    img = synth.dead_leaves(64, np.random.default_rng(0))
    assert img.shape == (64, 64, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 5  # many leaves


def test_p_sharp_draws_the_identity_and_leaves_other_draws_alone():
    rng = np.random.default_rng(0)
    cfg = synth.BlurConfig(p_sharp=1.0, noise=(0, 0), p_linear=0.0)
    sharp = rng.random((40 + 2 * cfg.margin,) * 2 + (3,), dtype=np.float32)
    blurred, target = synth.synthesize_pair(sharp, 40, rng, cfg)
    np.testing.assert_array_equal(blurred, synth.quantize8(target))
    # p_sharp = 0 consumes no random numbers: the PSF draws (and the draw after them) are
    # those of the code before p_sharp existed (commit b987936, values printed by it)
    before = [
        (17, 0.049395, 75), (33, 0.014985, 950), (10, 0.070901, 298), (13, 0.034326, 236),
        (15, 0.015238, 940), (15, 0.006881, 468), (25, 0.033255, 343), (35, 0.021379, 833),
    ]  # fmt: skip
    for seed, (size, energy, after) in enumerate(before):
        rng = np.random.default_rng(seed)
        k = synth.random_psf(rng, synth.BlurConfig(p_sharp=0.0))
        assert k.shape == (size, size) and round(float((k**2).sum()), 6) == energy
        assert rng.integers(1000) == after
    n_id = sum(
        synth.random_psf(np.random.default_rng(s), synth.BlurConfig(p_sharp=0.5)).size == 1
        for s in range(200)
    )
    assert 70 < n_id < 130


def test_shake_bank_draws_from_a_fixed_set_of_psfs():
    cfg = synth.BlurConfig(mixture=(1, 0, 0, 0), shake_size=(7, 15), shake_bank=4)
    rng = np.random.default_rng(0)
    drawn = {synth.random_psf(rng, cfg).tobytes() for _ in range(40)}
    assert len(drawn) == 4  # 40 draws, 4 distinct PSFs
    again = {synth.bank_shake(i, 7, 15).tobytes() for i in range(4)}
    assert drawn == again  # the bank is a pure function of (index, sizes)
    fresh = synth.BlurConfig(mixture=(1, 0, 0, 0), shake_size=(7, 15))
    rng = np.random.default_rng(0)
    assert len({synth.random_psf(rng, fresh).tobytes() for _ in range(10)}) == 10


def test_numpy_and_torch_forms_agree():
    """The torch forms (deblur.synth.torch_forms, on the training device) are twins of the
    numpy forms: on the same inputs the same values, and from the same draws the same pair."""
    from deblur.synth import torch_forms as tf

    rng = np.random.default_rng(0)
    x = rng.uniform(-0.1, 1.1, size=(3, 40, 40)).astype(np.float32)
    t = torch.from_numpy(x)
    for name in ("srgb_to_linear", "linear_to_srgb"):
        np.testing.assert_allclose(getattr(tf, name)(t).numpy(), getattr(synth, name)(x), atol=2e-6)
    np.testing.assert_array_equal(tf.quantize8(t).numpy(), synth.quantize8(x))
    # the 'valid' blur of a crop by its own PSF (an even height too)
    patch, m = 20, 6
    crops = rng.random((2, 3, patch + 2 * m, patch + 2 * m), dtype=np.float32)
    kernels = [synth.psflib.camera_shake(9, rng), synth.psflib.gaussian(1.5)[:-1, :]]
    kernels = [k / k.sum() for k in kernels]
    padded = torch.from_numpy(np.stack([tf.pad_psf(k, 2 * m + 1) for k in kernels]))
    got = tf.blur_valid_batch(torch.from_numpy(crops), padded, patch)
    for b, k in enumerate(kernels):
        kh, kw = k.shape
        top, left = m - (kh - 1 - kh // 2), m - (kw - 1 - kw // 2)
        region = crops[b].transpose(1, 2, 0)[
            top : top + patch + kh - 1, left : left + patch + kw - 1
        ]
        want = synth.psflib.blur_valid(region, k).transpose(2, 0, 1)
        np.testing.assert_allclose(got[b].numpy(), want, atol=2e-6)
    # whole pairs: the same seeds, noise off (the two forms draw their noise differently)
    cfg = synth.BlurConfig(noise=(0.0, 0.0), shot_noise=0.0, p_saturate=0.5)
    patch, m = 24, cfg.margin
    crop = np.clip(rng.random((patch + 2 * m, patch + 2 * m, 3), dtype=np.float32) * 1.1, 0, 1)
    want, batch = [], {"crop": [], "psf": [], "params": []}
    for seed in range(16):
        b, s = synth.synthesize_pair(crop, patch, np.random.default_rng(seed), cfg)
        d = synth.draw_pair_params(np.random.default_rng(seed), cfg)
        want.append(b.transpose(2, 0, 1))
        batch["crop"].append(torch.from_numpy(crop.transpose(2, 0, 1).copy()))
        batch["psf"].append(torch.from_numpy(tf.pad_psf(d.psf, tf.psf_side(cfg))))
        batch["params"].append(torch.tensor([1.0, d.linear, d.boost, d.sigma, d.gain]))
    batch = {k: torch.stack(v) for k, v in batch.items()}
    batch["index"] = torch.arange(16)
    blurred, sharp = tf.synthesize_batch(batch, patch, seed=0)
    want = np.stack(want)
    linear = batch["params"][:, 1] > 0.5
    assert linear.any() and (~linear).any() and (batch["params"][:, 2] > 1).any()
    np.testing.assert_array_equal(sharp.numpy(), np.stack([s.transpose(2, 0, 1)] * 16))
    assert np.abs(blurred.numpy() - want).max() <= 1 / 255 + 1e-6
    assert (blurred.numpy() != want).mean() < 0.01
