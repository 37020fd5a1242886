"""Blur synthesis, numpy forms: the simple stated model of ``deblur blur`` and realistic
training pairs, one image at a time.

Arrays here are numpy ``(H, W, C)`` float32 in [0, 1] (sRGB values), PSFs ``(h, w)``
float32 summing to 1 in convolution orientation.

* :func:`simple_blur` is the model of ``deblur blur``, chosen so that the saved PSF is the
  true one: ``y = quantize8(clip(k * x + n))`` on sRGB values, reflect boundary,
  Gaussian noise ``n`` of a given std on the [0, 1] scale.
* :func:`synthesize_pair` makes realistic training pairs (after RSBlur, Rim et al. ECCV
  2022): undo the sRGB gamma, boost clipped highlights, blur in linear light, clip
  (saturation), add Poisson-Gaussian noise, back to sRGB, quantize to 8 bits. Part of the
  pairs are made with the simple sRGB model instead (``BlurConfig.p_linear``).

The torch twins (same names) are in :mod:`deblur.synth.torch_forms`.
"""

from __future__ import annotations

import numpy as np

from deblur.synth.draws import BlurConfig, random_psf

__all__ = ["linear_to_srgb", "quantize8", "simple_blur", "srgb_to_linear", "synthesize_pair"]


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
