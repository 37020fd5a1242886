"""PSF builders: Gaussian, defocus disk, linear motion and random camera shake.

Every builder returns a float32 array of shape ``(h, w)``, non-negative, summing to 1, in
convolution orientation with its centre at ``(h // 2, w // 2)`` (even sizes included).
Parameters are checked (finite, kernel side at most :data:`MAX_PSF_SIDE`) before anything
is allocated. Errors are :class:`deblur.errors.PSFError` (a ``ValueError``).
"""

from __future__ import annotations

import math

import numpy as np

from deblur.errors import PSFError

__all__ = ["MAX_PSF_SIDE", "camera_shake", "disk", "gaussian", "motion", "validate_psf"]


def validate_psf(psf: np.ndarray, name: str = "PSF") -> np.ndarray:
    """Check a PSF and return it as a float32 ``(h, w)`` array normalised to sum 1.

    Parameters
    ----------
    psf : array of shape ``(h, w)``
        Non-negative, finite values with a positive sum.
    name : str
        What to call the PSF in error messages (e.g. its file name).

    Raises
    ------
    PSFError
        (a ``ValueError``) If the PSF is not 2-D, is empty, holds NaN/inf or negative
        values, or sums to zero.
    """
    k = np.asarray(psf)
    if k.ndim != 2:
        raise PSFError(f"{name}: expected a 2-D PSF of shape (h, w), got shape {k.shape}")
    if k.size == 0:
        raise PSFError(f"{name}: the PSF is empty")
    if not np.issubdtype(k.dtype, np.number) or np.iscomplexobj(k):
        raise PSFError(f"{name}: the PSF must hold real numbers, got dtype {k.dtype}")
    k = k.astype(np.float64)
    if not np.all(np.isfinite(k)):
        raise PSFError(f"{name}: the PSF contains NaN or infinite values")
    if k.min() < -1e-6 * max(k.max(), 1e-30):
        raise PSFError(f"{name}: the PSF has negative values (min {k.min():.3g})")
    k = np.clip(k, 0.0, None)
    with np.errstate(over="ignore"):
        s = k.sum()
    if not np.isfinite(s):  # values near the float64 maximum: scale them down first
        k = k / k.max()
        s = k.sum()
    if not s > 0:
        raise PSFError(f"{name}: the PSF is all zero")
    return (k / s).astype(np.float32)


#: Largest PSF side any builder makes: parameters are checked against it before anything
#: is allocated, so a typo (``disk:1500`` for ``1.5``) is refused instead of eating memory.
MAX_PSF_SIDE = 1001


def _check_param(name: str, what: str, value: float, side: float) -> None:
    """Refuse a non-finite parameter or one whose kernel side would exceed MAX_PSF_SIDE."""
    if not math.isfinite(value):
        raise PSFError(f"{name}: {what} must be a finite number, got {value}")
    if not side <= MAX_PSF_SIDE:  # also a side that overflowed to inf (sigma 1e308)
        px = f"{math.ceil(side):,}" if math.isfinite(side) else "unbounded"
        raise PSFError(
            f"{name}: {what} {value:g} gives a {px} px kernel; the largest is {MAX_PSF_SIDE} px"
        )


def _odd(n: float) -> int:
    n = max(1, int(math.ceil(n)))
    return n if n % 2 else n + 1


def gaussian(sigma: float, size: int | None = None) -> np.ndarray:
    """Isotropic Gaussian PSF.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels, > 0.
    size : int, optional
        Side of the square support; default ``2 * ceil(3 * sigma) + 1``.

    Returns
    -------
    psf : float32 array of shape ``(size, size)``, sums to 1.
    """
    if not sigma > 0:
        raise PSFError(f"gaussian: sigma must be > 0, got {sigma}")
    _check_param("gaussian", "sigma", sigma, size or 6 * sigma + 3)
    size = size or 2 * int(math.ceil(3 * sigma)) + 1
    c = size // 2
    r = np.arange(size, dtype=np.float64) - c
    with np.errstate(over="ignore", under="ignore"):  # sigma far below a pixel: a delta
        g = np.exp(-0.5 * (r / sigma) ** 2)
    return validate_psf(np.outer(g, g), "gaussian")


def disk(radius: float, supersample: int = 8) -> np.ndarray:
    """Defocus (pillbox) PSF, anti-aliased by area coverage.

    Parameters
    ----------
    radius : float
        Radius in pixels, > 0.
    supersample : int
        Sub-samples per pixel side used to estimate each pixel's covered area.

    Returns
    -------
    psf : float32 array of shape ``(s, s)`` with ``s = 2 * ceil(radius) + 1``, sums to 1.
    """
    if not radius > 0:
        raise PSFError(f"disk: radius must be > 0, got {radius}")
    _check_param("disk", "radius", radius, 2 * radius + 1)
    size = 2 * int(math.ceil(radius)) + 1
    # the sub-sample grid has (size * supersample)^2 points: fewer sub-samples for kernels
    # above 128 px keep it under ~1M (unchanged for every radius below 64 px)
    supersample = max(1, min(supersample, 1024 // size))
    c = size // 2
    sub = (np.arange(size * supersample) + 0.5) / supersample - 0.5 - c
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    k = inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    if k.sum() == 0:  # radius far below a pixel: a delta
        k[c, c] = 1.0
    return validate_psf(k, "disk")


def _splat(points: np.ndarray, size: int) -> np.ndarray:
    """Bilinear splat of ``(n, 2)`` (y, x) points, already centred at ``size // 2``."""
    k = np.zeros((size + 1, size + 1), dtype=np.float64)
    y0 = np.floor(points[:, 0]).astype(int)
    x0 = np.floor(points[:, 1]).astype(int)
    fy = points[:, 0] - y0
    fx = points[:, 1] - x0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(k, (np.clip(y0 + dy, 0, size), np.clip(x0 + dx, 0, size)), wy * wx)
    return k[:size, :size]


def motion(length: float, angle: float = 0.0) -> np.ndarray:
    """Linear motion PSF: a uniform, anti-aliased line segment.

    Parameters
    ----------
    length : float
        Length of the segment in pixels, >= 1 (a length of 1 is a delta).
    angle : float
        Direction in degrees, counter-clockwise from the x axis (image rows grow downwards).

    Returns
    -------
    psf : float32 array of shape ``(s, s)`` with ``s`` the smallest odd size holding the
        segment, sums to 1; centred at ``(s // 2, s // 2)``.
    """
    if not length >= 1:
        raise PSFError(f"motion: length must be >= 1 pixel, got {length}")
    _check_param("motion", "length", length, length + 2)
    if not math.isfinite(angle):
        raise PSFError(f"motion: angle must be a finite number, got {angle}")
    size = _odd(length + 2)
    c = size // 2
    t = np.linspace(-0.5, 0.5, max(64, int(length * 16)))
    a = math.radians(angle)
    pts = np.stack([c - t * (length - 1) * math.sin(a), c + t * (length - 1) * math.cos(a)], 1)
    return validate_psf(_splat(pts, size), "motion")


def camera_shake(
    size: int = 15,
    rng: np.random.Generator | int | None = None,
    *,
    anxiety: float | None = None,
    samples: int = 2000,
) -> np.ndarray:
    """Random camera-shake PSF from a smooth random trajectory (Boracchi & Foi 2012).

    A particle moves with inertia, small Gaussian accelerations ("anxiety"), a pull back
    to the origin and rare abrupt turns; its path, scaled to span at most ``size - 2``
    pixels, is rasterised with bilinear weights and centred on its centre of mass.

    Parameters
    ----------
    size : int
        Side of the square support in pixels (>= 3). The trajectory's extent is drawn
        from ``[0.5, 1] * (size - 2)``.
    rng : numpy Generator, int seed or None
        Source of randomness; the same seed gives the same PSF.
    anxiety : float, optional
        Strength of the random accelerations, default drawn from ``U(0, 0.005) * ...``
        as in the reference model.
    samples : int
        Number of trajectory samples.

    Returns
    -------
    psf : float32 array of shape ``(size, size)``, sums to 1.
    """
    if not size >= 3:
        raise PSFError(f"camera_shake: size must be >= 3, got {size}")
    _check_param("camera_shake", "size", size, size)
    rng = np.random.default_rng(rng)
    anxiety = float(rng.uniform(0.0, 0.005)) if anxiety is None else anxiety
    max_len = size - 2
    centripetal = 0.7 * rng.uniform()
    gaussian_term = 10 * rng.uniform()
    freq_big_shakes = 0.2 * rng.uniform()
    v = complex(rng.uniform(-1, 1), rng.uniform(-1, 1))
    step = max_len / (samples - 1)
    v = v / (abs(v) + 1e-12) * step
    # Draw every random number up front; the loop itself is plain complex arithmetic.
    shake = rng.uniform(size=samples) < freq_big_shakes * anxiety
    turn = np.exp(1j * (np.pi + (rng.uniform(size=samples) - 0.5)))
    noise = rng.standard_normal(samples) + 1j * rng.standard_normal(samples)
    x = [0j] * samples
    pos = 0j
    for t in range(samples - 1):
        next_dir = 2 * v * complex(turn[t]) if shake[t] else 0
        v = v + next_dir + anxiety * (gaussian_term * complex(noise[t]) - centripetal * pos) * step
        v = v / (abs(v) + 1e-12) * step
        pos = pos + v
        x[t + 1] = pos
    x = np.asarray(x)
    pts = np.stack([x.imag, x.real], 1)
    pts -= pts.min(axis=0)
    extent = max(pts.max(), 1e-9)
    pts *= rng.uniform(0.5, 1.0) * max_len / extent
    pts += (size // 2) - pts.mean(axis=0)  # centre of mass at the kernel centre
    pts = np.clip(pts, 0, size - 1)
    return validate_psf(_splat(pts, size), "camera_shake")
