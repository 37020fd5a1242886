"""The blur operator ``A`` and its exact adjoint ``A^T``, in torch and numpy.

One model of blur for the whole package: convolution with a PSF in convolution orientation
(centre at ``(h // 2, w // 2)``) under a boundary model ``reflect`` (mirror, edge not
repeated), ``periodic`` or ``zero``. :func:`blur` / :func:`blur_adjoint` are the torch
backend (differentiable, FFT or direct convolution), :class:`FFTBlur` the numpy backend
that Richardson-Lucy and Wiener iterate with, :func:`blur_valid` the boundary-free 'valid'
blur of training synthesis. One adjointness test covers every backend and boundary.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

from deblur.constants import BOUNDARIES
from deblur.errors import PSFError
from deblur.psf.fourier import fft_shape, fft_workers, psf_to_otf, shift_phase
from deblur.psf.kernels import validate_psf

__all__ = [
    "BOUNDARIES",
    "FFTBlur",
    "blur",
    "blur_adjoint",
    "blur_valid",
    "check_psf_fits",
    "fold_pad",
    "pad_for_psf",
    "psf_pad_widths",
]


def check_psf_fits(psf: np.ndarray | torch.Tensor | tuple[int, ...], image_hw: tuple[int, int]):
    """Raise if a PSF is larger than the image it is applied to.

    Parameters
    ----------
    psf : array or tensor of shape ``(h, w)`` / ``(B, 1, h, w)``, or a shape tuple
        Only the last two sizes are used.
    image_hw : tuple of int
        ``(H, W)``, the image's height and width (or any shape ending in them).

    Raises
    ------
    PSFError
        (a ``ValueError``) If ``h > H`` or ``w > W``.
    """
    shape = tuple(psf) if isinstance(psf, (tuple, list, torch.Size)) else tuple(psf.shape)
    h, w = shape[-2:]
    H, W = tuple(image_hw)[-2:]
    if h > H or w > W:
        raise PSFError(
            f"PSF of size {h}x{w} is larger than the {H}x{W} image; "
            "expected a PSF no larger than the image"
        )


_METHODS = ("auto", "fft", "direct")
_TORCH_PAD_MODE = {"reflect": "reflect", "periodic": "circular", "zero": "constant"}
# method="auto" uses the FFT when the PSF has more pixels than this (measured on 2 CPU
# threads: depthwise conv2d wins up to ~7x7, the FFT from ~9-11x11 on 720p RGB):
_AUTO_FFT_MIN_PIXELS = 8 * 8


def _check_boundary(boundary: str) -> str:
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    return boundary


def _check_image(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape (B, C, H, W), got {type(x)}")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got {x.dtype}")
    return x


def _psf_tensor(psf, like: torch.Tensor) -> torch.Tensor:
    """PSF as a tensor of shape ``(h, w)`` or ``(B, 1, h, w)`` with ``like``'s dtype/device.

    Arrays are validated and normalised; tensors are used as given (so that gradients can
    flow into them) after a shape check.
    """
    if not isinstance(psf, torch.Tensor):
        psf = torch.from_numpy(validate_psf(np.asarray(psf)))
    B = like.shape[0]
    if psf.ndim == 4:
        if psf.shape[1] != 1 or psf.shape[0] not in (1, B):
            raise ValueError(
                f"psf: expected shape (h, w) or ({B}, 1, h, w), got {tuple(psf.shape)}"
            )
        if psf.shape[0] == 1:
            psf = psf[0, 0]
    elif psf.ndim != 2:
        raise PSFError(f"psf: expected shape (h, w) or ({B}, 1, h, w), got {tuple(psf.shape)}")
    if psf.shape[-1] == 0 or psf.shape[-2] == 0:
        raise PSFError("psf: the PSF is empty")
    return psf.to(dtype=like.dtype, device=like.device)


def psf_pad_widths(psf_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Padding ``(top, bottom, left, right)`` a PSF of size ``(h, w)`` needs for a 'same' blur.

    With the PSF centre at ``(h // 2, w // 2)`` the output pixel ``n`` reads input pixels
    ``n - (h - 1 - h // 2)`` to ``n + h // 2``, so ``top = h - 1 - h // 2``,
    ``bottom = h // 2`` (equal for odd sizes), and likewise for the columns.
    """
    h, w = psf_hw
    return h - 1 - h // 2, h // 2, w - 1 - w // 2, w // 2


def pad_for_psf(x, psf_hw: tuple[int, int], boundary: str = "reflect"):
    """Pad images so that a 'valid' convolution with the PSF gives a 'same'-sized result.

    Parameters
    ----------
    x : tensor or numpy array of shape ``(..., H, W)``
        Tensors must be ``(B, C, H, W)``.
    psf_hw : tuple of int
        ``(h, w)``, the PSF size (at most ``(H, W)``).
    boundary : {"reflect", "periodic", "zero"}
        Mirror without repeating the edge pixel (numpy's ``"reflect"``), wrap around, or
        zeros.

    Returns
    -------
    Same kind as ``x``, shape ``(..., H + h - 1, W + w - 1)``; the widths are given by
    :func:`psf_pad_widths`.
    """
    t, b, left, r = psf_pad_widths(psf_hw)
    _check_boundary(boundary)
    if t == b == left == r == 0:
        return x
    if isinstance(x, np.ndarray):
        mode = {"reflect": "reflect", "periodic": "wrap", "zero": "constant"}[boundary]
        return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(t, b), (left, r)], mode=mode)
    return F.pad(x, (left, r, t, b), mode=_TORCH_PAD_MODE[boundary])


def _fold_dim(z, dim: int, before: int, after: int, boundary: str):
    def part(start: int, stop: int):
        index = [slice(None)] * z.ndim
        index[dim] = slice(start, stop)
        return tuple(index)

    n = z.shape[dim] - before - after
    out = z[part(before, before + n)]
    if boundary == "zero" or before + after == 0:
        return out
    numpy = isinstance(z, np.ndarray)
    out = out.copy() if numpy else out.clone()
    head, tail = z[part(0, before)], z[part(before + n, before + n + after)]
    if boundary == "reflect":  # padded[i] = x[before - i] (i < before), x[n - 2 - j] after
        head = np.flip(head, dim) if numpy else head.flip(dim)
        tail = np.flip(tail, dim) if numpy else tail.flip(dim)
        out[part(1, before + 1)] += head
        out[part(n - 1 - after, n - 1)] += tail
    else:  # periodic: padded[i] = x[n - before + i] (i < before), x[j] after
        out[part(n - before, n)] += head
        out[part(0, after)] += tail
    return out


def fold_pad(z, psf_hw: tuple[int, int], boundary: str = "reflect"):
    """Adjoint of :func:`pad_for_psf`: fold the padded margins back onto the image.

    Parameters
    ----------
    z : tensor or numpy array of shape ``(..., H + h - 1, W + w - 1)``
    psf_hw : tuple of int
        ``(h, w)``, the PSF size used for the padding.
    boundary : {"reflect", "periodic", "zero"}

    Returns
    -------
    Same kind as ``z``, shape ``(..., H, W)``: for ``"zero"`` the centre crop (a view);
    for ``"reflect"`` and ``"periodic"`` each margin pixel is added to the image pixel it
    was copied from.
    """
    _check_boundary(boundary)
    t, b, left, r = psf_pad_widths(psf_hw)
    return _fold_dim(_fold_dim(z, -2, t, b, boundary), -1, left, r, boundary)


def _resolve_method(method: str, psf_hw: tuple[int, int]) -> str:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "auto":
        return "fft" if psf_hw[0] * psf_hw[1] > _AUTO_FFT_MIN_PIXELS else "direct"
    return method


def _grouped(x: torch.Tensor, k: torch.Tensor):
    """Depthwise-conv layout: ``(1, B*C, H, W)`` channels-last input, ``(B*C, 1, h, w)`` weight.

    Channels-last depthwise convolution is several times faster on CPU than a
    ``(B*C, 1, H, W)`` batch of single-channel convolutions.
    """
    B, C, H, W = x.shape
    h, w = k.shape[-2:]
    if k.ndim == 2:
        weight = k.reshape(1, 1, h, w).expand(B * C, 1, h, w)
    else:
        weight = k.repeat_interleave(C, dim=0)
    xg = x.reshape(1, B * C, H, W).contiguous(memory_format=torch.channels_last)
    return xg, weight.contiguous(), B * C


def _prepare(x, psf, boundary, method, name):
    _check_image(x, name)
    _check_boundary(boundary)
    k = _psf_tensor(psf, x)
    check_psf_fits(k.shape[-2:], x.shape[-2:])
    return k, _resolve_method(method, tuple(k.shape[-2:]))


def blur(
    x: torch.Tensor,
    psf: np.ndarray | torch.Tensor,
    boundary: str = "reflect",
    method: str = "auto",
) -> torch.Tensor:
    """Convolve images with a PSF ('same' output), the forward model ``A x``.

    Parameters
    ----------
    x : float tensor of shape ``(B, C, H, W)``
        Images (any range; the library uses [0, 1]).
    psf : array or tensor of shape ``(h, w)``, or tensor of shape ``(B, 1, h, w)``
        One PSF for all images, or one per image; ``h <= H``, ``w <= W``; centre at
        ``(h // 2, w // 2)``. Arrays are validated and normalised to sum 1; tensors are used
        as given (gradients flow into them).
    boundary : {"reflect", "periodic", "zero"}
        What the image is assumed to be beyond its border: its mirror image (numpy
        ``"reflect"``, edge not repeated), its periodic repetition, or zero. ``"reflect"``
        and ``"zero"`` pad ``x`` by the PSF's half sizes, convolve and crop.
    method : {"auto", "fft", "direct"}
        ``"fft"`` multiplies spectra on fast FFT sizes, ``"direct"`` runs a grouped
        ``conv2d``; they agree to ~1e-5 in float32. ``"auto"`` picks the FFT for PSFs with
        more than 8x8 pixels (measured crossover on CPU: ~9x9 for a 1280x720 RGB image).

    Returns
    -------
    tensor of shape ``(B, C, H, W)``, same dtype as ``x``.
    """
    k, method = _prepare(x, psf, boundary, method, "x")
    B, C, H, W = x.shape
    h, w = k.shape[-2:]
    if method == "direct":
        xp = pad_for_psf(x, (h, w), boundary)
        xg, weight, groups = _grouped(xp, k)
        y = F.conv2d(xg, weight.flip((-2, -1)), groups=groups)
        return y.contiguous().reshape(B, C, H, W)
    if boundary == "periodic":
        otf = psf_to_otf(k, (H, W))
        return torch.fft.irfft2(torch.fft.rfft2(x) * otf, s=(H, W))
    t, _, left, _ = psf_pad_widths((h, w))
    xp = pad_for_psf(x, (h, w), boundary)
    L = fft_shape(xp.shape[-2:])
    y = torch.fft.irfft2(torch.fft.rfft2(xp, s=L) * psf_to_otf(k, L), s=L)
    return y[..., t : t + H, left : left + W]


def blur_adjoint(
    y: torch.Tensor,
    psf: np.ndarray | torch.Tensor,
    boundary: str = "reflect",
    method: str = "auto",
) -> torch.Tensor:
    """Exact adjoint ``A^T y`` of :func:`blur` for the same PSF, boundary and size.

    For ``"periodic"`` it is a circular correlation with the PSF, for ``"zero"`` a
    correlation with zero padding, and for ``"reflect"`` a correlation followed by folding
    the padded margins back onto the image (the adjoint of reflect padding).

    Parameters
    ----------
    y : float tensor of shape ``(B, C, H, W)``
    psf : array or tensor of shape ``(h, w)``, or tensor of shape ``(B, 1, h, w)``
        As for :func:`blur`.
    boundary : {"reflect", "periodic", "zero"}
    method : {"auto", "fft", "direct"}

    Returns
    -------
    tensor of shape ``(B, C, H, W)``, same dtype as ``y``, with
    ``<blur(x), y> == <x, blur_adjoint(y)>`` up to rounding.
    """
    k, method = _prepare(y, psf, boundary, method, "y")
    B, C, H, W = y.shape
    h, w = k.shape[-2:]
    if method == "direct":
        yg, weight, groups = _grouped(y, k)
        z = F.conv_transpose2d(yg, weight.flip((-2, -1)), groups=groups).contiguous()
        return fold_pad(z.reshape(B, C, H + h - 1, W + w - 1), (h, w), boundary)
    if boundary == "periodic":
        otf = psf_to_otf(k, (H, W))
        return torch.fft.irfft2(torch.fft.rfft2(y) * otf.conj(), s=(H, W))
    t, _, left, _ = psf_pad_widths((h, w))
    L = fft_shape((H + h - 1, W + w - 1))
    yp = F.pad(y, (left, L[1] - W - left, t, L[0] - H - t))
    z = torch.fft.irfft2(torch.fft.rfft2(yp) * psf_to_otf(k, L).conj(), s=L)
    return fold_pad(z[..., : H + h - 1, : W + w - 1], (h, w), boundary)


# Numpy backend. Measured on 2 threads for a 1280x720 RGB float32 image (3 x 750 x 1296
# grid): scipy.fft (pocketfft) takes ~10 ms per rfft2/irfft2 against ~13-25 ms for
# torch.fft, and numpy's complex multiply ~0.7 ms against ~0.5-12 ms for torch (whose
# multi-threaded element-wise ops stall when the cores are shared). So Richardson-Lucy and
# Wiener iterate on numpy arrays with this operator.


class FFTBlur:
    """The blur operator ``A`` of :func:`blur` and its exact adjoint, on numpy arrays.

    ``FFTBlur(psf, (H, W), boundary)``; ``forward(x)`` and ``adjoint(r)`` take float arrays
    ``(..., H, W)`` (e.g. ``(B, C, H, W)``; all leading images go through one FFT call) and
    return the same shape. ``psf`` is a tensor ``(h, w)`` or ``(B, 1, h, w)`` (validated
    by the caller) with ``h <= H``, ``w <= W``.

    ``periodic``: circular convolution on the ``(H, W)`` grid. ``zero``: the image sits at
    the origin of a zero-filled fast-size grid of at least ``(H + h - 1, W + w - 1)``, so a
    circular convolution there is a linear one. ``reflect``: the reflect-padded image sits
    at the origin of that grid, the result is cropped at the PSF's top/left half sizes and
    the adjoint folds the margins back (:func:`fold_pad`). ``otf`` is the transfer function
    on ``grid`` (``(L1, L2 // 2 + 1)``, complex64), for callers that filter with it
    directly (Wiener).
    """

    def __init__(self, k: torch.Tensor, hw: tuple[int, int], boundary: str):
        _check_boundary(boundary)
        H, W = hw
        self.hw, self.psf_hw, self.boundary = (H, W), tuple(k.shape[-2:]), boundary
        h, w = self.psf_hw
        check_psf_fits((h, w), (H, W))
        top, _, left, _ = psf_pad_widths((h, w))
        self.offset = (top, left)
        self.grid = (H, W) if boundary == "periodic" else fft_shape((H + h - 1, W + w - 1))
        self.otf = psf_to_otf(k.double().cpu(), self.grid).numpy().astype(np.complex64)
        self.otf_adj = self.otf.conj()
        if boundary == "reflect":  # the adjoint lands on the padded image directly
            self.otf_adj = self.otf_adj * shift_phase(self.grid, self.offset)

    def _filter(self, x: np.ndarray, otf: np.ndarray) -> np.ndarray:
        X = scipy.fft.rfft2(x, s=self.grid, workers=fft_workers())
        np.multiply(X, otf, out=X)
        return scipy.fft.irfft2(X, s=self.grid, workers=fft_workers())

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``A x`` for ``x`` of shape ``(..., H, W)``."""
        H, W = self.hw
        if self.boundary == "reflect":
            y = self._filter(pad_for_psf(x, self.psf_hw, "reflect"), self.otf)
            return y[..., self.offset[0] : self.offset[0] + H, self.offset[1] : self.offset[1] + W]
        return self._filter(x, self.otf)[..., :H, :W]

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        """``A^T r`` for ``r`` of shape ``(..., H, W)``."""
        H, W = self.hw
        z = self._filter(r, self.otf_adj)
        if self.boundary == "reflect":
            h, w = self.psf_hw
            return fold_pad(z[..., : H + h - 1, : W + w - 1], self.psf_hw, "reflect")
        return z[..., :H, :W]


def blur_valid(x: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """The 'valid' blur of an ``(H, W, C)`` array by a ``(h, w)`` PSF (no boundary model).

    Output ``(H - h + 1, W - w + 1, C)`` float32: only the pixels the PSF fully covers, so
    training pairs made from a larger crop have no boundary artefacts. (``scipy.signal.
    fftconvolve``; the training stream's samples depend on its exact rounding.)
    """
    from scipy.signal import fftconvolve

    return fftconvolve(x, psf[:, :, None], mode="valid", axes=(0, 1)).astype(np.float32)
