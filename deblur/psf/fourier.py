"""Fourier helpers of the blur operator, the deconvolutions and the kernel fits: fast FFT
sizes, the ``scipy.fft`` worker count, transfer functions (torch and numpy), shifts and the
power of the finite-difference operators."""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

from deblur.psf.kernels import validate_psf

__all__ = ["diff_power", "fft_shape", "fft_workers", "kernel_otf", "psf_to_otf", "shift_phase"]


def fft_shape(shape_hw: tuple[int, int]) -> tuple[int, int]:
    """Fast real-FFT sizes (``scipy.fft.next_fast_len``) at least ``shape_hw``."""
    return tuple(scipy.fft.next_fast_len(int(n), real=True) for n in shape_hw)


def psf_to_otf(psf: torch.Tensor | np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """Optical transfer function: the ``rfft2`` of the PSF with its centre moved to (0, 0).

    Multiplying ``torch.fft.rfft2(x, s=shape)`` by it and inverting is a circular
    convolution on the ``shape`` grid whose output pixel ``n`` is centred on input ``n``.

    Parameters
    ----------
    psf : tensor or array of shape ``(h, w)`` or ``(B, 1, h, w)``
        With ``h <= shape[0]`` and ``w <= shape[1]``. Arrays are validated and normalised.
    shape : tuple of int
        ``(L1, L2)``, the FFT grid.

    Returns
    -------
    complex tensor of shape ``(L1, L2 // 2 + 1)`` or ``(B, 1, L1, L2 // 2 + 1)``.
    """
    if not isinstance(psf, torch.Tensor):
        psf = torch.from_numpy(validate_psf(np.asarray(psf)))
    h, w = psf.shape[-2:]
    if h > shape[0] or w > shape[1]:
        from deblur.errors import PSFError

        raise PSFError(f"PSF of size {h}x{w} is larger than the {shape[0]}x{shape[1]} grid")
    L1, L2 = int(shape[0]), int(shape[1])
    k = F.pad(psf, (0, L2 - w, 0, L1 - h))
    k = torch.roll(k, shifts=(-(h // 2), -(w // 2)), dims=(-2, -1))
    return torch.fft.rfft2(k)


def shift_phase(shape: tuple[int, int], shift: tuple[int, int]) -> np.ndarray:
    """rfft2-domain factor ``(L1, L2 // 2 + 1)`` complex64 that delays a signal on the
    ``shape`` grid by ``shift`` pixels (rows, columns)."""
    f1 = np.fft.fftfreq(shape[0])[:, None]
    f2 = np.fft.rfftfreq(shape[1])[None, :]
    return np.exp(-2j * np.pi * (f1 * shift[0] + f2 * shift[1])).astype(np.complex64)


def fft_workers() -> int:
    """Threads for ``scipy.fft`` calls: torch's thread setting (``--threads``)."""
    return max(1, torch.get_num_threads())


def kernel_otf(k: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """numpy form of :func:`psf_to_otf` for any real kernel (not validated or normalised:
    kernel-fit iterates may be negative): ``scipy.fft.rfft2`` of ``k`` zero-padded to ``grid``
    (float32) with its centre ``(h // 2, w // 2)`` moved to (0, 0)."""
    h, w = k.shape
    z = np.zeros(grid, np.float32)
    z[:h, :w] = k
    z = np.roll(z, (-(h // 2), -(w // 2)), axis=(0, 1))
    return scipy.fft.rfft2(z, workers=fft_workers())


def diff_power(grid: tuple[int, int]) -> np.ndarray:
    """``|Dx|^2 + |Dy|^2`` (float32, rfft2 layout) of the circular forward differences on
    ``grid``: ``4 - 2 cos(2 pi f1) - 2 cos(2 pi f2)``."""
    f1 = np.fft.fftfreq(grid[0])[:, None]
    f2 = np.fft.rfftfreq(grid[1])[None, :]
    return (4 - 2 * np.cos(2 * np.pi * f1) - 2 * np.cos(2 * np.pi * f2)).astype(np.float32)
