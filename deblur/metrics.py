"""Image quality metrics: PSNR and SSIM, in torch so they run on batches and devices.

Both accept numpy arrays ``(H, W)`` / ``(H, W, C)`` (float in [0, 1], uint8, uint16) or
tensors ``(B, C, H, W)``, compute in float64, and agree with
``skimage.metrics.peak_signal_noise_ratio`` / ``structural_similarity`` (Gaussian window)
to ~1e-6. Options shared by both:

- ``crop``: ignore ``crop`` pixels on every border (common for deblurring benchmarks).
- ``y_channel``: compare the ITU-R BT.601 luma of RGB images in its studio-swing form, as
  MATLAB's ``rgb2ycbcr`` and the super-resolution / deblurring literature use it:
  ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` for ``R, G, B`` in [0, 1] (so
  ``Y`` is in [16/255, 235/255]; ``skimage.color.rgb2ycbcr(rgb)[..., 0] / 255``).
- ``shift``: the best score over integer shifts of ``x`` by up to ``shift`` pixels in each
  direction (Levin et al., CVPR 2009 evaluate deblurring this way, since a recovered image
  may be offset from the ground truth). ``ref`` is cropped by ``shift`` pixels on every
  border and compared with the window of ``x`` displaced by ``(dy, dx)``,
  ``|dy|, |dx| <= shift``, so every shift uses the same region of ``ref``.

Return values: a Python float for a numpy input or a one-image batch; a float32 tensor of
shape ``(B,)`` with per-image values for a batch of ``B > 1`` images.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deblur.layout import as_bchw

__all__ = ["psnr", "ssim"]

_BT601 = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_BT601_OFFSET = 16.0 / 255.0
_SSIM_SIGMA = 1.5
_SSIM_RADIUS = int(3.5 * _SSIM_SIGMA + 0.5)  # 5: an 11x11 window, truncated as in skimage
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _as_bchw64(image, name: str) -> torch.Tensor:
    """``(B, C, H, W)`` float64 tensor; float64 inputs keep their precision."""
    try:
        t, _ = as_bchw(image)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: {e}") from None
    if isinstance(image, np.ndarray) and image.dtype == np.float64:
        a = image if image.ndim == 3 else image[:, :, None]
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
    elif isinstance(image, torch.Tensor) and image.dtype == torch.float64:
        t = image
    return t.detach().to(torch.float64)


def _check_int(value, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _prepare(x, ref, crop, y_channel, shift, min_size: int = 1):
    xt, rt = _as_bchw64(x, "x"), _as_bchw64(ref, "ref")
    rt = rt.to(xt.device)
    if xt.shape != rt.shape:
        raise ValueError(
            f"x and ref must have the same shape (B, C, H, W); got {tuple(xt.shape)} "
            f"and {tuple(rt.shape)}"
        )
    crop, shift = _check_int(crop, "crop"), _check_int(shift, "shift")
    if y_channel:
        C = xt.shape[1]
        if C == 3:
            w = torch.tensor(_BT601, dtype=torch.float64, device=xt.device).view(1, 3, 1, 1)
            xt = (xt * w).sum(1, keepdim=True) + _BT601_OFFSET
            rt = (rt * w).sum(1, keepdim=True) + _BT601_OFFSET
        elif C != 1:
            raise ValueError(f"y_channel needs RGB (C = 3) or gray (C = 1) images, got C = {C}")
    H, W = xt.shape[-2:]
    margin = crop + shift
    if min(H, W) - 2 * margin < min_size:
        raise ValueError(
            f"crop={crop} and shift={shift} leave less than {min_size}x{min_size} pixels "
            f"of the {H}x{W} image"
        )
    if crop:
        xt = xt[..., crop : H - crop, crop : W - crop]
        rt = rt[..., crop : H - crop, crop : W - crop]
    return xt, rt, shift


def _shifted_pairs(x: torch.Tensor, ref: torch.Tensor, shift: int):
    """Yield ``(x window, ref region)`` for every integer shift within ``+-shift``."""
    H, W = x.shape[-2:]
    r = ref[..., shift : H - shift, shift : W - shift]
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            yield x[..., shift + dy : H - shift + dy, shift + dx : W - shift + dx], r


def _result(values: torch.Tensor):
    """float for one image, float32 ``(B,)`` tensor for a batch."""
    if values.numel() == 1:
        return float(values.reshape(()))
    return values.to(torch.float32)


def psnr(
    x: np.ndarray | torch.Tensor,
    ref: np.ndarray | torch.Tensor,
    *,
    crop: int = 0,
    y_channel: bool = False,
    shift: int = 0,
    data_range: float = 1.0,
):
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` in dB.

    The MSE is the mean over all channels and pixels of an image (as scikit-image does for
    colour images), computed in float64.

    Parameters
    ----------
    x, ref : arrays of shape ``(H, W)`` / ``(H, W, C)``, or tensors of shape ``(B, C, H, W)``
        Restored and reference images, same shape, values in [0, 1] (uint8/uint16 scaled).
    crop : int
        Pixels ignored on every border, >= 0.
    y_channel : bool
        Compare the BT.601 studio-swing luma of RGB images (see the module docstring).
    shift : int
        Largest integer shift (pixels, each direction) searched for the best PSNR, >= 0.
    data_range : float
        Peak value, > 0.

    Returns
    -------
    float, or float32 tensor of shape ``(B,)`` for ``B > 1``; ``inf`` where the images are
    identical.

    Raises
    ------
    ValueError
        Different or bad shapes, or ``crop``/``shift`` leaving no pixels.
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range!r}")
    xt, rt, shift = _prepare(x, ref, crop, y_channel, shift)
    mse = None
    for xs, rs in _shifted_pairs(xt, rt, shift):
        m = (xs - rs).square().mean(dim=(1, 2, 3))
        mse = m if mse is None else torch.minimum(mse, m)
    values = 10.0 * torch.log10(data_range**2 / mse)  # mse 0 -> inf
    return _result(values)


def _gaussian_window(device) -> torch.Tensor:
    r = torch.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=torch.float64, device=device)
    g = torch.exp(-0.5 * (r / _SSIM_SIGMA) ** 2)
    return g / g.sum()


def _ssim_map_mean(x: torch.Tensor, ref: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image over the 'valid' region (the window fully inside)."""
    B, C, H, W = x.shape
    n = g.numel()
    wy = g.view(1, 1, n, 1).expand(5 * C, 1, n, 1)
    wx = g.view(1, 1, 1, n).expand(5 * C, 1, 1, n)
    stack = torch.cat([x, ref, x * x, ref * ref, x * ref], dim=1)
    f = F.conv2d(F.conv2d(stack, wy, groups=5 * C), wx, groups=5 * C)
    ux, uy, uxx, uyy, uxy = f.split(C, dim=1)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2  # data range 1
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))


def ssim(
    x: np.ndarray | torch.Tensor,
    ref: np.ndarray | torch.Tensor,
    *,
    crop: int = 0,
    y_channel: bool = False,
    shift: int = 0,
):
    """Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5.

    Matches ``skimage.metrics.structural_similarity(x, ref, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)``: the SSIM map
    is averaged over the pixels whose window lies inside the image, then over channels.
    Data range 1, ``K1 = 0.01``, ``K2 = 0.03``; computed in float64.

    Parameters
    ----------
    x, ref : arrays of shape ``(H, W)`` / ``(H, W, C)``, or tensors of shape ``(B, C, H, W)``
        Restored and reference images, same shape, values in [0, 1] (uint8/uint16 scaled);
        at least 11x11 after ``crop`` and ``shift``.
    crop : int
        Pixels ignored on every border, >= 0.
    y_channel : bool
        Compare the BT.601 studio-swing luma of RGB images (see the module docstring).
    shift : int
        Largest integer shift (pixels, each direction) searched for the best SSIM, >= 0.

    Returns
    -------
    float, or float32 tensor of shape ``(B,)`` for ``B > 1``; 1 for identical images.

    Raises
    ------
    ValueError
        Different or bad shapes, or fewer than 11x11 pixels left after ``crop``/``shift``.
    """
    n = 2 * _SSIM_RADIUS + 1
    xt, rt, shift = _prepare(x, ref, crop, y_channel, shift, min_size=n)
    g = _gaussian_window(xt.device)
    best = None
    for xs, rs in _shifted_pairs(xt, rt, shift):
        v = _ssim_map_mean(xs, rs, g)
        best = v if best is None else torch.maximum(best, v)
    return _result(best)
