"""Diagnostics of a blind network: does it invert the blur it sees, or apply one filter?

Two figures (issue 18), both on fixed, seeded validation crops:

* the **linear floor** (:func:`linear_floor_filter`): the best single shift-invariant
  linear filter over a distribution of PSFs, ``W(w) = E[K*(w)] S(w) / (E[|K(w)|^2] S(w) +
  s^2)`` with ``S`` the mean power spectrum of sharp crops and ``s^2`` the noise power. A
  blind network that scores within a few tenths of a dB of it has learned one filter.
* the **inversion index** (:func:`inversion_index`): the same crops blurred by two
  different PSFs ``k1, k2``; the network's effective transfer function ``H_i`` on each
  (:func:`transfer_function`, a least-squares fit per frequency bin) is compared with the
  Wiener filter ``W_j`` of each true PSF. The index is the mean of ``corr(H_i, W_i) -
  corr(H_i, W_j)``: about 0 for a network that treats both blurs alike (a sharpener),
  clearly positive for one that inverts the blur it is given, at most 2.

Images are float32 tensors ``(B, C, H, W)`` in [0, 1]; spectra use ``rfft2`` with
``norm="ortho"`` on an ``(H, W)`` grid, so white noise of std ``s`` has power ``s^2`` at
every frequency.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from deblur import synth
from deblur.psf.fourier import psf_to_otf

__all__ = [
    "NOISE_POWER",
    "apply_filter",
    "blurred_crops",
    "inversion_index",
    "linear_floor_filter",
    "mean_power_spectrum",
    "transfer_function",
    "wiener_filter",
]

#: Noise power of the validation model: 1% Gaussian noise plus 8-bit quantisation.
NOISE_POWER = 0.01**2 + 1 / (12 * 255.0**2)


def mean_power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Mean power spectrum ``(H, W // 2 + 1)`` of images ``(B, C, H, W)`` (all images and
    channels averaged; ortho-normalised ``rfft2``)."""
    return torch.fft.rfft2(x.double(), norm="ortho").abs().pow(2).mean(dim=(0, 1))


def _otfs(psfs: list[np.ndarray], shape: tuple[int, int]) -> torch.Tensor:
    return torch.stack(
        [psf_to_otf(np.asarray(k, np.float32), shape).to(torch.complex128) for k in psfs]
    )


def linear_floor_filter(
    psfs: list[np.ndarray], power: torch.Tensor, noise_power: float = NOISE_POWER
) -> torch.Tensor:
    """The best single linear filter (least mean squared error) over a set of PSFs.

    Parameters
    ----------
    psfs : list of ``(h, w)`` PSFs (each sums to 1), a sample of the blur distribution.
    power : ``(N, N // 2 + 1)`` mean power spectrum of square sharp images
        (:func:`mean_power_spectrum`); it fixes the ``N x N`` grid.
    noise_power : power of the additive noise per frequency (``s^2``).

    Returns
    -------
    complex128 tensor ``(N, N // 2 + 1)``: ``E[K*] S / (E[|K|^2] S + s^2)``.
    """
    n = power.shape[0]
    return _floor(_otfs(psfs, (n, n)), power, noise_power)


def _floor(k: torch.Tensor, power: torch.Tensor, noise_power: float) -> torch.Tensor:
    num = k.conj().mean(dim=0) * power
    return num / (k.abs().pow(2).mean(dim=0) * power + noise_power)


def wiener_filter(
    psf: np.ndarray, power: torch.Tensor, noise_power: float = NOISE_POWER
) -> torch.Tensor:
    """Wiener filter ``K* S / (|K|^2 S + s^2)`` of one PSF, on ``power``'s grid (square)."""
    return linear_floor_filter([psf], power, noise_power)


def apply_filter(y: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Circular filtering of ``y`` ``(B, C, H, W)`` by ``filt`` ``(H, W // 2 + 1)``."""
    out = torch.fft.irfft2(torch.fft.rfft2(y.double()) * filt, s=y.shape[-2:])
    return out.float()


def blurred_crops(
    photos: list[np.ndarray],
    psfs: list[np.ndarray],
    patch: int,
    seed: int,
    noise: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The central ``patch`` crops of ``photos``, blurred with the simple sRGB model.

    Parameters
    ----------
    photos : list of float32 ``(H, W, 3)`` sRGB arrays in [0, 1], each larger than ``patch``
        plus twice the largest PSF's half-size.
    psfs : one PSF per photo (cycled when shorter), ``(h, w)``, sums to 1.
    patch : side of the crops.
    seed : noise seed (crop ``n`` draws from ``[seed, n]``).
    noise : std of the Gaussian noise on the [0, 1] scale.

    Returns
    -------
    blurred, sharp : float32 tensors ``(N, 3, patch, patch)`` in [0, 1].
    """
    cfg = synth.BlurConfig(p_linear=0.0, noise=(noise, noise))
    margin = max(max(k.shape) for k in psfs) // 2 + 1
    bs, ss = [], []
    for n, im in enumerate(photos):
        side = patch + 2 * margin
        y0, x0 = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
        crop = im[y0 : y0 + side, x0 : x0 + side]
        b, s = synth.synthesize_pair(
            crop, patch, np.random.default_rng([seed, n]), cfg, psf=psfs[n % len(psfs)]
        )
        bs.append(torch.from_numpy(b).permute(2, 0, 1))
        ss.append(torch.from_numpy(s).permute(2, 0, 1))
    return torch.stack(bs), torch.stack(ss)


def _hann(n: int) -> torch.Tensor:
    w = torch.hann_window(n, periodic=False, dtype=torch.float64)
    return w[:, None] * w[None, :]


def transfer_function(x_hat: torch.Tensor, y: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """The effective linear transfer function from ``y`` to ``x_hat``, binned.

    ``H(w) = sum(X^ conj(Y)) / sum(|Y|^2)`` over the images, channels and the frequencies of
    each bin (Hann-windowed square images ``(B, C, N, N)``; the ``rfft2`` grid is cut into
    ``bins x (bins // 2 + 1)`` blocks). Returns complex128 ``(bins, bins // 2 + 1)``.
    """
    win = _hann(y.shape[-1])
    X = torch.fft.rfft2(x_hat.double() * win, norm="ortho")
    Y = torch.fft.rfft2(y.double() * win, norm="ortho")
    num = _bin((X * Y.conj()).sum(dim=(0, 1)), bins)
    den = _bin(Y.abs().pow(2).sum(dim=(0, 1)), bins)
    return num / den.clamp_min(1e-12)


def _bin(z: torch.Tensor, bins: int) -> torch.Tensor:
    """Sum of a ``(N, N // 2 + 1)`` grid over ``bins x (bins // 2 + 1)`` blocks."""
    n = z.shape[0]
    shifted = torch.fft.fftshift(z, dim=0)  # rows from -N/2 to N/2 - 1
    rows = torch.div(torch.arange(n) * bins, n, rounding_mode="floor")
    cols = torch.clamp(
        torch.div(torch.arange(z.shape[1]) * (bins // 2 + 1), z.shape[1], rounding_mode="floor"),
        max=bins // 2,
    )
    out = torch.zeros(bins, bins // 2 + 1, dtype=z.dtype)
    idx = rows[:, None] * (bins // 2 + 1) + cols[None, :]
    out.view(-1).index_add_(0, idx.reshape(-1), shifted.reshape(-1))
    return out


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    va = torch.cat([a.real.reshape(-1), a.imag.reshape(-1)])
    vb = torch.cat([b.real.reshape(-1), b.imag.reshape(-1)])
    va, vb = va - va.mean(), vb - vb.mean()
    return float((va @ vb) / (va.norm() * vb.norm()).clamp_min(1e-12))


def inversion_index(
    restore: Callable[[torch.Tensor], torch.Tensor],
    photos: list[np.ndarray],
    k1: np.ndarray,
    k2: np.ndarray,
    patch: int = 256,
    seed: int = 20261203,
    bins: int = 16,
) -> dict[str, float]:
    """Does ``restore`` apply a filter that depends on the blur it is given?

    Parameters
    ----------
    restore : maps blurred ``(B, 3, patch, patch)`` in [0, 1] to estimates of that shape.
    photos : sharp float32 ``(H, W, 3)`` sRGB arrays in [0, 1] (their central crops are
        used; the same crops for both PSFs, with the same noise).
    k1, k2 : two different ``(h, w)`` PSFs.

    Returns
    -------
    dict with ``index`` (mean of ``corr(H_i, W_i) - corr(H_i, W_j)``, in [-2, 2]) and the
    four correlations ``c11, c12, c21, c22`` (``c_ij = corr(H_i, W_j)``).
    """
    corr = {}
    hs, ws = [], []
    for k in (k1, k2):
        y, x = blurred_crops(photos, [k], patch, seed)
        with torch.no_grad():
            hs.append(transfer_function(restore(y), y, bins))
        # the Wiener filter of k, binned the same way (as the transfer function of
        # Wiener filtering of these very crops)
        w = wiener_filter(k, mean_power_spectrum(x))
        ws.append(transfer_function(apply_filter(y, w), y, bins))
    for i in range(2):
        for j in range(2):
            corr[f"c{i + 1}{j + 1}"] = _corr(hs[i], ws[j])
    corr["index"] = 0.5 * (corr["c11"] - corr["c12"] + corr["c22"] - corr["c21"])
    return corr


def pad_reflect(x: torch.Tensor, m: int) -> torch.Tensor:
    """Reflect-pad ``(B, C, H, W)`` by ``m`` on every side (for circular filtering)."""
    return F.pad(x, (m, m, m, m), mode="reflect")
