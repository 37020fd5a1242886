"""Blur synthesis on the training device: same samples as the numpy pipeline, stated noise,
exact resume (all on the CPU)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from deblur import synth
from deblur.io import write_image
from deblur.training import TrainConfig, TrainError, TrainStream, load_checkpoint, train
from deblur.training.device_synth import (
    DeviceSynthStream,
    pad_psf,
    psf_side,
    synthesize_batch,
)

LEVEL = 1 / 255 + 1e-6
NO_NOISE = dataclasses.replace(
    synth.BlurConfig(), noise=(0.0, 0.0), shot_noise=0.0, p_saturate=0.5, p_sharp=0.1
)


def _photos() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for h, w in ((120, 140), (110, 100)):
        base = rng.random((h // 8, w // 8, 3)).astype(np.float32)
        im = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
        out.append(np.clip(im, 0, 1).astype(np.float32))
    out[0][:30, :30] = 1.0  # clipped highlights, for the boost
    return out


def _device_pairs(cfg, photos, indices, pairs=()):
    stream = DeviceSynthStream(cfg, photos, list(pairs))
    batch = torch.utils.data.default_collate([stream[i] for i in indices])
    return (*synthesize_batch(batch, cfg.patch, cfg.seed), batch["params"])


def test_device_blur_matches_numpy_pipeline_without_noise():
    cfg = TrainConfig(out="unused", patch=32, blur=NO_NOISE, smooth=0.2, seed=5)
    photos = _photos()
    idx = list(range(16))
    blurred, sharp, params = _device_pairs(cfg, photos, idx)
    numpy_stream = TrainStream(cfg, photos, [])
    ref = [numpy_stream[i] for i in idx]
    ref_b, ref_s = torch.stack([r[0] for r in ref]), torch.stack([r[1] for r in ref])
    assert blurred.shape == sharp.shape == (16, 3, 32, 32)
    assert torch.equal(sharp, ref_s)  # the same crops
    assert (blurred - ref_b).abs().max() <= LEVEL  # the same PSFs and parameters
    assert (blurred != ref_b).float().mean() < 0.01
    lin = params[:, 1] > 0.5
    assert lin.any() and (~lin).any() and (params[:, 2] > 1).any()  # every branch ran
    assert torch.equal(blurred * 255, torch.round(blurred * 255))  # on the 8-bit grid


def test_pad_psf_refuses_a_kernel_that_does_not_fit():
    # (the torch blur against the numpy one: tests/test_synth.py, one test for all twins)
    with pytest.raises(ValueError, match="does not fit"):
        pad_psf(np.ones((15, 3), np.float32), 13)


def _flat_batch(value, sigma, gain, linear, n=4, patch=64, side=13):
    s = patch + side - 1
    return {
        "crop": torch.full((n, 3, s, s), value),
        "psf": torch.from_numpy(np.stack([pad_psf(synth.psflib.gaussian(1.0), side)] * n)),
        "params": torch.tensor([[1.0, float(linear), 1.0, sigma, gain]] * n),
        "index": torch.arange(n) + 100,
    }


@pytest.mark.parametrize("linear", [False, True])
def test_noise_has_the_configured_statistics(linear):
    value, sigma, gain = 0.5, 0.03, 0.01
    blurred, sharp = synthesize_batch(_flat_batch(value, sigma, gain, linear), 64, seed=0)
    if linear:  # the distribution the numpy pipeline draws from, by Monte Carlo
        y = synth.srgb_to_linear(np.full(200_000, value, np.float32))
        z = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        want = synth.quantize8(synth.linear_to_srgb(y + np.sqrt(gain * y + sigma**2) * z))
        want_std, want_mean = float(want.std()), float(want.mean())
        assert want_std > 1.5 * sigma  # the shot noise is there
    else:
        want_std, want_mean = float(np.hypot(sigma, 1 / 255 / np.sqrt(12))), value
    assert blurred.std().item() == pytest.approx(want_std, rel=0.05)
    assert blurred.mean().item() == pytest.approx(want_mean, abs=0.003)
    assert torch.equal(sharp, torch.full_like(sharp, value))
    # independent between samples, and a function of the sample alone
    r = torch.corrcoef(blurred.reshape(4, -1))
    assert (r - torch.eye(4)).abs().max() < 0.05
    batch = _flat_batch(value, sigma, gain, linear)
    alone = {k: v[2:3] for k, v in batch.items()}
    assert torch.equal(synthesize_batch(alone, 64, seed=0)[0], blurred[2:3])
    assert not torch.equal(synthesize_batch(batch, 64, seed=1)[0], blurred)


def test_real_pairs_pass_through(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_image(tmp_path / "ds" / "blur" / f"{name}.png", rng.random((40, 44, 3)))
        write_image(tmp_path / "ds" / "sharp" / f"{name}.png", rng.random((40, 44, 3)))
    from deblur.training.data import load_pairs

    cfg = TrainConfig(out="unused", datasets=(str(tmp_path / "ds"),), patch=32, blur=NO_NOISE)
    photos, pairs = _photos(), load_pairs(cfg)
    blurred, sharp, params = _device_pairs(cfg, photos, range(12), pairs)
    ref = [TrainStream(cfg, photos, pairs)[i] for i in range(12)]
    real = params[:, 0] < 0.5
    assert real.any() and (~real).any()
    for i, (b, s) in enumerate(ref):
        assert torch.equal(sharp[i], s)
        if real[i]:
            assert torch.equal(blurred[i], b)
        else:
            assert (blurred[i] - b).abs().max() <= LEVEL


def test_psf_side_holds_every_kernel_the_config_draws():
    cfg = synth.BlurConfig()
    rng = np.random.default_rng(3)
    side = psf_side(cfg)
    for _ in range(40):
        pad_psf(synth.random_psf(rng, cfg), side)


def test_train_on_device_synthesis_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(tmp_path / "sharp" / f"p{i}.png", synth.dead_leaves(72, rng, r_min=3, r_max=30))
    blur = synth.BlurConfig(shake_size=(5, 9), motion_length=(3, 7), disk_radius=(1, 2),
                            gaussian_sigma=(0.5, 1.5))  # fmt: skip
    kw = dict(sharp=(str(tmp_path / "sharp"),), variant="tiny", batch=2, patch=32, warmup=2,
              ckpt_every=100, log_every=1, workers=0, blur=blur, synth_device="device")  # fmt: skip
    straight = TrainConfig(out=str(tmp_path / "a"), steps=3, **kw)
    assert train(straight)["step"] == 3
    split = TrainConfig(out=str(tmp_path / "b"), steps=2, **kw)
    assert train(split)["step"] == 2
    assert train(dataclasses.replace(split, steps=3), resume=True)["step"] == 3
    a, b = (load_checkpoint(tmp_path / r / "last.ckpt") for r in "ab")
    for key in ("model", "ema"):
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), k
    with pytest.raises(TrainError, match="synth_device"):
        train(dataclasses.replace(split, steps=4, synth_device="cpu"), resume=True)
    with pytest.raises(TrainError, match="unknown synth_device"):
        train(dataclasses.replace(split, out=str(tmp_path / "c"), synth_device="gpu"))
