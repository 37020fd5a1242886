"""The restoration guard: a result must be explained by its input through a plausible blur."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from deblur.psf import gaussian
from deblur.restoration.classical import wiener
from deblur.restoration.guard import GuardReport, apply_guard, check_restoration
from deblur.synth import dead_leaves, simple_blur

SIZE = 128


def bchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, np.float32)).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def scene():
    """A sharp dead-leaves image, its blurred version (Gaussian 2 px, 1% noise) and kernel."""
    rng = np.random.default_rng(3)
    sharp = dead_leaves(SIZE, rng, r_min=3.0, r_max=40.0)
    k = gaussian(2.0)
    blurred = simple_blur(sharp, k, 0.01, rng)
    return sharp, blurred, k


def figures(rep: GuardReport) -> list[float]:
    return [rep.residual, rep.smear, rep.noise_gain, rep.invented, rep.overshoot,
            rep.center_mass, rep.noise_sigma]  # fmt: skip


def test_correct_result_is_kept(scene):
    sharp, blurred, k = scene
    rep = check_restoration(bchw(blurred), bchw(sharp))
    assert rep.verdict == "ok", rep
    assert rep.action == "kept" and rep.reason == ""
    assert all(math.isfinite(v) for v in figures(rep))
    assert 0.5 < rep.residual < 2.0  # the true image explains the input to the noise level
    assert check_restoration(bchw(blurred), bchw(wiener(blurred, k, 1e-2))).verdict == "ok"


def test_smeared_result_is_flagged(scene):
    _, blurred, _ = scene
    smeared = cv2.GaussianBlur(blurred, (0, 0), 2.0)
    rep = check_restoration(bchw(blurred), bchw(smeared))
    assert rep.verdict == "doubtful" and rep.action == "fell back to input", rep
    assert rep.reason and all(math.isfinite(v) for v in figures(rep))


def test_ringing_result_is_flagged(scene):
    _, blurred, k = scene
    ringing = wiener(blurred, k, 1e-5)  # far too little regularisation
    rep = check_restoration(bchw(blurred), bchw(ringing))
    assert rep.doubtful, rep


def test_oversharpened_result_is_flagged(scene):
    _, blurred, _ = scene
    usm = np.clip(blurred + 4 * (blurred - cv2.GaussianBlur(blurred, (0, 0), 2.0)), 0, 1)
    assert check_restoration(bchw(blurred), bchw(usm)).doubtful


def test_sharp_input_is_passed_through(scene):
    sharp, _, _ = scene
    y = bchw(sharp)
    x = bchw(np.clip(sharp + 0.5 * (sharp - cv2.GaussianBlur(sharp, (0, 0), 0.5)), 0, 1))
    rep = check_restoration(y, x)
    assert rep.verdict == "little changed", rep  # the check alone cannot tell "sharp"
    out, rep = apply_guard(y, x)
    assert rep.action == "passed through (little changed)" and rep.kept_input
    assert rep.note.startswith("little changed") and torch.equal(out, y)
    # the input's own blind estimate being a delta is what makes it "already sharp"
    out, rep = apply_guard(y, x, input_sharp=True, method="net")
    assert rep.verdict == "sharp input" and rep.method == "net"
    assert rep.action == "passed through (input already sharp)"
    assert rep.note.startswith("input already sharp") and torch.equal(out, y)


def test_numpy_input_and_batches(scene):
    sharp, blurred, _ = scene
    assert check_restoration(blurred, sharp).verdict == "ok"  # (H, W, C) arrays
    assert check_restoration(blurred[..., 0], sharp[..., 0]).verdict == "ok"  # (H, W)
    y = torch.cat([bchw(blurred), bchw(blurred)])
    x = torch.cat([bchw(sharp), bchw(cv2.GaussianBlur(blurred, (0, 0), 2.0))])
    out, reps = apply_guard(y, x)
    assert [r.action for r in reps] == ["kept", "fell back to input"]
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], y[1])


def test_strength_zero_returns_the_input_exactly(scene):
    sharp, blurred, _ = scene
    y = bchw(blurred) + 1e-9  # values not on any nice grid
    for guard in (True, False):
        out, _ = apply_guard(y, bchw(sharp), guard=guard, strength=0.0)
        assert torch.equal(out, y)


def test_strength_blends_and_guard_off_returns_raw(scene):
    _, blurred, k = scene
    y, x = bchw(blurred), bchw(wiener(blurred, k, 1e-5))
    out, rep = apply_guard(y, x, guard=False)
    assert rep is None and torch.equal(out, x)  # raw output, however bad
    out, rep = apply_guard(y, x, guard=False, strength=0.25)
    assert rep is None and torch.allclose(out, y + 0.25 * (x - y))
    out, rep = apply_guard(y, x)  # guard on: the doubtful result falls back to the input
    assert rep.action == "fell back to input" and torch.equal(out, y)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan"), float("inf"), "1", None, True])
def test_bad_strength_is_refused(scene, strength):
    _, blurred, _ = scene
    with pytest.raises(ValueError, match="strength"):
        apply_guard(bchw(blurred), bchw(blurred), strength=strength)


def test_shape_mismatch_is_refused(scene):
    _, blurred, _ = scene
    with pytest.raises(ValueError, match="shape"):
        check_restoration(bchw(blurred), bchw(blurred[:-1]))
    with pytest.raises(ValueError, match="shape"):
        apply_guard(bchw(blurred), bchw(blurred[:, :-1]))


def test_tiny_and_non_finite_images():
    tiny = torch.rand(1, 3, 6, 6)
    rep = check_restoration(tiny, tiny.flip(-1))
    assert rep.verdict == "not checked" and rep.action == "kept"
    y = torch.rand(1, 3, 64, 64)
    x = y.clone()
    x[0, 0, 5, 5] = float("nan")
    out, rep = apply_guard(y, x)
    assert rep.doubtful and torch.equal(out, y)
    assert check_restoration(x, y).verdict == "not checked"  # a non-finite input


def test_spatially_varying_noise_free_blur_keeps_a_small_residual():
    """Per-tile kernels and the model-error allowance: a blur that turns across the frame,
    with no noise (the floor), does not make the true image's residual explode."""
    from deblur.psf import motion
    from deblur.restoration.guard import THRESHOLDS

    rng = np.random.default_rng(5)
    sharp = dead_leaves(320, rng, r_min=3.0, r_max=40.0)
    w = np.linspace(0, 1, 320, dtype=np.float32)[None, :, None]
    a, b = (cv2.filter2D(sharp, -1, motion(11.0, ang)) for ang in (0.0, 90.0))
    y = (np.round(np.clip((1 - w) * a + w * b, 0, 1) * 255) / 255).astype(np.float32)
    rep = check_restoration(bchw(y), bchw(sharp))
    assert math.isfinite(rep.residual) and rep.residual < THRESHOLDS["residual"] / 2, rep
    assert check_restoration(bchw(y), bchw(y)).verdict != "doubtful"
