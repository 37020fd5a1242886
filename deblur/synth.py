"""Blur synthesis: the simple stated model of ``deblur blur`` and realistic training pairs.

Arrays here are numpy ``(H, W, C)`` float32 in [0, 1] (sRGB values), PSFs ``(h, w)``
float32 summing to 1 in convolution orientation.

* :func:`simple_blur` is the model of ``deblur blur``, chosen so that the saved PSF is the
  true one: ``y = quantize8(clip(k * x + n))`` on sRGB values, reflect boundary,
  Gaussian noise ``n`` of a given std on the [0, 1] scale.
* :func:`synthesize_pair` makes realistic training pairs (after RSBlur, Rim et al. ECCV
  2022): undo the sRGB gamma, boost clipped highlights, blur in linear light, clip
  (saturation), add Poisson-Gaussian noise, back to sRGB, quantize to 8 bits. Part of the
  pairs are made with the simple sRGB model instead (``BlurConfig.p_linear``).
* :func:`random_psf` draws from a mixture of camera shake, linear motion, defocus and
  Gaussian blur; :func:`dead_leaves` draws procedural sharp images.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BlurConfig",
    "PairParams",
    "bank_shake",
    "dead_leaves",
    "draw_pair_params",
    "linear_to_srgb",
    "random_psf",
    "simple_blur",
    "srgb_to_linear",
    "synthesize_pair",
]


#: Seed of the fixed camera-shake bank (:func:`bank_shake`).
BANK_SEED = 20261203


def _power(x: np.ndarray, e: float) -> np.ndarray:
    """``x ** e`` as numpy computes it, except that float32 ``x`` is raised in float64 and
    rounded once to float32.

    numpy's float32 power is a different function on different CPUs (Intel's SVML on
    AVX-512 machines, the C library's ``powf`` elsewhere), 1-ulp apart on some values, and
    8-bit quantisation turns such an ulp into a whole level now and then: the training
    stream was then not the same function of ``(seed, index)`` on every machine
    (tests/test_train_stream.py). The float64 power rounded to float32 is the correctly
    rounded float32 power on every CPU (but for values within a float64 ulp of a float32
    rounding boundary, a few in 10^9), and equals ``powf`` wherever that is correctly rounded.
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        return np.power(x, e)
    return np.power(x.astype(np.float64), float(np.float32(e))).astype(np.float32)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB values in [0, 1] to linear light in [0, 1] (IEC 61966-2-1)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, _power((x + 0.055) / 1.055, 2.4)).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to sRGB values in [0, 1] (inverse of :func:`srgb_to_linear`)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * _power(x, 1 / 2.4) - 0.055).astype(
        np.float32
    )


def quantize8(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to the 256 levels of an 8-bit image (float32 out)."""
    return (np.round(np.clip(x, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def simple_blur(
    x: np.ndarray, psf: np.ndarray, noise_sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """The stated blur model of ``deblur blur``: ``quantize8(clip(k * x + n))``.

    Parameters
    ----------
    x : float array ``(H, W)`` or ``(H, W, C)`` in [0, 1]
        Sharp sRGB image.
    psf : float array ``(h, w)``
        The PSF (normalised to sum 1), no larger than the image.
    noise_sigma : float
        Std of the additive Gaussian noise on the [0, 1] scale (0 for none).
    rng : numpy Generator
        Source of the noise.

    Returns
    -------
    y : float32 array of ``x``'s shape, on the 8-bit grid in [0, 1].
    """
    import torch

    from deblur import psf as psflib

    k = psflib.validate_psf(psf)
    arr = np.asarray(x, dtype=np.float32)
    chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    psflib.check_psf_fits(k, chw.shape[-2:])
    y = psflib.blur(torch.from_numpy(np.ascontiguousarray(chw))[None], k, boundary="reflect")
    y = y[0].numpy()
    y = y[0] if arr.ndim == 2 else y.transpose(1, 2, 0)
    if noise_sigma > 0:
        y = y + rng.normal(0.0, noise_sigma, size=y.shape)
    return quantize8(y)


def _f(default: Any, **schema: Any) -> Any:
    """A dataclass field with its schema (bounds and rules) as metadata."""
    return field(default=default, metadata=schema)


@dataclass(frozen=True)
class BlurConfig:
    """Distribution of synthetic blur for training.

    Attributes
    ----------
    shake_size : (min, max) support of camera-shake PSFs in pixels.
    motion_length : (min, max) length of linear motion in pixels.
    disk_radius : (min, max) defocus radius in pixels.
    gaussian_sigma : (min, max) Gaussian sigma in pixels.
    mixture : probabilities of (shake, motion, disk, gaussian).
    noise : (min, max) std of the read (Gaussian) noise on the [0, 1] scale.
    shot_noise : max gain of the signal-dependent (Poisson) part in linear light.
    p_linear : probability of the realistic linear-light pipeline (else simple sRGB model).
    p_saturate : probability of boosting clipped highlights before the blur.
    p_sharp : probability of no blur at all (the identity PSF; noise is still added), so
        the network learns to leave sharp content alone. Drawn only when above 0, so a
        config without it draws the same PSFs as before it existed.
    shake_bank : when above 0, camera shakes come from a fixed bank of this many PSFs
        (sizes uniform in ``shake_size``; entry ``i`` is a pure function of ``i`` and the
        size range, :func:`bank_shake`) instead of a fresh trajectory each time: the first
        stage of a curriculum on kernel diversity. 0 (fresh shakes) draws as before.

    Each field's metadata is its schema (bounds ``ge``/``gt``/``le``/``lt`` of every
    number, ``ordered`` (min, max) pairs, ``positive_sum``), checked by
    :func:`deblur.training.config.check_fields` wherever a config is read.
    """

    shake_size: tuple[int, int] = _f((7, 41), ge=3, le=255, ordered=True)
    motion_length: tuple[float, float] = _f((5.0, 35.0), ge=1, le=255, ordered=True)
    disk_radius: tuple[float, float] = _f((1.0, 8.0), gt=0, le=127, ordered=True)
    gaussian_sigma: tuple[float, float] = _f((0.5, 4.0), gt=0, le=40, ordered=True)
    mixture: tuple[float, float, float, float] = _f(
        (0.6, 0.15, 0.125, 0.125), ge=0, le=1e6, positive_sum=True
    )
    noise: tuple[float, float] = _f((0.0, 0.02), ge=0, le=1, ordered=True)
    shot_noise: float = _f(0.01, ge=0, le=1)
    p_linear: float = _f(0.5, ge=0, le=1)
    p_saturate: float = _f(0.3, ge=0, le=1)
    p_sharp: float = _f(0.0, ge=0, le=1)
    shake_bank: int = _f(0, ge=0, le=100_000)

    @property
    def margin(self) -> int:
        """Half-size of the largest PSF the config can draw (the crop margin needed)."""
        sizes = (
            self.shake_size[1],
            math.ceil(self.motion_length[1]) + 3,
            2 * math.ceil(self.disk_radius[1]) + 1,
            2 * math.ceil(3 * self.gaussian_sigma[1]) + 1,
        )
        return max(sizes) // 2 + 1


def random_psf(rng: np.random.Generator, cfg: BlurConfig = BlurConfig()) -> np.ndarray:
    """Draw a PSF ``(h, w)`` (float32, sums to 1) from the mixture of ``cfg``."""
    from deblur import psf as psflib

    if cfg.p_sharp > 0 and rng.uniform() < cfg.p_sharp:
        return np.ones((1, 1), np.float32)
    kind = rng.choice(4, p=np.asarray(cfg.mixture) / sum(cfg.mixture))
    if kind == 0:
        lo, hi = cfg.shake_size
        if cfg.shake_bank > 0:
            return bank_shake(int(rng.integers(cfg.shake_bank)), lo, hi).copy()
        return psflib.camera_shake(int(rng.integers(lo, hi + 1)), rng)
    if kind == 1:
        return psflib.motion(float(rng.uniform(*cfg.motion_length)), float(rng.uniform(0, 180)))
    if kind == 2:
        return psflib.disk(float(rng.uniform(*cfg.disk_radius)))
    return psflib.gaussian(float(rng.uniform(*cfg.gaussian_sigma)))


@functools.lru_cache(maxsize=1024)
def bank_shake(index: int, lo: int, hi: int) -> np.ndarray:
    """Entry ``index`` of the fixed camera-shake bank over sizes ``[lo, hi]``: a ``(s, s)``
    float32 PSF summing to 1, the same in every process (seeded by the arguments only)."""
    from deblur import psf as psflib

    rng = np.random.default_rng([BANK_SEED, index, lo, hi])
    return psflib.camera_shake(int(rng.integers(lo, hi + 1)), rng)


def synthesize_pair(
    sharp: np.ndarray,
    patch: int,
    rng: np.random.Generator,
    cfg: BlurConfig = BlurConfig(),
    psf: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Make one (blurred, sharp) training pair from a larger sharp crop.

    Parameters
    ----------
    sharp : float32 array ``(patch + 2 m, patch + 2 m, C)`` in [0, 1]
        sRGB crop with a margin ``m >= cfg.margin`` on each side, so that the blur near
        the patch's border uses real image content (no boundary artefacts).
    patch : int
        Side of the pair's images.
    rng : numpy Generator
    cfg : BlurConfig
    psf : optional ``(h, w)`` PSF; drawn with :func:`random_psf` when None.

    Returns
    -------
    blurred, sharp : float32 arrays ``(patch, patch, C)`` in [0, 1]; ``blurred`` is on the
        8-bit grid.
    """
    from deblur import psf as psflib

    k = random_psf(rng, cfg) if psf is None else psf
    m = (sharp.shape[0] - patch) // 2
    kh, kw = k.shape
    # Region of the crop whose 'valid' blur lands exactly on the central patch (PSF
    # centre at (kh // 2, kw // 2), even sizes included).
    top, left = m - (kh - 1 - kh // 2), m - (kw - 1 - kw // 2)
    if m < kh // 2 or m < kw // 2:
        raise ValueError(f"crop margin {m} is smaller than the PSF half-size {kh // 2}")
    region = sharp[top : top + patch + kh - 1, left : left + patch + kw - 1]
    target = sharp[m : m + patch, m : m + patch]
    sigma = float(rng.uniform(*cfg.noise))
    if rng.uniform() < cfg.p_linear:
        lin = srgb_to_linear(region)
        if rng.uniform() < cfg.p_saturate:
            boost = float(rng.uniform(1.5, 4.0))
            lin = np.where(lin >= 0.98, lin * boost, lin)
        y = np.clip(psflib.blur_valid(lin, k), 0.0, 1.0)
        gain = float(rng.uniform(0.0, cfg.shot_noise))
        std = np.sqrt(gain * y + sigma**2)
        y = y + std * rng.standard_normal(y.shape).astype(np.float32)
        y = linear_to_srgb(y)
    else:
        y = psflib.blur_valid(region, k) + rng.normal(0.0, sigma, size=target.shape)
    return quantize8(y), np.ascontiguousarray(target, dtype=np.float32)


@dataclass(frozen=True)
class PairParams:
    """The random parameters of one training pair, as :func:`synthesize_pair` draws them.

    Attributes
    ----------
    psf : float32 ``(h, w)`` PSF (sums to 1).
    sigma : std of the read (Gaussian) noise on the [0, 1] scale.
    linear : True for the linear-light pipeline, False for the simple sRGB model.
    boost : factor applied to linear values >= 0.98 before the blur (1.0: no boost).
    gain : gain of the signal-dependent (Poisson) noise in linear light (0.0 unless
        ``linear``).
    """

    psf: np.ndarray
    sigma: float
    linear: bool
    boost: float
    gain: float


def draw_pair_params(rng: np.random.Generator, cfg: BlurConfig = BlurConfig()) -> PairParams:
    """Draw a pair's parameters from ``rng`` exactly as :func:`synthesize_pair` does.

    Consumes the same values of ``rng`` in the same order as ``synthesize_pair(...,
    psf=None)`` up to (not including) its noise draw, which is the last thing it draws: a
    sample blurred elsewhere (on the training device) then has the PSF and parameters that
    the numpy pipeline would have used.
    """
    k = random_psf(rng, cfg)
    sigma = float(rng.uniform(*cfg.noise))
    linear = bool(rng.uniform() < cfg.p_linear)
    boost, gain = 1.0, 0.0
    if linear:
        if rng.uniform() < cfg.p_saturate:
            boost = float(rng.uniform(1.5, 4.0))
        gain = float(rng.uniform(0.0, cfg.shot_noise))
    return PairParams(k, sigma, linear, boost, gain)


def dead_leaves(
    size: int, rng: np.random.Generator, *, r_min: float = 2.0, r_max: float = 100.0
) -> np.ndarray:
    """Procedural dead-leaves image (Achddou et al. 2021): occluding disks of random colour.

    Radii follow a power law ``p(r) ~ r^-3`` on ``[r_min, r_max]`` (scale invariance);
    disks are drawn front to back until the image is covered.

    Returns
    -------
    image : float32 ``(size, size, 3)`` in [0, 1].
    """
    img = np.zeros((size, size, 3), np.float32)
    free = np.ones((size, size), bool)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(5000):
        u = rng.uniform()
        r = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5  # inverse CDF of r^-3
        cy, cx = rng.uniform(-r, size + r, 2)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, size)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, size)
        if y0 >= y1 or x0 >= x1:
            continue
        sub = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r
        sub &= free[y0:y1, x0:x1]
        img[y0:y1, x0:x1][sub] = rng.uniform(0, 1, 3)
        free[y0:y1, x0:x1][sub] = False
        if not free.any():
            break
    return img


def __getattr__(name: str):
    """``synth.psflib``: the PSF package, imported on first use (it loads torch)."""
    if name == "psflib":
        from deblur import psf

        return psf
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
