"""Classical non-blind deconvolution: Richardson–Lucy and Wiener.

Plain functions in the style of :mod:`skimage.restoration`. Both take an image as a numpy
array ``(H, W)`` / ``(H, W, C)`` (float in [0, 1], uint8 or uint16) or a tensor
``(B, C, H, W)`` and return the same kind and layout, as float32 (see
:func:`deblur.layout.as_bchw`). The blur model is :func:`deblur.psf.blur` with the same
``boundary``; all channels (and images of a batch) go through one batched FFT on fast sizes.

The computation runs on the CPU with numpy and ``scipy.fft`` (``torch.get_num_threads()``
workers), measured faster there than ``torch.fft``; tensors on other devices are returned on
their device.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import torch

from deblur.constants import WIENER_REGS
from deblur.errors import PSFError
from deblur.layout import as_bchw
from deblur.psf import BOUNDARIES, FFTBlur, check_psf_fits, validate_psf
from deblur.psf.fourier import fft_shape, fft_workers, psf_to_otf

__all__ = ["WIENER_REGS", "richardson_lucy", "wiener"]


def _check_psf(psf, image: torch.Tensor) -> torch.Tensor:
    """Validate and normalise a PSF: ``(h, w)`` or ``(B, 1, h, w)`` float32 tensor."""
    B = image.shape[0]
    expected = f"expected a PSF of shape (h, w) or ({B}, 1, h, w)"
    if isinstance(psf, torch.Tensor):
        psf = psf.detach().cpu().numpy()
    psf = np.asarray(psf)
    if psf.ndim == 4:
        if psf.shape[1] != 1 or psf.shape[0] not in (1, B):
            raise PSFError(f"psf: {expected}, got shape {psf.shape}")
        k = np.stack([validate_psf(p[0], "psf") for p in psf])[:, None]
        if k.shape[0] == 1:
            k = k[0, 0]
    elif psf.ndim == 2:
        k = validate_psf(psf, "psf")
    else:
        raise PSFError(f"psf: {expected}, got shape {psf.shape}")
    check_psf_fits(k.shape, image.shape)
    return torch.from_numpy(np.ascontiguousarray(k)).to(image.device)


def _check_boundary(boundary: str) -> None:
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")


def _lambda(g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    """Biggs–Andrews extrapolation step per (image, channel), clipped to [0, 1]."""
    num = np.einsum("...ij,...ij->...", g1, g2, dtype=np.float64)
    den = np.einsum("...ij,...ij->...", g2, g2, dtype=np.float64)
    lam = np.clip(num / np.maximum(den, 1e-30), 0.0, 1.0)
    return lam.astype(np.float32)[..., None, None]


def richardson_lucy(
    y: np.ndarray | torch.Tensor,
    psf: np.ndarray | torch.Tensor,
    iterations: int = 30,
    *,
    boundary: str = "reflect",
    accelerate: bool = False,
    clip: bool = True,
    eps: float = 1e-7,
    normalize: bool = True,
):
    """Richardson–Lucy deconvolution (maximum-likelihood under Poisson noise).

    Each iteration multiplies the estimate by ``A^T(y / A x) / A^T 1``, where ``A`` is
    :func:`deblur.psf.blur` with the given ``boundary``; the estimate starts at 0.5 everywhere
    (as in scikit-image) and stays non-negative.

    Parameters
    ----------
    y : array of shape ``(H, W)`` or ``(H, W, C)``, or tensor of shape ``(B, C, H, W)``
        Blurred image, values in [0, 1] (float of any precision, or uint8/uint16, scaled).
        Negative values (noise below black) are clipped to 0 on entry: RL's Poisson model
        has no negative data, and they would spread errors over the whole result.
    psf : array or tensor of shape ``(h, w)``, or of shape ``(B, 1, h, w)`` (one per image)
        Non-negative, normalised here to sum 1, centre at ``(h // 2, w // 2)``,
        ``h <= H`` and ``w <= W``.
    iterations : int
        Number of iterations, >= 0 (0 returns the initial estimate, 0.5 everywhere).
    boundary : {"reflect", "periodic", "zero"}
        Image model beyond the border (see :func:`deblur.psf.blur`). ``"reflect"`` pads the
        estimate by the PSF's half sizes with its mirror image in every iteration and folds
        the correlation back (the exact adjoint), normalising by ``A^T 1``. ``"periodic"``
        is plain circular RL (flux preserving). ``"zero"`` assumes a black surround and
        divides by ``A^T 1`` (as deepinv's zero-padded RL), so the borders keep their
        brightness.
    normalize : bool
        Divide each update by ``A^T 1`` (default). ``normalize=False`` with
        ``boundary="zero"`` reproduces ``skimage.restoration.richardson_lucy(y, psf,
        iterations, clip=False)`` to ~1e-6, whose borders darken over a band of the PSF's
        half size. For even-sized PSFs scikit-image centres its forward convolution at
        ``(h - 1) // 2`` but its mirrored correlation at ``h // 2``; here both use
        ``h // 2``, which equals scikit-image given the PSF zero-padded to odd sizes at the
        bottom/right.
    accelerate : bool
        Biggs & Andrews (1997) first-order vector extrapolation: each step is predicted from
        the last two RL updates, reaching a given quality in fewer iterations.
    clip : bool
        Clip the result to [0, 1].
    eps : float
        Lower bound of the re-blurred estimate in the ratio ``y / A x`` (avoids division by
        zero on black regions).

    Returns
    -------
    Deblurred image, float32, of the kind and layout of ``y``: an ``(H, W)`` /
    ``(H, W, C)`` array or a ``(B, C, H, W)`` tensor. Values >= 0 (in [0, 1] with ``clip``).

    Raises
    ------
    ValueError
        Bad image or PSF shape, a PSF larger than the image, a negative, NaN or all-zero
        PSF, ``iterations < 0`` or an unknown ``boundary``.

    References
    ----------
    W. H. Richardson, "Bayesian-based iterative method of image restoration", JOSA 1972.
    L. B. Lucy, "An iterative technique for the rectification of observed distributions",
    AJ 1974. D. S. C. Biggs and M. Andrews, "Acceleration of iterative image restoration
    algorithms", Applied Optics 36(8), 1997.
    """
    x_in, back = as_bchw(y)
    _check_boundary(boundary)
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 0:
        raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    k = _check_psf(psf, x_in)
    obs = x_in.detach().cpu().numpy().astype(np.float32)  # a copy: never modify the input
    np.maximum(obs, 0.0, out=obs)
    op = FFTBlur(k, obs.shape[-2:], boundary)
    norm = None
    if normalize and boundary != "periodic":  # A^T 1 is not 1 near the borders
        n_psf = k.shape[0] if k.ndim == 4 else 1
        at1 = op.adjoint(np.ones((n_psf, 1) + obs.shape[-2:], np.float32))
        norm = np.where(at1 > 1e-6, 1.0 / np.maximum(at1, 1e-6), 0.0).astype(np.float32)

    def step(est: np.ndarray) -> np.ndarray:
        ratio = op.forward(est)
        np.maximum(ratio, eps, out=ratio)
        np.divide(obs, ratio, out=ratio)
        corr = op.adjoint(ratio)
        if norm is not None:
            corr *= norm
        corr *= est
        return np.maximum(corr, 0.0, out=corr)

    est = np.full_like(obs, 0.5)
    prev = g1 = g2 = None
    for _ in range(int(iterations)):
        if not accelerate:
            est = step(est)
            continue
        pred = est
        if g2 is not None:
            pred = est - prev
            pred *= _lambda(g1, g2)
            pred += est
            np.maximum(pred, 0.0, out=pred)
        new = step(pred)
        g2, g1 = g1, new - pred
        prev, est = est, new
    if clip:
        est = np.clip(est, 0.0, 1.0)
    return back(torch.from_numpy(np.ascontiguousarray(est, dtype=np.float32)))


def wiener(
    y: np.ndarray | torch.Tensor,
    psf: np.ndarray | torch.Tensor,
    nsr: float = 1e-2,
    *,
    boundary: str = "reflect",
    clip: bool = True,
    reg: str = "identity",
):
    """Wiener deconvolution with a constant noise-to-signal power ratio.

    Computes ``X = conj(K) Y / (|K|^2 + nsr |R|^2)`` in the Fourier domain, ``K`` the PSF's
    transfer function and ``R`` the regulariser's: 1 (``reg="identity"``) or the 5-point
    Laplacian (``reg="laplacian"``, as :func:`skimage.restoration.wiener`'s default), which
    penalises high frequencies more than low ones.

    Parameters
    ----------
    y : array of shape ``(H, W)`` or ``(H, W, C)``, or tensor of shape ``(B, C, H, W)``
        Blurred image, values in [0, 1] (float, or uint8/uint16, scaled).
    psf : array or tensor of shape ``(h, w)``, or of shape ``(B, 1, h, w)`` (one per image)
        Non-negative, normalised here to sum 1, ``h <= H``, ``w <= W``.
    nsr : float
        Noise-to-signal power ratio, > 0: the noise variance divided by the signal's power
        per frequency, taken flat over frequencies (so it is the Tikhonov weight on
        ``||x||^2`` of a least-squares fit). With white noise of standard deviation
        ``sigma`` on an image of variance ``s2``, ``nsr ~ sigma**2 / s2``; larger values
        suppress noise and ringing at the cost of sharpness.
    boundary : {"reflect", "periodic", "zero"}
        ``"periodic"`` filters the ``(H, W)`` image as it is; ``"reflect"`` / ``"zero"``
        first pad it by at least the PSF size on each side (mirror image / zeros), up to
        fast FFT sizes, and crop the result, which keeps wrap-around ringing off the image.
    clip : bool
        Clip the result to [0, 1].
    reg : {"identity", "laplacian"}
        The regulariser (see above).

    Returns
    -------
    Deblurred image, float32, of the kind and layout of ``y``.

    Raises
    ------
    ValueError
        Bad image or PSF shape, a PSF larger than the image, ``nsr <= 0`` or an unknown
        ``boundary`` or ``reg``.
    """
    x_in, back = as_bchw(y)
    _check_boundary(boundary)
    if not (isinstance(nsr, (int, float)) and math.isfinite(nsr) and nsr > 0):
        raise ValueError(f"nsr must be a finite number > 0, got {nsr!r}")
    if reg not in WIENER_REGS:
        raise ValueError(f"reg must be one of {', '.join(WIENER_REGS)}, got {reg!r}")
    k = _check_psf(psf, x_in)
    obs = x_in.detach().cpu().numpy()
    H, W = obs.shape[-2:]
    h, w = k.shape[-2:]
    if boundary == "periodic":
        grid, top, left = (H, W), 0, 0
    else:
        grid = fft_shape((H + 2 * h, W + 2 * w))
        top, left = (grid[0] - H) // 2, (grid[1] - W) // 2
        mode = "reflect" if boundary == "reflect" and min(H, W) > 1 else "constant"
        pads = ((0, 0), (0, 0), (top, grid[0] - H - top), (left, grid[1] - W - left))
        obs = np.pad(obs, pads, mode=mode)
    otf = psf_to_otf(k.double().cpu(), grid).numpy()
    penalty = 1.0
    if reg == "laplacian":
        lap = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])
        L = psf_to_otf(torch.from_numpy(lap), grid).numpy()
        penalty = L.real**2 + L.imag**2
    filt = (otf.conj() / (otf.real**2 + otf.imag**2 + nsr * penalty)).astype(np.complex64)
    Y = scipy.fft.rfft2(obs, workers=fft_workers())
    Y *= filt
    est = scipy.fft.irfft2(Y, s=grid, workers=fft_workers())[..., top : top + H, left : left + W]
    if clip:
        est = np.clip(est, 0.0, 1.0)
    return back(torch.from_numpy(np.ascontiguousarray(est, dtype=np.float32)))
