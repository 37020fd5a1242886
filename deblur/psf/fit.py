"""The kernel-fit toolkit: least-squares blur kernels between two images, and their clean-up.

Shared by the result check (:mod:`deblur.restoration.guard`: the kernel that maps a result
onto its input) and the blind estimator (:mod:`deblur.restoration.blind`: the kernel that
maps the latent sharp image onto the photo). Both fit on the luminance (:func:`luminance`),
in the gradient domain, and project the least-squares kernel onto plausible blurs
(:func:`prune`). Fourier transforms are :mod:`deblur.psf.fourier`'s.

* :func:`tikhonov_kernel`: closed-form Tikhonov fit on tapered gradients (Cho & Lee 2009;
  Levin et al. 2009), with the smoothed spectra and correlations the check uses;
* :func:`cg_kernel`: the same least squares over a kernel support, only observed pixels
  counted, by conjugate gradients with FFT products (large supports);
* :func:`nnls_refit`: non-negative least squares on a kernel's support (small supports);
* :func:`prune`, :func:`recentre`, :func:`delta`, :func:`resize_kernel`: clean-up;
* :func:`noise_sigma`: the MAD noise level (Donoho & Johnstone 1994).
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.fft
import scipy.linalg
import scipy.ndimage as ndi
import scipy.optimize

from deblur.psf.fourier import fft_workers, kernel_otf

__all__ = [
    "LUMA",
    "cg_kernel",
    "delta",
    "luminance",
    "noise_sigma",
    "nnls_refit",
    "prune",
    "recentre",
    "resize_kernel",
    "tikhonov_kernel",
    "tukey",
]

LUMA = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G, B."""


def luminance(a: np.ndarray, channel_axis: int = -1) -> np.ndarray:
    """BT.601 luma of the first three channels of ``a`` (channels on ``channel_axis``, 0 or
    -1), computed in ``a``'s float precision; an image with fewer than 3 channels gives its
    first channel, a 2-D one itself (alpha is ignored)."""
    if a.ndim == 2:
        return a
    if a.shape[channel_axis] < 3:
        return np.take(a, 0, axis=channel_axis)
    w = np.asarray(LUMA, a.dtype)
    if channel_axis == 0:
        return np.tensordot(w, a[:3], axes=1)
    return a[..., :3] @ w


def noise_sigma(a: np.ndarray) -> float:
    """Donoho-Johnstone MAD noise estimate on the finest diagonal Haar band of (H, W)."""
    H, W = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    b = a[:H, :W]
    hh = (b[0::2, 0::2] - b[0::2, 1::2] - b[1::2, 0::2] + b[1::2, 1::2]) / 2
    return float(np.median(np.abs(hh)) / 0.6745)


def tukey(n: int, frac: float = 0.1) -> np.ndarray:
    """Tukey (tapered cosine) window of ``n`` samples, ``frac`` of them tapered each side."""
    w = np.ones(n)
    m = max(1, int(n * frac))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    w[:m], w[n - m :] = ramp, ramp[::-1]
    return w


def tikhonov_kernel(x: np.ndarray, y: np.ndarray, r: int, reg: float = 0.1):
    """Gradient-domain Tikhonov fit of ``y = k * x`` on (H, W) luminances: the (2r+1)^2
    kernel (centre ``(r, r)``), the FFT grid, the 9x9-smoothed spectra ``(Sxy, Sxx, Syy)``
    of the tapered gradients, and their auto- and cross-correlations (for
    :func:`nnls_refit`)."""
    grads = [(np.diff(a, axis=1)[:-1], np.diff(a, axis=0)[:, :-1]) for a in (x, y)]
    h, w = grads[0][0].shape
    win = np.outer(tukey(h), tukey(w)).astype(np.float32)
    s = tuple(scipy.fft.next_fast_len(n + 2 * r, real=True) for n in (h, w))
    workers = fft_workers()
    num, den, py = 0.0, 0.0, 0.0
    for gx, gy in zip(grads[0], grads[1]):
        X = scipy.fft.rfft2(gx * win, s, workers=workers)
        Y = scipy.fft.rfft2(gy * win, s, workers=workers)
        num = num + np.conj(X) * Y
        den = den + (X.real**2 + X.imag**2)
        py = py + (Y.real**2 + Y.imag**2)
    k = scipy.fft.irfft2(num / (den + reg * den.mean() + 1e-30), s, workers=workers)
    k = np.roll(k, (r, r), (0, 1))[: 2 * r + 1, : 2 * r + 1]

    def smooth(a):
        return cv2.blur(a.astype(np.float32), (9, 9), borderType=cv2.BORDER_REFLECT)

    spectra = (smooth(num.real) + 1j * smooth(num.imag), smooth(den), smooth(py))
    corr = (scipy.fft.irfft2(den, s, workers=workers), scipy.fft.irfft2(num, s, workers=workers))
    return k, s, spectra, corr


def _cg(normal, b: np.ndarray, k: np.ndarray, iters: int) -> np.ndarray:
    """Conjugate gradients for ``normal(k) = b`` (symmetric positive definite), from ``k``."""
    r = b - normal(k)
    p, rr = r.copy(), float(np.vdot(r, r))
    for _ in range(iters):
        if rr < 1e-20:
            break
        Ap = normal(p)
        alpha = rr / max(float(np.vdot(p, Ap)), 1e-30)
        k = k + alpha * p
        r -= alpha * Ap
        rr, rr_old = float(np.vdot(r, r)), rr
        p = r + (rr / rr_old) * p
    return k


def cg_kernel(grads, ygrad, mask, grid, k0: np.ndarray, gamma: float, iters=(30, 10)):
    """Least squares ``min_k sum_d ||mask (g_d * k - y_d)||^2 + gamma ||k||^2`` over a
    ``k0``-sized support (centre ``s // 2``), ``g_d`` the latent's gradients on the FFT
    ``grid``, ``ygrad`` the rfft2 spectra of the observed gradients ``mask y_d``.

    Solved by conjugate gradients twice, from ``k0``: ``iters[0]`` iterations without the
    mask on ``g_d * k`` (the normal operator is then a small convolution with the gradients'
    autocorrelation, as in Cho & Lee 2009), then ``iters[1]`` of the exact masked problem
    from that solution, with products by FFT on the grid.
    """
    rfft, irfft, wk = scipy.fft.rfft2, scipy.fft.irfft2, fft_workers()
    s = k0.shape[0]
    Gs = [rfft(g, workers=wk) for g in grads]
    idx = np.arange(-(s // 2), s - s // 2) % np.array(grid)[:, None]
    b = irfft(sum(np.conj(G) * Yf for G, Yf in zip(Gs, ygrad)), s=grid, workers=wk)
    b = b[np.ix_(idx[0], idx[1])].astype(np.float64)
    lags = np.arange(-(s - 1), s) % np.array(grid)[:, None]
    R = irfft(sum((G * np.conj(G)).real for G in Gs), s=grid, workers=wk)
    n = scipy.fft.next_fast_len(3 * s - 2, real=True)  # linear convolution of k and R
    Rf = rfft(R[np.ix_(lags[0], lags[1])].astype(np.float64), (n, n))

    def toeplitz(k):
        full = irfft(Rf * rfft(k, (n, n)), (n, n))
        return full[s - 1 : 2 * s - 1, s - 1 : 2 * s - 1] + gamma * k

    def masked(k):
        Kf = kernel_otf(k, grid)
        acc = 0
        for G in Gs:
            acc = acc + np.conj(G) * rfft(irfft(G * Kf, s=grid, workers=wk) * mask, workers=wk)
        return irfft(acc, s=grid, workers=wk)[np.ix_(idx[0], idx[1])] + gamma * k

    k = _cg(toeplitz, b, k0.astype(np.float64), iters[0])
    return _cg(masked, b, k, iters[1])


def nnls_refit(k: np.ndarray, corr: tuple[np.ndarray, np.ndarray], max_taps: int = 600):
    """Non-negative least-squares refit of ``k`` on its support dilated by one pixel: the
    misfit of :func:`tikhonov_kernel` (normal equations, 1e-3 relative ridge), ``k >= 0``
    (Lawson-Hanson NNLS on the Cholesky factor), sum 1. Kept as is over ``max_taps`` taps."""
    auto, cross = corr
    r = k.shape[0] // 2
    rows, cols = np.nonzero(cv2.dilate((k > 0).astype(np.uint8), np.ones((3, 3), np.uint8)))
    n = len(rows)
    if n > max_taps:
        return k
    L1, L2 = auto.shape
    A = auto[(rows[:, None] - rows[None, :]) % L1, (cols[:, None] - cols[None, :]) % L2]
    A, b = A.astype(np.float64), cross[(rows - r) % L1, (cols - r) % L2].astype(np.float64)
    A[np.diag_indices(n)] += 1e-3 * np.trace(A) / n + 1e-30
    try:
        chol = np.linalg.cholesky(A)
        z = scipy.linalg.solve_triangular(chol, b, lower=True)
        taps = scipy.optimize.nnls(chol.T, z, maxiter=30 * n)[0]
    except (np.linalg.LinAlgError, RuntimeError):
        return k
    if not taps.sum() > 0:
        return k
    out = np.zeros_like(k)
    out[rows, cols] = taps / taps.sum()
    return out


def prune(
    k: np.ndarray, floor: float, *, noise: float = 0.0, piece: float = 0.1, of: str = "largest"
) -> np.ndarray | None:
    """Plausible blur from a least-squares kernel, None if nothing is left: negative taps,
    taps below ``floor`` of the peak or ``noise`` times the taps' noise (MAD), and 8-connected
    pieces holding less than ``piece`` of the ``of`` (``"largest"`` piece's or ``"total"``)
    mass dropped (``"total"`` can drop them all); the rest normalised to sum 1."""
    noise_level = noise * np.median(np.abs(k)) / 0.6745 if noise else 0.0
    k = np.maximum(k, 0.0)
    if not k.max() > 0:
        return None
    level = max(floor * k.max(), noise_level)
    n, labels = cv2.connectedComponents((k >= level).astype(np.uint8), connectivity=8)
    mass = np.bincount(labels.ravel(), weights=k.ravel(), minlength=n)
    mass[0] = 0.0
    ref = mass.max() if of == "largest" else mass.sum()
    k = np.where(np.isin(labels, np.nonzero(mass >= piece * ref)[0]), k, 0.0)
    total = k.sum()
    return k / total if np.isfinite(total) and total > 0 else None


def recentre(k: np.ndarray) -> np.ndarray:
    """``k`` shifted by whole pixels so that its centre of mass is nearest its centre."""
    c = np.array(ndi.center_of_mass(k))
    return ndi.shift(k, np.round(np.array(k.shape) // 2 - c), order=0, mode="constant")


def delta(s: int) -> np.ndarray:
    """The ``s`` x ``s`` (float64) kernel that changes nothing."""
    k = np.zeros((s, s))
    k[s // 2, s // 2] = 1.0
    return k


def resize_kernel(k: np.ndarray, s: int) -> np.ndarray:
    """``k`` resized to ``s`` x ``s`` (bilinear), non-negative, sum 1 (a delta if empty)."""
    k = cv2.resize(k.astype(np.float32), (s, s), interpolation=cv2.INTER_LINEAR)
    k = np.maximum(k, 0)
    return k / k.sum() if k.sum() > 0 else delta(s)
