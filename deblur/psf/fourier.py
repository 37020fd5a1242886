"""Fourier helpers of the blur operator: fast FFT sizes, transfer functions, shifts."""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

from deblur.psf.kernels import validate_psf

__all__ = ["fft_shape", "fft_workers", "psf_to_otf", "shift_phase"]


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
