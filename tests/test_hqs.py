"""Hyper-Laplacian / TV deconvolution by half-quadratic splitting (tiny synthetic images)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur.errors import PSFError, UsageError
from deblur.metrics import psnr
from deblur.psf import BOUNDARIES, blur, camera_shake, gaussian, motion
from deblur.restoration.classical import richardson_lucy, wiener
from deblur.restoration.hqs import HQS_ALPHAS, _shrink, hqs_deconv


def scene(h: int = 64, w: int = 72, channels: int = 3) -> np.ndarray:
    """Piecewise-smooth colour image in [0.05, 0.9] with sharp edges, float32 (h, w, c)."""
    yy, xx = np.mgrid[:h, :w]
    base = 0.2 + 0.3 * (xx / w)
    img = np.where((yy - 24) ** 2 + (xx - 30) ** 2 < 150, 0.9, base)
    img = np.where((abs(yy - 48) < 6) & (abs(xx - 14) < 9), 0.05, img)
    img = np.where(((yy // 4) % 2 == 0) & (xx > 48) & (yy < 24), 0.7, img)
    out = np.stack([img, 0.9 - 0.6 * img, np.roll(img, 7, axis=1)], -1)[..., :channels]
    return out.astype(np.float32)


def blurred(x: np.ndarray, k: np.ndarray, boundary: str = "reflect", noise: float = 0.01):
    t = torch.from_numpy(x).permute(2, 0, 1)[None]
    y = blur(t, k, boundary)[0].permute(1, 2, 0).numpy()
    y = y + noise * np.random.default_rng(0).standard_normal(y.shape)
    return np.clip(y, 0, 1).astype(np.float32)


@pytest.mark.parametrize("alpha", HQS_ALPHAS)
@pytest.mark.parametrize("beta", [1.0, 8.0, 181.0])
def test_shrink_is_the_proximal_map(alpha, beta):
    """Against a brute-force minimisation of |w|^alpha + beta/2 (w - v)^2 on a fine grid."""
    v = np.linspace(-2, 2, 401).astype(np.float32)
    got = _shrink(v.copy(), beta, alpha).astype(np.float64)
    u = np.linspace(-2.2, 2.2, 8801)
    cost = np.abs(u)[None] ** alpha + beta / 2 * (u[None] - v[:, None].astype(np.float64)) ** 2
    excess = np.abs(got) ** alpha + beta / 2 * (got - v) ** 2 - cost.min(1)
    # the minimum cost everywhere but in the table's cell across the jump at the threshold
    assert np.mean(excess < 1e-4) > 0.985 and excess.max() < 0.2
    assert np.all(np.sign(got) * np.sign(v) >= 0) and np.all(np.abs(got) <= np.abs(v) + 1e-6)


@pytest.mark.parametrize(
    "k", [camera_shake(13, 3), motion(9, 30), gaussian(1.6)], ids=["shake", "motion", "gauss"]
)
def test_beats_wiener_and_blurred_input(k):
    x = scene()
    y = blurred(x, k)
    out = hqs_deconv(y, k)
    assert out.shape == y.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    p_hqs, p_wiener, p_blur = psnr(out, x), psnr(wiener(y, k), x), psnr(y, x)
    assert p_hqs > p_wiener + 0.5, (p_hqs, p_wiener)
    assert p_hqs > p_blur + 1.0, (p_hqs, p_blur)


def test_beats_richardson_lucy_on_a_piecewise_smooth_image():
    x, k = scene(), camera_shake(13, 5)
    y = blurred(x, k)
    assert psnr(hqs_deconv(y, k), x) > psnr(richardson_lucy(y, k, 30), x) + 0.5


def test_unknown_margin_beats_a_fixed_mirror_at_the_borders():
    """The margin's data are refilled from the model: no mirror-model ringing at the edges."""
    x, k = scene(), camera_shake(15, 2)
    y = blurred(x, k)
    out = hqs_deconv(y, k, boundary="reflect")
    plain = hqs_deconv(y, k, boundary="periodic")  # the wrap-around seam at the edges
    band = np.ones(x.shape[:2], bool)
    band[10:-10, 10:-10] = False
    assert psnr(out[band], x[band]) > psnr(plain[band], x[band]) + 1.0


def test_noiseless_periodic_blur_is_nearly_inverted():
    x, k = scene(), gaussian(1.2)
    y = blurred(x, k, "periodic", noise=0.0)
    assert psnr(hqs_deconv(y, k, 1e-5, boundary="periodic"), x) > psnr(y, x) + 8


def test_weight_trades_noise_for_smoothness():
    x, k = scene(), gaussian(1.5)
    y = blurred(x, k, noise=0.03)
    tv = [np.abs(np.diff(hqs_deconv(y, k, w), axis=1)).sum() for w in (1e-4, 1e-3, 1e-2)]
    assert tv[0] > tv[1] > tv[2]


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_kinds_layouts_and_constant_images(boundary):
    k = camera_shake(9, 1)
    grey = scene(channels=1)[..., 0]
    out = hqs_deconv(grey, k, boundary=boundary)
    assert out.shape == grey.shape and out.dtype == np.float32
    u8 = (scene() * 255).astype(np.uint8)
    assert hqs_deconv(u8, k, boundary=boundary).shape == u8.shape
    t = torch.from_numpy(np.stack([scene(), scene()[::-1].copy()])).permute(0, 3, 1, 2)
    out_t = hqs_deconv(t, k, boundary=boundary)
    assert isinstance(out_t, torch.Tensor) and out_t.shape == t.shape
    assert np.isfinite(out_t.numpy()).all()
    flat = np.full((30, 40, 3), 0.4, np.float32)
    assert np.abs(hqs_deconv(flat, k, boundary=boundary) - 0.4).max() < 1e-3


def test_per_image_psfs_match_single_runs():
    a, b = scene(), scene()[::-1].copy()
    ka, kb = camera_shake(9, 1), gaussian(1.0)  # 9x9 and 7x7
    ya, yb = blurred(a, ka), blurred(b, kb)
    t = torch.from_numpy(np.stack([ya, yb])).permute(0, 3, 1, 2)
    ks = np.zeros((2, 1, 9, 9), np.float32)
    ks[0, 0] = ka
    h = kb.shape[0]
    ks[1, 0, 4 - h // 2 : 5 + h // 2, 4 - h // 2 : 5 + h // 2] = kb  # centred in 9x9
    both = hqs_deconv(t, ks).permute(0, 2, 3, 1).numpy()
    assert np.abs(both[0] - hqs_deconv(ya, ka)).max() < 1e-4
    assert np.abs(both[1] - hqs_deconv(yb, ks[1, 0])).max() < 1e-4


def test_delta_psf_returns_the_input():
    y = blurred(scene(), gaussian(1.0))
    delta = np.zeros((5, 5), np.float32)
    delta[2, 2] = 3.0  # normalised to 1
    assert np.array_equal(hqs_deconv(y, delta), y)


def test_refusals():
    y, k = scene(), gaussian(1.0)
    for bad in (0.0, -1.0, float("nan"), float("inf"), True, "1e-3"):
        with pytest.raises(UsageError, match="weight"):
            hqs_deconv(y, k, bad)
    for bad in (0.0, 1.5, -0.5):
        with pytest.raises(UsageError, match="alpha"):
            hqs_deconv(y, k, alpha=bad)
    with pytest.raises(UsageError, match="beta_max"):
        hqs_deconv(y, k, beta_max=1.0)
    with pytest.raises(PSFError):
        hqs_deconv(y, np.zeros((3, 3)))
    with pytest.raises(PSFError):
        hqs_deconv(y[:8, :8], np.ones((15, 15)))
    with pytest.raises(ValueError, match="boundary"):
        hqs_deconv(y, k, boundary="mirror")


# --------------------------------------------------------------------------------------
# Wiring: deblur.restore, deblur restore, deblur benchmark
# --------------------------------------------------------------------------------------


def _photo_u8(k=None, seed: int = 0) -> np.ndarray:
    y = blurred(scene(), camera_shake(9, seed) if k is None else k)
    return np.round(y * 255).astype(np.uint8)


def test_restore_api_method_hqs():
    from deblur import restore

    x, k = scene(), camera_shake(11, 4)
    y = blurred(x, k)
    out = restore(y, "hqs", psf=k, guard=False)
    assert out.shape == y.shape and np.array_equal(out, hqs_deconv(y, k))
    assert restore(_photo_u8(), "hqs", psf="auto:15", guard=False).shape == y.shape
    with pytest.raises(ValueError, match="needs a PSF"):
        restore(y, "hqs")


def test_cli_restore_and_benchmark_hqs(tmp_path):
    from conftest import write_png
    from typer.testing import CliRunner

    from deblur.cli import app

    runner = CliRunner()
    src = write_png(tmp_path / "a.png", _photo_u8())
    args = ["restore", str(src), "-o", str(tmp_path / "out"), "--method", "hqs"]
    r = runner.invoke(app, [*args, "--psf", "shake:9,0", "--no-guard"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out/a.png").is_file()
    r = runner.invoke(app, ["restore", str(src), "--method", "hqs"], catch_exceptions=False)
    assert r.exit_code == 2 and "needs a PSF" in r.stderr
    big = scene(96, 100)  # hqs-auto estimates a 45 px kernel: at least 90 px a side
    for n in range(2):
        k = camera_shake(9, n)
        y = blurred(big, k)
        write_png(tmp_path / f"ds/blur/p{n}.png", np.round(y * 255).astype(np.uint8))
        write_png(tmp_path / f"ds/sharp/p{n}.png", np.round(big * 255).astype(np.uint8))
        (tmp_path / "ds/psf").mkdir(exist_ok=True)
        np.save(tmp_path / f"ds/psf/p{n}.npy", k)
    args = ["benchmark", str(tmp_path / "ds"), "--method", "none,wiener,hqs,hqs-auto"]
    args += ["--no-guard", "--json", str(tmp_path / "b.json")]
    r = runner.invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    import json

    mean = json.loads((tmp_path / "b.json").read_text())["mean"]
    assert mean["hqs"]["count"] == 2 and mean["hqs-auto"]["count"] == 2
    # measured: none 27.7, wiener 26.8 (nsr 0.01 is too little for 1% noise), hqs 32.8 dB
    assert mean["hqs"]["psnr"] > max(mean["wiener"]["psnr"], mean["none"]["psnr"]) + 2
