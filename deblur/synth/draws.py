"""What blur synthesis draws: the blur distribution, PSFs, a pair's parameters, sharp
procedural images (numpy generators; shared by the numpy and torch forms).

* :class:`BlurConfig` is the distribution of synthetic blur for training.
* :func:`random_psf` draws from a mixture of camera shake, linear motion, defocus and
  Gaussian blur; :func:`bank_shake` is the fixed camera-shake bank of a curriculum.
* :func:`draw_pair_params` draws a pair's parameters as
  :func:`deblur.synth.numpy_forms.synthesize_pair` does, for the torch form.
* :func:`dead_leaves` draws procedural sharp images.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Seed of the fixed camera-shake bank (:func:`bank_shake`).
BANK_SEED = 20261203


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
