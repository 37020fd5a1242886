"""Do no harm: check that a restored image is one its blurred input could have come from.

A deblurred image ``x`` is only believable if some plausible blur explains the input ``y``:
``y ~ k * x + n``, ``k`` a small non-negative kernel summing to 1, ``n`` the noise already in
``y``. :func:`check_restoration` tests this on the luminance of both images.

1. **Kernel fit**: least squares on image gradients in the Fourier domain with a Tikhonov
   term, ``K = sum_d conj(X_d) Y_d / (sum_d |X_d|^2 + lam)``, on a central crop of at most
   ``FIT_SIZE`` pixels, Tukey tapered, on fast FFT sizes: the kernel-update step of blind
   deconvolution (Cho & Lee, "Fast motion deblurring", SIGGRAPH Asia 2009; Levin et al.,
   "Understanding and evaluating blind deconvolution algorithms", CVPR 2009). Projected
   onto plausible blurs: at most ``KERNEL_SIZE`` px a side, non-negative, small taps (below
   5% of the peak, as Cho & Lee, or 3x the taps' noise) and stray pieces dropped, refitted
   by non-negative least squares (Lawson & Hanson 1974) on that support, sum 1.
2. **Noise level** ``sigma`` of ``y``: the robust MAD estimate on the finest diagonal Haar
   band, ``median(|HH|) / 0.6745`` (Donoho & Johnstone, Biometrika 1994, as
   ``skimage.restoration.estimate_sigma``; Immerkaer, CVIU 1996, is the Laplacian-mask
   alternative), floored at ``SIGMA_FLOOR``.
3. **Figures.** ``residual``: the median over a 3x3 grid of overlapping tiles of the fit
   crop (at most ``TILE`` px, each with its own kernel: real blur varies across the frame)
   of the std of ``y - k * x`` over ``sqrt(sigma^2 + (MODEL_ERROR * g)^2)``, ``g`` the
   tile's RMS gradient of ``y``: about 1 when ``x`` explains ``y``; the allowance covers
   kernel, interpolation and quantisation error that a tiny noise level would not. ``smear``:
   ``|K|`` of the unconstrained fit (spectra smoothed over 9x9 frequencies) averaged with
   ``x``'s power as weights; a blur has ``|K| <= 1``, so above 1 ``y`` holds detail ``x`` lacks.
   ``noise_gain``: the MAD noise estimate of ``x`` over that of ``y``. ``invented``: the
   energy of ``x``'s gradients in the frequencies the fitted blur destroyed (``|K| < 0.1``)
   that is not coherent with ``y`` there (magnitude-squared coherence of the smoothed
   spectra), over ``y``'s energy there (its noise): ringing, noise or texture put where
   the input holds no information. ``overshoot``: RMS of ``x`` beyond the local range of
   ``y`` (min/max over the kernel's extent, ``3 sigma`` margin), in 8-bit levels: halos.
   ``center_mass``: share of the projected kernel's mass in the 3x3 around its peak; at or
   above ``SHARP_CENTER_MASS`` the blur is a delta: the result changed little.

Verdict (:func:`~deblur.restoration.verdict.decide`, :data:`THRESHOLDS`, their notes in
:mod:`deblur.restoration.verdict`): ``"little changed"`` for a delta kernel (``"sharp
input"`` when the caller knows the input's own blind estimate is a delta);
``"doubtful"`` when ``residual``, ``smear`` or ``noise_gain`` exceeds its threshold, or
when ``x`` does not explain ``y`` to the noise level (``residual > fit_gate``) and shows
more detail than the input supports (``invented``, ``overshoot``, or ``noise_gain`` above a
lower threshold); ``"ok"`` otherwise. No check on ``(x, y)`` alone can reject invented
detail that fits ``y``: where the blur destroyed the signal, any content is consistent.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from deblur.layout import as_bchw
from deblur.psf.fit import luminance, nnls_refit, noise_sigma, prune, tikhonov_kernel
from deblur.psf.fourier import kernel_otf
from deblur.restoration.verdict import SHARP_CENTER_MASS, THRESHOLDS, GuardReport, decide
from deblur.restoration.verdict import make_report as _make_report

__all__ = [
    "check_result",
    "FIT_SIZE",
    "KERNEL_SIZE",
    "MODEL_ERROR",
    "SHARP_CENTER_MASS",
    "SIGMA_FLOOR",
    "THRESHOLDS",
    "TILE",
    "GuardReport",
    "apply_guard",
    "check_restoration",
    "decide",
]

KERNEL_SIZE = 51
"""Largest blur kernel (pixels a side) the fit considers."""

FIT_SIZE = 512
"""The kernel is fitted on a central crop of at most this many pixels a side."""

SIGMA_FLOOR = 0.002
"""Lowest noise level assumed for ``y`` (about half an 8-bit level)."""

TILE = 192
"""Largest side of the tiles (3x3, overlapping, each with its own kernel) of ``residual``."""

MODEL_ERROR = 0.1
"""Model-error allowance of the residual, as a fraction of the tile's RMS gradient of ``y``."""


def _luma(a: np.ndarray) -> np.ndarray:
    """(C, H, W) float32 -> (H, W) float32 luminance (alpha ignored)."""
    return np.ascontiguousarray(luminance(a, 0), dtype=np.float32)


def _project(k: np.ndarray) -> np.ndarray | None:
    """Plausible blur from a least-squares kernel (None if nothing is left): negative taps,
    taps below 5% of the peak or 3x the taps' noise (MAD), and 8-connected pieces under 10%
    of the largest piece's mass dropped; the rest normalised to sum 1."""
    return prune(k, 0.05, noise=3.0, piece=0.1, of="largest")


def _apply(k: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    """``y - k * x`` over the valid region, and the kernel's extent from its centre."""
    r = k.shape[0] // 2
    rows, cols = np.nonzero(k)
    ext = int(max(np.abs(rows - r).max(), np.abs(cols - r).max()))
    kc = k[r - ext : r + ext + 1, r - ext : r + ext + 1][::-1, ::-1].astype(np.float32)
    H, W = x.shape
    pred = cv2.filter2D(x, -1, kc)[ext : H - ext, ext : W - ext]
    return y[ext : H - ext, ext : W - ext] - pred, ext


def _tiles(n: int) -> list[tuple[int, int]]:
    """(start, side) of the tiles along an axis of ``n`` pixels: 3 overlapping, or 1."""
    t = min(TILE, n // 2)
    return [(0, n)] if n < 192 else [(0, t), ((n - t) // 2, t), (n - t, t)]


def _tile_residual(cx: np.ndarray, cy: np.ndarray, r: int, k0: np.ndarray) -> np.ndarray:
    """Per tile of the fit crop: (std of ``y - k_t * x``, RMS gradient of ``y``), ``k_t``
    fitted on the tile (``k0``, the crop's kernel, where the tile's fit leaves nothing)."""
    out = []
    for t0, th in _tiles(cx.shape[0]):
        for l0, tw in _tiles(cx.shape[1]):
            tx, ty = cx[t0 : t0 + th, l0 : l0 + tw], cy[t0 : t0 + th, l0 : l0 + tw]
            rt = min(r, (min(th, tw) - 1) // 4)
            fit = tikhonov_kernel(tx, ty, rt) if (th, tw) != cx.shape else None
            k = None if fit is None else _project(fit[0])
            k = None if k is None else nnls_refit(k, fit[3])
            res, ext = _apply(k0 if k is None else k, tx, ty)
            v = ty[ext : th - ext, ext : tw - ext]
            g2 = np.mean(np.square(np.diff(v, axis=0))) + np.mean(np.square(np.diff(v, axis=1)))
            out.append((res.std(dtype=np.float64), np.sqrt(g2)))
    return np.array(out)


def _check_one(y: np.ndarray, x: np.ndarray, raw: bool = False, sharp: bool = False) -> dict:
    """Figures (and, unless ``raw``, the verdict) for one (C, H, W) pair."""
    H, W = y.shape[-2:]
    r = min(KERNEL_SIZE // 2, (min(H, W) - 1) // 4)
    if r < 2:
        return {"verdict": "not checked", "reason": "image too small to check"}
    if not np.isfinite(y).all():
        return {"verdict": "not checked", "reason": "input not finite"}
    if not np.isfinite(x).all():
        return {"verdict": "doubtful", "reason": "result not finite"}
    ly, lx = _luma(y), _luma(x)
    sigma = max(noise_sigma(ly), SIGMA_FLOOR)
    out = {"noise_sigma": sigma, "noise_gain": max(noise_sigma(lx), SIGMA_FLOOR) / sigma}
    fh, fw = min(H, FIT_SIZE), min(W, FIT_SIZE)
    t0, l0 = (H - fh) // 2, (W - fw) // 2
    cx, cy = lx[t0 : t0 + fh, l0 : l0 + fw], ly[t0 : t0 + fh, l0 : l0 + fw]
    k_ls, s, (sxy, sxx, syy), corr = tikhonov_kernel(cx, cy, r)
    tiny = 1e-30
    # smear: |K| of the unconstrained fit averaged over x's spectrum; a blur has |K| <= 1
    gain = np.minimum(np.abs(sxy) / np.maximum(sxx, tiny), 10.0)
    out["smear"] = float((sxx * gain).sum() / max(sxx.sum(), tiny))
    k = _project(k_ls)
    if k is None:
        return {**out, "verdict": "doubtful", "reason": "no blur explains the input"}
    pr, pc = np.unravel_index(np.argmax(k), k.shape)
    out["center_mass"] = float(k[max(pr - 1, 0) : pr + 2, max(pc - 1, 0) : pc + 2].sum())
    k = nnls_refit(k, corr)
    tiles = _tile_residual(cx, cy, r, k)
    allow = np.sqrt(sigma**2 + (MODEL_ERROR * tiles[:, 1]) ** 2)
    out["residual"] = float(np.median(tiles[:, 0] / allow))
    rows, cols = np.nonzero(k)
    ext = int(max(np.abs(rows - r).max(), np.abs(cols - r).max()))
    out["kernel_size"] = int(max(np.ptp(rows), np.ptp(cols)) + 1)
    # invented: x's energy where the fitted blur destroyed the signal (|K| < 0.1) that is
    # not coherent with y there, over y's energy there (noise)
    dead = np.abs(kernel_otf(k, s)) < 0.1
    incoherent = np.maximum(sxx - np.abs(sxy) ** 2 / np.maximum(syy, tiny), 0.0)
    out["invented"] = float(incoherent[dead].sum() / max(syy[dead].sum(), tiny))
    # overshoot of x beyond the local range of y (halos), in 8-bit levels
    size = 2 * ext + 1
    se = np.ones((size, size), np.uint8)
    hi = cv2.dilate(ly, se, borderType=cv2.BORDER_REFLECT) + 3 * sigma
    lo = cv2.erode(ly, se, borderType=cv2.BORDER_REFLECT) - 3 * sigma
    o = np.maximum(lx - hi, 0) + np.maximum(lo - lx, 0)
    out["overshoot"] = float(np.sqrt(np.mean(np.square(o, dtype=np.float64))) * 255)
    return out if raw else decide(out, input_sharp=sharp)


def _pair(blurred, restored) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as float32 (B, C, H, W) tensors on ``restored``'s device, same shape."""
    y, _ = as_bchw(blurred)
    x, _ = as_bchw(restored)
    if y.shape != x.shape:
        raise ValueError(
            f"blurred and restored images differ in shape: {tuple(y.shape)} vs {tuple(x.shape)}"
        )
    return y.to(x.device), x


def _report(fig: dict, method: str = "") -> GuardReport:
    return _make_report(fig, SIGMA_FLOOR, method)


def _per_image(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def _check_all(y: torch.Tensor, x: torch.Tensor, sharp=False, method="") -> tuple:
    yn, xn = y.detach().cpu().numpy(), x.detach().cpu().numpy()
    n = yn.shape[0]
    sharp, method = _per_image(sharp, n), _per_image(method, n)
    return tuple(
        _report(_check_one(yn[b], xn[b], sharp=bool(sharp[b])), method[b]) for b in range(n)
    )


def check_restoration(blurred, restored) -> GuardReport | tuple[GuardReport, ...]:
    """Check that a restored image is explained by its blurred input through a plausible blur.

    Parameters
    ----------
    blurred : tensor of shape ``(B, C, H, W)``, or array of shape ``(H, W)`` / ``(H, W, C)``
        The input of the restoration, float in [0, 1] (uint8/uint16 are scaled). ``C`` in
        1..4; with 2 or 4 channels the last (alpha) is ignored.
    restored : same kind and shape as ``blurred``
        The restoration's result, float in [0, 1].

    Returns
    -------
    GuardReport, or a tuple of B of them for a batch with ``B > 1``
        The figures and the verdict (``"ok"``, ``"doubtful"``, ``"little changed"``, or
        ``"not checked"`` for images under 9 pixels a side); ``action`` says what
        :func:`apply_guard` would do.

    Raises
    ------
    ValueError
        If the shapes differ or are not image shapes.
    TypeError
        On an unsupported dtype (see :func:`deblur.layout.as_bchw`).
    """
    reports = _check_all(*_pair(blurred, restored))
    return reports[0] if len(reports) == 1 else reports


def _check_strength(strength) -> float:
    number = isinstance(strength, (int, float, np.integer, np.floating))
    number = number and not isinstance(strength, bool)
    if not number or not 0.0 <= float(strength) <= 1.0:  # NaN fails the comparison too
        raise ValueError(f"strength must be a number in [0, 1], got {strength!r}")
    return float(strength)


def apply_guard(
    blurred: torch.Tensor,
    restored: torch.Tensor,
    *,
    guard: bool = True,
    strength: float = 1.0,
    input_sharp: bool | list[bool] = False,
    method: str | list[str] = "",
) -> tuple[torch.Tensor, GuardReport | tuple[GuardReport, ...] | None]:
    """Blend a restoration with its input by ``strength`` and fall back to the input if doubtful.

    Parameters
    ----------
    blurred : float tensor of shape ``(B, C, H, W)`` in [0, 1]
        The input of the restoration (numpy images as for :func:`check_restoration` are
        accepted too; the result is a tensor all the same).
    restored : float tensor of the same shape, in [0, 1]
        The method's raw result.
    guard : bool
        Check the (blended) result with :func:`check_restoration`; a doubtful one is replaced
        by the input, and so is one that changed little.
    input_sharp : bool or list of bool (one per image)
        The input's own blind estimate was a delta (``"sharp input"`` instead of
        ``"little changed"``).
    method : str or list of str (one per image)
        Recorded in the reports (:attr:`GuardReport.method`).
    strength : float
        In [0, 1]: ``out = blurred + strength * (restored - blurred)``; 0 returns
        ``blurred`` exactly (bit for bit), 1 returns ``restored`` exactly.

    Returns
    -------
    out : float32 tensor of shape ``(B, C, H, W)`` on ``restored``'s device
    report : GuardReport, a tuple of B of them when ``B > 1``, or None when ``guard`` is off

    Raises
    ------
    ValueError
        If ``strength`` is not a number in [0, 1] (NaN included) or the shapes differ.
    """
    s = _check_strength(strength)
    y, x = _pair(blurred, restored)
    out = y.clone() if s == 0 else x.clone() if s == 1 else y + s * (x - y)
    if not guard:
        return out, None
    if s == 0:
        fig = {"verdict": "not checked", "reason": "strength 0: the input itself"}
        methods = _per_image(method, y.shape[0])
        reports = tuple(_report(fig, m) for m in methods)
    else:
        reports = _check_all(y, out, input_sharp, method)
        for b, rep in enumerate(reports):
            if rep.action != "kept":
                out[b] = y[b]
    return out, reports[0] if len(reports) == 1 else reports


#: The public name (``deblur.check_result``): the check's figures for an (input, output)
#: pair, for callers who apply their own policy.
check_result = check_restoration
