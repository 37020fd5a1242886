"""Blind PSF estimation (deblur.restoration.blind): recovery on synthetic blurs, the output
contract, input kinds and refusals. Small images only (one thread, a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur.errors import PSFError
from deblur.psf import blur, camera_shake, motion
from deblur.restoration.blind import _finish, estimate_psf
from deblur.synth import dead_leaves

SIZE = 21  # small support: few pyramid levels, fast


def ncc(a: np.ndarray, b: np.ndarray, shift: int = 2) -> float:
    """Best normalised cross-correlation over integer shifts, centres aligned."""
    n = max(a.shape + b.shape) + 2 * shift + 1
    n += 1 - n % 2

    def place(k):
        z = np.zeros((n, n))
        oy, ox = n // 2 - k.shape[0] // 2, n // 2 - k.shape[1] // 2
        z[oy : oy + k.shape[0], ox : ox + k.shape[1]] = k
        return z / np.linalg.norm(z)

    A, B = place(a), place(b)
    return max(
        float((A * np.roll(B, (dy, dx), (0, 1))).sum())
        for dy in range(-shift, shift + 1)
        for dx in range(-shift, shift + 1)
    )


def blurred(x: np.ndarray, k: np.ndarray, seed: int = 0, noise: float = 0.005) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
    y = blur(t, k).numpy()[0].transpose(1, 2, 0)
    y = y + noise * np.random.default_rng(seed).standard_normal(y.shape)
    return np.clip(y, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def sharp() -> np.ndarray:
    return dead_leaves(112, np.random.default_rng(3), r_min=3.0, r_max=40.0)


def check_contract(k: np.ndarray, size: int = SIZE) -> None:
    assert k.dtype == np.float32 and k.ndim == 2
    h, w = k.shape
    assert h % 2 == 1 and w % 2 == 1 and h <= size and w <= size
    assert np.all(np.isfinite(k)) and k.min() >= 0
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    cy, cx = (np.indices(k.shape) * k).reshape(2, -1).sum(1)
    assert abs(cy - h // 2) <= 0.5 and abs(cx - w // 2) <= 0.5


@pytest.mark.parametrize(
    "true",
    [motion(9, 30), camera_shake(13, 5)],
    ids=["motion", "shake"],
)
def test_recovers_kernel(sharp, true):
    est = estimate_psf(blurred(sharp, true), SIZE)
    check_contract(est)
    # the bar: the estimate must beat both trivial guesses by a margin
    box = np.full(true.shape, 1.0 / true.size, np.float32)
    bar = max(ncc(np.ones((1, 1)), true), ncc(box, true)) + 0.15
    assert bar < 0.85
    assert ncc(est, true) > max(bar, 0.8)


def test_sharp_image_gives_delta(sharp):
    est = estimate_psf(sharp, SIZE)
    check_contract(est)
    c = est.shape[0] // 2
    assert est[c - 1 : c + 2, c - 1 : c + 2].sum() >= 0.8


def test_input_kinds_agree(sharp):
    y = blurred(sharp, motion(7, 0))[:64, :64]
    ref = estimate_psf(y, 11)
    u8 = np.round(y * 255).astype(np.uint8)
    rgba = np.concatenate([u8, np.full(u8.shape[:2] + (1,), 7, np.uint8)], 2)  # alpha ignored
    for other in (rgba, torch.from_numpy(y.transpose(2, 0, 1).copy())):
        k = estimate_psf(other, 11)
        check_contract(k, 11)
        assert ncc(k, ref, 0) > 0.9
    grey = estimate_psf(y.astype(np.float64) @ np.array([0.299, 0.587, 0.114]), 11)
    np.testing.assert_allclose(grey, ref, atol=1e-4)
    u16 = torch.from_numpy(np.round(y.transpose(2, 0, 1) * 65535).astype(np.int32))[None]
    check_contract(estimate_psf(u16.to(torch.uint16), 11), 11)


@pytest.mark.parametrize(
    "image, size",
    [
        (np.zeros((40,)), 11),  # wrong ndim
        (np.zeros((40, 40, 2)), 11),  # two channels
        (np.full((40, 40), np.nan), 11),  # NaN
        (np.zeros((40, 40), np.int64), 11),  # unsupported dtype
        (np.full((40, 40), 0.5), 11),  # flat: no edges to estimate from
        (torch.zeros(2, 3, 40, 40), 11),  # a batch
        ("image.png", 11),  # not an array
        (np.zeros((40, 40)), 12),  # even size
        (np.zeros((40, 40)), 1),  # too small a size
        (np.zeros((40, 40)), 103),  # too large a size
        (np.zeros((40, 40)), 11.0),  # not an integer
        (np.zeros((40, 40)), True),
        (np.zeros((40, 30)), 21),  # image smaller than 2 * size
    ],
)
def test_refusals(image, size):
    with pytest.raises(PSFError) as e:
        estimate_psf(image, size)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)  # PSFError stays a ValueError


@pytest.mark.parametrize(
    "options",
    [{"iterations": 0}, {"lam": 0.0}, {"lam": "x"}, {"gamma": -1.0}, {"max_side": 20}],
)
def test_bad_options(options):
    with pytest.raises(PSFError):
        estimate_psf(np.zeros((40, 40)), 11, **options)


def test_failed_estimate_refused():
    ring = np.zeros((15, 15))
    ring[0, :] = 1.0  # all mass on the border of the window
    with pytest.raises(PSFError, match="border"):
        _finish(ring, 15)
    with pytest.raises(PSFError, match="degenerate"):
        _finish(np.full((15, 15), np.nan), 15)
    k = np.zeros((15, 15))
    k[6:9, 5] = 1.0  # off-centre mass is cropped and recentred
    check_contract(_finish(k, 15), 15)


def test_large_image_uses_a_window(sharp):
    true = motion(7, 90)
    wide = np.concatenate([np.full_like(sharp, 0.5), sharp], 1)  # flat left half
    est = estimate_psf(blurred(wide, true), 11, max_side=80)
    check_contract(est, 11)
    assert ncc(est, true) > 0.8
