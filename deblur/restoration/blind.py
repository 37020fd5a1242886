"""Blind PSF estimation: recover a uniform blur kernel from the blurred photo alone.

:func:`estimate_psf` alternates an L0-prior latent-image step and a least-squares kernel
step in the gradient domain, coarse to fine on a luminance pyramid (Pan et al. 2014; Xu,
Zheng & Jia 2013; salient edges after Cho & Lee 2009), and returns a delta for photos it
finds sharp (normalised-sparsity test, Krishnan et al. 2011). Everything is numpy/scipy on
the CPU (``torch.get_num_threads()`` FFT workers, fast sizes from
``scipy.fft.next_fast_len``). The result is in the convolution convention of
:mod:`deblur.psf` (centre at ``(h // 2, w // 2)``), ready for
:func:`deblur.restoration.classical.richardson_lucy` or ``wiener``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import scipy.fft
import scipy.ndimage as ndi

from deblur.errors import PSFError
from deblur.psf.fit import cg_kernel, delta, luminance, prune, recentre, resize_kernel
from deblur.psf.fourier import fft_workers, kernel_otf

__all__ = ["estimate_psf"]

_RATIO = math.sqrt(0.5)  # pyramid scale step (Pan et al. 2014)
_BETA_MAX = 1e5  # end of the half-quadratic splitting continuation
_K_THRESHOLD = 0.2  # kernel values under this fraction of the peak are set to 0
_CC_MASS = 0.1  # connected parts of the kernel holding less of the mass are removed
_KEEP = 2  # salient gradients kept per direction bin: _KEEP * kernel side (Cho & Lee)
_CG_ITERS = (30, 10)  # conjugate-gradient iterations of the two kernel solves (cg_kernel)
_NS_LAM = 1e-3  # L0 weight of the latent images compared by the no-blur test
_NS_MAX = 0.85  # kernels that do not lower the latent's l1/l2 below this are rejected
_NEAR_DELTA = 0.8  # kernels with this much of their mass in the central 3x3: a delta


def _luminance(image) -> np.ndarray:
    """Validate an image and return its luminance as float32 ``(H, W)`` in [0, 1]."""
    import torch

    if isinstance(image, torch.Tensor):
        t = image.detach()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise PSFError(f"expected one image, got a batch of {t.shape[0]}")
            t = t[0]
        if t.ndim != 3:
            raise PSFError(f"expected a tensor (1, C, H, W) or (C, H, W), got {tuple(t.shape)}")
        if t.dtype == torch.uint16:  # numpy has no view for all torch dtypes: go via int32
            t = t.to(torch.int32).float() / 65535.0
        elif t.dtype == torch.uint8:
            t = t.float() / 255.0
        elif not t.is_floating_point():
            raise PSFError(f"unsupported tensor dtype {t.dtype} (expected float, uint8, uint16)")
        image = t.to(device="cpu", dtype=torch.float64).numpy().transpose(1, 2, 0)
    if not isinstance(image, np.ndarray):
        raise PSFError(f"expected a numpy array or a torch tensor, got {type(image).__name__}")
    a = image
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        a = a[..., 0] if a.shape[2] == 1 else a[..., :3]
    elif a.ndim != 2:
        raise PSFError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    if a.dtype == np.uint8:
        a = a / 255.0
    elif a.dtype == np.uint16:
        a = a / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise PSFError("the image contains NaN or infinite values")
    else:
        raise PSFError(f"unsupported image dtype {a.dtype} (expected float, uint8 or uint16)")
    a = luminance(a)
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def _pick_window(y: np.ndarray, side: int) -> np.ndarray:
    """The ``side`` x ``side`` (at most) window of ``y`` with the most gradient energy."""
    H, W = y.shape
    if H <= side and W <= side:
        return y
    sh, sw = min(H, side), min(W, side)
    g = np.abs(np.diff(y, axis=0, append=y[-1:])) + np.abs(np.diff(y, axis=1, append=y[:, -1:]))
    c = np.pad(np.cumsum(np.cumsum(g, 0, dtype=np.float64), 1), ((1, 0), (1, 0)))
    ys = np.linspace(0, H - sh, 9).astype(int)[:, None]
    xs = np.linspace(0, W - sw, 9).astype(int)[None, :]
    energy = c[ys + sh, xs + sw] - c[ys, xs + sw] - c[ys + sh, xs] + c[ys, xs]
    i, j = np.unravel_index(np.argmax(energy), energy.shape)
    return y[ys[i, 0] : ys[i, 0] + sh, xs[0, j] : xs[0, j] + sw]


def _periodic_pad(y: np.ndarray, grid: tuple[int, int], top: int, left: int) -> np.ndarray:
    """Place ``y`` at ``(top, left)`` of ``grid``, filled by its mirror image, which is blended
    into a wrap-around-smoothed copy towards the grid edges so the result is periodic."""
    H, W = y.shape
    p = np.pad(y, ((top, grid[0] - H - top), (left, grid[1] - W - left)), mode="symmetric")
    base = ndi.gaussian_filter(p, max(2.0, (grid[0] - H + grid[1] - W) / 8), mode="wrap")

    def ramp(n: int, start: int, length: int) -> np.ndarray:
        d = np.arange(n, dtype=np.float32)
        dist = np.maximum(np.maximum(start - d, d - (start + length - 1)), 0)
        band = max(min(start, n - start - length) - 1, 1)
        return 0.5 + 0.5 * np.cos(np.pi * np.clip(dist / band, 0, 1))

    w = ramp(grid[0], top, H)[:, None] * ramp(grid[1], left, W)[None, :]
    return (w * p + (1 - w) * base).astype(np.float32)


def _latent_l0(Y: np.ndarray, K: np.ndarray, D2: np.ndarray, grid, lam: float, kappa: float):
    """Half-quadratic splitting for ``min_x ||k*x - y||^2 + lam ||grad x||_0`` (Xu et al.
    2011; Pan et al. 2014): alternately zero the gradients below ``sqrt(lam / beta)`` and
    solve the quadratic problem in the Fourier domain, ``beta`` growing by ``kappa``."""
    rfft, irfft, wk = scipy.fft.rfft2, scipy.fft.irfft2, fft_workers()
    num1 = np.conj(K) * Y
    K2 = K.real**2 + K.imag**2
    x = irfft(Y, s=grid, workers=wk)
    h, v, m, div = (np.empty_like(x) for _ in range(4))
    beta = 2 * lam
    while beta < _BETA_MAX:  # in-place, circular forward differences and their adjoint
        np.subtract(x[:, 1:], x[:, :-1], out=h[:, :-1])
        np.subtract(x[:, :1], x[:, -1:], out=h[:, -1:])
        np.subtract(x[1:], x[:-1], out=v[:-1])
        np.subtract(x[:1], x[-1:], out=v[-1:])
        np.multiply(h, h, out=m)
        m += v * v
        small = m < lam / beta
        np.copyto(h, 0, where=small)
        np.copyto(v, 0, where=small)
        div[:, 1:], div[:, :1] = h[:, :-1], h[:, -1:]
        div -= h
        div[1:] += v[:-1]
        div[:1] += v[-1:]
        div -= v
        F = rfft(div, workers=wk)
        F *= beta
        F += num1
        F /= K2 + beta * D2
        x = irfft(F, s=grid, workers=wk)
        beta *= kappa
    return x.astype(np.float32)


def _salient(gx: np.ndarray, gy: np.ndarray, keep: int, threshold: float | None):
    """Cho & Lee (2009) gradient selection: the largest threshold that keeps at least
    ``keep`` pixels in each of 4 direction bins (or the given threshold)."""
    m = np.hypot(gx, gy)
    if threshold is None:
        ang = np.mod(np.arctan2(gy, gx), np.pi)
        bins = np.minimum((ang / (np.pi / 4)).astype(int), 3)
        t = []
        for b in range(4):
            mb = m[(bins == b) & (m > 0)]
            t.append(np.partition(mb, mb.size - keep)[mb.size - keep] if mb.size > keep else 0.0)
        threshold = float(min(t))
    weak = m < threshold
    return np.where(weak, 0, gx), np.where(weak, 0, gy), threshold


def _finish(k: np.ndarray, size: int) -> np.ndarray:
    """Check the final kernel, move its centre of mass to the centre (integer, then bilinear
    sub-pixel shift) and crop it to its support (odd sides, centred)."""
    if not np.all(np.isfinite(k)) or not k.sum() > 0:
        raise PSFError("blind PSF estimate failed: the kernel is degenerate (zero or NaN)")
    k = np.maximum(k, 0) / k.sum()
    ring = k[0].sum() + k[-1].sum() + k[1:-1, 0].sum() + k[1:-1, -1].sum()
    if ring > 0.05:
        raise PSFError(
            f"blind PSF estimate failed: {ring:.0%} of the kernel mass lies on the border of "
            f"the {size}x{size} window (blur larger than size, or no blur structure found)"
        )
    c = size // 2
    k = recentre(k)
    ys, xs = np.nonzero(k)
    r = min(c, max(1, int(np.max(np.abs(np.concatenate([ys - c, xs - c])))) + 1))
    k = k[c - r : c + 1 + r, c - r : c + 1 + r]  # side 2r + 1 <= size
    # bilinear sub-pixel shift: moves the centre of mass exactly onto the centre
    k = ndi.shift(k, r - np.array(ndi.center_of_mass(k)), order=1, mode="constant")
    if not k.sum() > 0.9:
        raise PSFError("blind PSF estimate failed: the kernel does not fit its window")
    return (k / k.sum()).astype(np.float32)


def estimate_psf(
    image,
    size: int | None = None,
    *,
    iterations: int = 8,
    lam: float = 2e-3,
    gamma: float = 2.0,
    max_side: int = 512,
) -> np.ndarray:
    """Estimate the blur kernel (PSF) of a uniformly blurred photo, without knowing it.

    Coarse-to-fine alternating minimisation with an L0 gradient prior (Pan et al. 2014;
    Xu et al. 2013) on the luminance: at each pyramid level (scale step ``sqrt(1/2)``, the
    kernel about 5 px at the coarsest) the latent sharp image is restored with the current
    kernel by half-quadratic splitting, its salient gradients are selected (Cho & Lee
    2009), and the kernel is refitted to them by Tikhonov-regularised least squares in the
    gradient domain (conjugate gradients, FFT products, only observed pixels counted),
    then thresholded, made non-negative, normalised and recentred. The kernel starts as a
    delta; a delta is returned when the estimate does not sharpen the photo (normalised
    sparsity of the restored gradients, Krishnan et al. 2011) or holds 80% or more of its
    mass in its central 3x3 (a blur too small to tell from the photo's own edge width).

    Parameters
    ----------
    image : array of shape ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, or tensor of shape
        ``(1, C, H, W)`` / ``(C, H, W)`` with ``C`` in 1, 3, 4
        The blurred photo: float in [0, 1], or uint8 / uint16 (scaled). Colour images are
        reduced to BT.601 luma; alpha is ignored. Images larger than ``max_side`` are
        estimated on the ``max_side`` x ``max_side`` window with the most gradient energy
        (the blur is assumed to be the same everywhere).
    size : int, optional
        Largest kernel side considered, odd, 3 to 101; default 45 (camera shakes of up to
        about 41 px). Needs ``min(H, W) >= 2 * size``.
    iterations : int
        Latent/kernel alternations per pyramid level, >= 1.
    lam : float
        Initial weight of the L0 gradient prior (divided by 1.1 per iteration), > 0.
    gamma : float
        Tikhonov weight on ``||k||^2`` in the kernel step, >= 0.
    max_side : int
        Side of the window the estimate works on for large images, >= ``2 * size``
        (time grows with its square).

    Returns
    -------
    psf : float32 array of shape ``(h, h)``, ``h`` odd, ``3 <= h <= size``
        Non-negative, sums to 1, cropped to its support, centre of mass at
        ``(h // 2, h // 2)`` (to rounding error), in the convolution orientation of
        :func:`deblur.psf.blur`. A photo found sharp gives a 3x3 delta.

    Raises
    ------
    PSFError
        A bad image (shape, dtype, NaN/inf, a batch of several, no contrast), an invalid
        ``size`` or other parameter, an image smaller than ``2 * size`` on a side, or a
        failed estimate (degenerate kernel, or over 5% of its mass on the border of the
        ``size`` window). The message is one line.

    References
    ----------
    J. Pan, Z. Hu, Z. Su and M.-H. Yang, "Deblurring text images via L0-regularized
    intensity and gradient prior", CVPR 2014. L. Xu, S. Zheng and J. Jia, "Unnatural L0
    sparse representation for natural image deblurring", CVPR 2013. S. Cho and S. Lee,
    "Fast motion deblurring", ACM TOG (SIGGRAPH Asia) 2009. D. Krishnan, T. Tay and
    R. Fergus, "Blind deconvolution using a normalized sparsity measure", CVPR 2011.
    """
    size = 45 if size is None else size
    if (
        isinstance(size, bool)
        or not isinstance(size, (int, np.integer))
        or not (3 <= size <= 101 and size % 2 == 1)
    ):
        raise PSFError(f"size must be an odd integer from 3 to 101, got {size!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise PSFError(f"iterations must be an integer >= 1, got {iterations!r}")
    real = (int, float, np.integer, np.floating)
    if not (isinstance(lam, real) and isinstance(gamma, real)) or not (
        math.isfinite(lam) and lam > 0 and math.isfinite(gamma) and gamma >= 0
    ):
        raise PSFError(f"lam must be > 0 and gamma >= 0, got lam={lam!r}, gamma={gamma!r}")
    if not isinstance(max_side, (int, np.integer)) or max_side < 2 * size:
        raise PSFError(f"max_side must be an integer >= 2 * size = {2 * size}, got {max_side!r}")
    y = _luminance(image)
    if min(y.shape) < 2 * size:
        raise PSFError(
            f"image of {y.shape[0]}x{y.shape[1]} is too small to estimate a {size}x{size} PSF; "
            f"need at least {2 * size} px per side (pass a smaller size)"
        )
    if float(y.max() - y.min()) < 1 / 255:
        raise PSFError("the image is flat (contrast under 1/255): no edges to estimate a PSF")
    y = _pick_window(y, int(max_side))
    levels = max(1, math.ceil(math.log(5 / size) / math.log(_RATIO)) + 1) if size > 5 else 1
    k = None
    for lev in range(levels - 1, -1, -1):
        scale = _RATIO**lev
        s = max(3, int(round(size * scale)) | 1)
        shape = (max(8, round(y.shape[1] * scale)), max(8, round(y.shape[0] * scale)))
        yl = cv2.resize(y, shape, interpolation=cv2.INTER_AREA) if lev else y
        k = delta(s) if k is None else resize_kernel(k, s)
        lv = _Level(yl, s)
        k = _estimate_level(lv, k, iterations, lam, gamma)
    c = k.shape[0] // 2
    if lv.sparsity_ratio(k) > _NS_MAX or k[c - 1 : c + 2, c - 1 : c + 2].sum() >= _NEAR_DELTA:
        k = delta(size)  # the kernel does not sharpen the photo, or is too small to matter
    return _finish(k, size)


class _Level:
    """One pyramid level: the image ``y`` placed on a periodic fast-size grid (``s``, the
    kernel side, of margin each side), its spectrum, the spectra of its gradients on the
    observed pixels (``mask``) and ``|D|^2`` of the forward differences."""

    def __init__(self, y: np.ndarray, s: int):
        H, W = y.shape
        wk = fft_workers()
        self.grid = grid = tuple(scipy.fft.next_fast_len(n + 2 * s, real=True) for n in (H, W))
        top, left = (grid[0] - H) // 2, (grid[1] - W) // 2
        yp = _periodic_pad(y, grid, top, left)
        self.Y = scipy.fft.rfft2(yp, workers=wk)
        dx, dy = np.zeros(grid, np.float32), np.zeros(grid, np.float32)
        dx[0, 0], dx[0, -1] = -1, 1  # forward differences x[n + 1] - x[n] as convolutions
        dy[0, 0], dy[-1, 0] = -1, 1
        Dx, Dy = (scipy.fft.rfft2(d, workers=wk) for d in (dx, dy))
        self.D2 = (Dx * np.conj(Dx)).real + (Dy * np.conj(Dy)).real
        self.mask = np.zeros(grid, np.float32)  # observed pixels whose gradients are valid
        self.mask[top : top + H - 1, left : left + W - 1] = 1
        self.yp = yp
        self.Ygrad = [scipy.fft.rfft2(g * self.mask, workers=wk) for g in _grad(yp)]

    def latent(self, k: np.ndarray, lam: float) -> np.ndarray:
        K = kernel_otf(k, self.grid)
        return _latent_l0(self.Y, K, self.D2, self.grid, lam, 2.0)

    def sparsity_ratio(self, k: np.ndarray) -> float:
        """Normalised sparsity ``l1 / l2`` of the gradients (Krishnan et al. 2011) of the
        latent image restored with ``k`` over that restored with a delta (L0 smoothing),
        on observed pixels ``k.shape`` away from the border. The right kernel turns blurred
        ramps into steps (ratio well under 1); a spurious kernel on a sharp photo adds
        ringing (ratio near or over 1)."""
        m = k.shape[0]
        rows, cols = np.nonzero(self.mask.any(1))[0], np.nonzero(self.mask.any(0))[0]
        inner = slice(rows[0] + m, rows[-1] + 1 - m), slice(cols[0] + m, cols[-1] + 1 - m)

        def ns(x):
            g = np.abs(np.stack([d[inner] for d in _grad(x)]))
            return g.sum() / max(np.sqrt((g**2).sum()), 1e-12)

        sharp, smooth = self.latent(k, _NS_LAM), self.latent(delta(1), _NS_LAM)
        return float(ns(sharp) / max(ns(smooth), 1e-12))


def _grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.roll(x, -1, 1) - x, np.roll(x, -1, 0) - x


def _clean(k: np.ndarray) -> np.ndarray | None:
    """Values under ``_K_THRESHOLD`` of the peak and 8-connected parts holding under
    ``_CC_MASS`` of the mass removed, normalised, centre of mass moved to the nearest pixel
    of the centre (None if nothing is left)."""
    k = prune(k, _K_THRESHOLD, piece=_CC_MASS, of="total")
    return None if k is None else recentre(k)


def _estimate_level(lv: _Level, k, iterations, lam, gamma):
    """Alternate latent and kernel steps on one level (the threshold on the latent's
    gradients and ``lam`` decrease by 1.1 per iteration, as in Pan et al.)."""
    threshold = None
    for _ in range(iterations):
        x = lv.latent(k, lam)
        gx, gy, threshold = _salient(*_grad(x), _KEEP * k.shape[0], threshold)
        threshold /= 1.1
        k_new = _clean(cg_kernel((gx, gy), lv.Ygrad, lv.mask, lv.grid, k, gamma, _CG_ITERS))
        if k_new is None:
            break
        k = k_new
        lam = max(lam / 1.1, 1e-4)
    return k
