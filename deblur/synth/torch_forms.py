"""Blur synthesis, torch forms: training pairs made a whole batch at a time on the training
device (``TrainConfig.synth_device == "device"``).

The numpy pipeline (:func:`deblur.synth.numpy_forms.synthesize_pair`, run per sample in the
loader workers) spends most of a sample's time on its FFT blur. With the torch forms the
loader only draws (:class:`deblur.training.device_synth.DeviceSynthStream`: the sharp crop
with its margin, the PSF padded to a common size by :func:`pad_psf` and the pair's random
parameters, drawn with the same per-sample numpy generator and in the same order as the
numpy pipeline); :func:`synthesize_batch` then blurs the whole batch on the training device
(one batched FFT convolution, 'valid' region), runs the linear-light pipeline (sRGB ->
linear, highlight boost, clip), adds Poisson-Gaussian noise from a torch generator seeded
by ``(seed, i)`` (:func:`sample_seed`) and quantises to 8 bits. A sample is still a pure
function of ``(seed, i)`` (and of the device's random number generator), so resume is
exact; the noise differs from the numpy pipeline's, the blurred values agree with it to one
8-bit level when the noise is off.

:func:`srgb_to_linear`, :func:`linear_to_srgb` and :func:`quantize8` are the twins of the
numpy forms of the same names. Images are float32 ``(B, 3, H, W)`` in [0, 1]; PSFs float32
``(B, K, K)`` summing to 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deblur.psf.fourier import fft_shape
from deblur.synth.draws import BlurConfig

__all__ = [
    "PARAM_FIELDS",
    "blur_valid_batch",
    "linear_to_srgb",
    "pad_psf",
    "psf_side",
    "quantize8",
    "sample_noise",
    "sample_seed",
    "srgb_to_linear",
    "synthesize_batch",
]

#: Columns of a sample's ``params`` vector: synthetic (1) or a real pair (0), linear-light
#: pipeline (1) or simple sRGB model (0), highlight boost factor (1: none), read-noise std,
#: shot-noise gain.
PARAM_FIELDS = ("synth", "linear", "boost", "sigma", "gain")
_NOISE_TAG = 0x6E6F697365  # "noise": keeps the noise seeds apart from other uses of (seed, i)


def psf_side(blur: BlurConfig) -> int:
    """Side ``K = 2 m + 1`` of the padded PSFs, ``m = blur.margin``: a 'valid' blur of a
    crop ``(P + 2 m)`` by a ``K x K`` kernel is exactly the ``P x P`` patch."""
    return 2 * blur.margin + 1


def pad_psf(k: np.ndarray, side: int) -> np.ndarray:
    """A PSF ``(h, w)`` zero-padded to ``(side, side)`` with its centre ``(h // 2, w // 2)``
    moved to ``(side // 2, side // 2)`` (float32), so a convolution with it equals one with
    ``k``.

    Raises
    ------
    ValueError
        If ``k`` does not fit (a side above ``side`` or a half-size above ``side // 2``).
    """
    h, w = k.shape
    c = side // 2
    top, left = c - h // 2, c - w // 2
    if top < 0 or left < 0 or top + h > side or left + w > side:
        raise ValueError(f"PSF of size {h}x{w} does not fit the padded size {side}")
    out = np.zeros((side, side), np.float32)
    out[top : top + h, left : left + w] = k
    return out


def sample_seed(seed: int, index: int) -> int:
    """The seed (63 bits) of sample ``index``'s noise generator in run ``seed``."""
    state = np.random.SeedSequence([int(seed), int(index), _NOISE_TAG]).generate_state(1, np.uint64)
    return int(state[0]) & (2**63 - 1)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB values to linear light, both in [0, 1] (torch twin of
    :func:`deblur.synth.srgb_to_linear`)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear light to sRGB values, both in [0, 1] (torch twin of
    :func:`deblur.synth.linear_to_srgb`; clips first)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.pow(1 / 2.4) - 0.055)


def quantize8(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to the 256 levels of an 8-bit image (half to even, as
    numpy)."""
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def blur_valid_batch(x: torch.Tensor, psf: torch.Tensor, patch: int) -> torch.Tensor:
    """The central ``patch x patch`` 'valid' blur of each crop by its own PSF.

    Parameters
    ----------
    x : float32 ``(B, C, S, S)``
        Crops with a margin ``m = (S - patch) // 2`` on each side.
    psf : float32 ``(B, K, K)``
        One PSF per crop, centre at ``(K // 2, K // 2)``, ``K // 2 <= m`` and
        ``K - 1 - K // 2 <= m``.
    patch : int

    Returns
    -------
    float32 ``(B, C, patch, patch)``: output pixel ``(r, c)`` is the blur at crop pixel
    ``(m + r, m + c)``, computed from crop pixels only (what :func:`deblur.psf.blur_valid`
    gives for the region of :func:`deblur.synth.numpy_forms.synthesize_pair`), as a circular
    convolution on a fast FFT grid at least ``S x S`` (large enough that nothing wraps).
    """
    B, C, S, _ = x.shape
    K = psf.shape[-1]
    m, c = (S - patch) // 2, K // 2
    if c > m or K - 1 - c > m:
        raise ValueError(f"PSF side {K} needs a crop margin of {max(c, K - 1 - c)}, have {m}")
    L = fft_shape((S, S))
    k = torch.nn.functional.pad(psf, (0, L[1] - K, 0, L[0] - K))
    otf = torch.fft.rfft2(torch.roll(k, shifts=(-c, -c), dims=(-2, -1)))
    y = torch.fft.irfft2(torch.fft.rfft2(x, s=L) * otf[:, None], s=L)
    return y[..., m : m + patch, m : m + patch]


def sample_noise(
    indices: Sequence[int] | torch.Tensor, seed: int, shape: tuple[int, ...], device
) -> torch.Tensor:
    """Standard normal noise ``(B, *shape)`` float32 on ``device``: row ``b`` from a torch
    generator on ``device`` seeded with :func:`sample_seed` ``(seed, indices[b])``, so it
    depends on the sample alone (not on the batch it is in)."""
    idx = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)  # CPU
    device = torch.device(device)
    gen = torch.Generator(device=device)
    out = torch.empty((len(idx), *shape), dtype=torch.float32, device=device)
    for b, i in enumerate(idx):
        gen.manual_seed(sample_seed(seed, i))
        out[b] = torch.randn(shape, generator=gen, device=device, dtype=torch.float32)
    return out


@torch.no_grad()
def synthesize_batch(
    batch: dict[str, torch.Tensor], patch: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(blurred, sharp) training pairs from a batch of
    :class:`~deblur.training.device_synth.DeviceSynthStream` samples.

    Per synthetic sample, as :func:`deblur.synth.numpy_forms.synthesize_pair`: with the linear-light
    pipeline, ``srgb_to_linear``, values >= 0.98 times ``boost``, 'valid' blur, clip to
    [0, 1], add ``sqrt(gain * y + sigma**2) * n``, ``linear_to_srgb``; with the simple
    model, blur the sRGB values and add ``sigma * n``; then quantise to 8 bits. ``n`` is
    :func:`sample_noise`. Real pairs pass through (their ``blurred``). Runs in float32 on
    the batch's device (keep it out of autocast).

    Parameters
    ----------
    batch : dict of tensors on the training device (:func:`batch_to`)
        ``crop (B, 3, S, S)``, ``psf (B, K, K)``, ``params (B, 5)``, ``index (B,)`` (int64,
        best left on the CPU), and ``blurred (B, 3, patch, patch)`` when the run has real
        pairs.
    patch : int
        Side ``P`` of the pairs (``S = P + 2 m``).
    seed : int
        The run's seed (``TrainConfig.seed``).

    Returns
    -------
    blurred, sharp : float32 ``(B, 3, P, P)`` in [0, 1]; ``blurred`` on the 8-bit grid.
    """
    crop, psf, params = batch["crop"].float(), batch["psf"].float(), batch["params"].float()
    B, C, S, _ = crop.shape
    m = (S - patch) // 2
    col = {name: params[:, j].view(B, 1, 1, 1) for j, name in enumerate(PARAM_FIELDS)}
    linear = col["linear"] > 0.5
    lin = srgb_to_linear(crop)
    lin = torch.where(lin >= 0.98, lin * col["boost"], lin)
    y = blur_valid_batch(torch.where(linear, lin, crop), psf, patch)
    n = sample_noise(batch["index"], seed, (C, patch, patch), crop.device)
    y_lin = y.clamp(0.0, 1.0)
    y_lin = linear_to_srgb(y_lin + torch.sqrt(col["gain"] * y_lin + col["sigma"] ** 2) * n)
    blurred = quantize8(torch.where(linear, y_lin, y + col["sigma"] * n))
    if "blurred" in batch:
        blurred = torch.where(col["synth"] > 0.5, blurred, batch["blurred"].float())
    return blurred.contiguous(), crop[..., m : m + patch, m : m + patch].contiguous()
