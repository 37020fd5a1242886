"""Point spread functions (PSFs).

Every constructor returns a float32 array of shape ``(h, w)``, non-negative, summing to 1,
in convolution orientation with its centre at ``(h // 2, w // 2)`` (even sizes included).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

__all__ = [
    "BOUNDARIES",
    "blur",
    "blur_adjoint",
    "camera_shake",
    "check_psf_fits",
    "disk",
    "fft_shape",
    "fold_pad",
    "gaussian",
    "load_psf",
    "motion",
    "pad_for_psf",
    "parse_psf",
    "psf_pad_widths",
    "psf_to_otf",
    "validate_psf",
]


def validate_psf(psf: np.ndarray, name: str = "PSF") -> np.ndarray:
    """Check a PSF and return it as a float32 ``(h, w)`` array normalised to sum 1.

    Parameters
    ----------
    psf : array of shape ``(h, w)``
        Non-negative, finite values with a positive sum.
    name : str
        What to call the PSF in error messages (e.g. its file name).

    Raises
    ------
    ValueError
        If the PSF is not 2-D, is empty, holds NaN/inf or negative values, or sums to zero.
    """
    k = np.asarray(psf)
    if k.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D PSF of shape (h, w), got shape {k.shape}")
    if k.size == 0:
        raise ValueError(f"{name}: the PSF is empty")
    if not np.issubdtype(k.dtype, np.number) or np.iscomplexobj(k):
        raise ValueError(f"{name}: the PSF must hold real numbers, got dtype {k.dtype}")
    k = k.astype(np.float64)
    if not np.all(np.isfinite(k)):
        raise ValueError(f"{name}: the PSF contains NaN or infinite values")
    if k.min() < -1e-6 * max(k.max(), 1e-30):
        raise ValueError(f"{name}: the PSF has negative values (min {k.min():.3g})")
    k = np.clip(k, 0.0, None)
    s = k.sum()
    if not s > 0:
        raise ValueError(f"{name}: the PSF is all zero")
    return (k / s).astype(np.float32)


def _odd(n: float) -> int:
    n = max(1, int(math.ceil(n)))
    return n if n % 2 else n + 1


def gaussian(sigma: float, size: int | None = None) -> np.ndarray:
    """Isotropic Gaussian PSF.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels, > 0.
    size : int, optional
        Side of the square support; default ``2 * ceil(3 * sigma) + 1``.

    Returns
    -------
    psf : float32 array of shape ``(size, size)``, sums to 1.
    """
    if not sigma > 0:
        raise ValueError(f"gaussian: sigma must be > 0, got {sigma}")
    size = size or 2 * int(math.ceil(3 * sigma)) + 1
    c = size // 2
    r = np.arange(size, dtype=np.float64) - c
    g = np.exp(-0.5 * (r / sigma) ** 2)
    return validate_psf(np.outer(g, g), "gaussian")


def disk(radius: float, supersample: int = 8) -> np.ndarray:
    """Defocus (pillbox) PSF, anti-aliased by area coverage.

    Parameters
    ----------
    radius : float
        Radius in pixels, > 0.
    supersample : int
        Sub-samples per pixel side used to estimate each pixel's covered area.

    Returns
    -------
    psf : float32 array of shape ``(s, s)`` with ``s = 2 * ceil(radius) + 1``, sums to 1.
    """
    if not radius > 0:
        raise ValueError(f"disk: radius must be > 0, got {radius}")
    size = 2 * int(math.ceil(radius)) + 1
    c = size // 2
    sub = (np.arange(size * supersample) + 0.5) / supersample - 0.5 - c
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    k = inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    if k.sum() == 0:  # radius far below a pixel: a delta
        k[c, c] = 1.0
    return validate_psf(k, "disk")


def _splat(points: np.ndarray, size: int) -> np.ndarray:
    """Bilinear splat of ``(n, 2)`` (y, x) points, already centred at ``size // 2``."""
    k = np.zeros((size + 1, size + 1), dtype=np.float64)
    y0 = np.floor(points[:, 0]).astype(int)
    x0 = np.floor(points[:, 1]).astype(int)
    fy = points[:, 0] - y0
    fx = points[:, 1] - x0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(k, (np.clip(y0 + dy, 0, size), np.clip(x0 + dx, 0, size)), wy * wx)
    return k[:size, :size]


def motion(length: float, angle: float = 0.0) -> np.ndarray:
    """Linear motion PSF: a uniform, anti-aliased line segment.

    Parameters
    ----------
    length : float
        Length of the segment in pixels, >= 1 (a length of 1 is a delta).
    angle : float
        Direction in degrees, counter-clockwise from the x axis (image rows grow downwards).

    Returns
    -------
    psf : float32 array of shape ``(s, s)`` with ``s`` the smallest odd size holding the
        segment, sums to 1; centred at ``(s // 2, s // 2)``.
    """
    if not length >= 1:
        raise ValueError(f"motion: length must be >= 1 pixel, got {length}")
    size = _odd(length + 2)
    c = size // 2
    t = np.linspace(-0.5, 0.5, max(64, int(length * 16)))
    a = math.radians(angle)
    pts = np.stack([c - t * (length - 1) * math.sin(a), c + t * (length - 1) * math.cos(a)], 1)
    return validate_psf(_splat(pts, size), "motion")


def camera_shake(
    size: int = 15,
    rng: np.random.Generator | int | None = None,
    *,
    anxiety: float | None = None,
    samples: int = 2000,
) -> np.ndarray:
    """Random camera-shake PSF from a smooth random trajectory (Boracchi & Foi 2012).

    A particle moves with inertia, small Gaussian accelerations ("anxiety"), a pull back
    to the origin and rare abrupt turns; its path, scaled to span at most ``size - 2``
    pixels, is rasterised with bilinear weights and centred on its centre of mass.

    Parameters
    ----------
    size : int
        Side of the square support in pixels (>= 3). The trajectory's extent is drawn
        from ``[0.5, 1] * (size - 2)``.
    rng : numpy Generator, int seed or None
        Source of randomness; the same seed gives the same PSF.
    anxiety : float, optional
        Strength of the random accelerations, default drawn from ``U(0, 0.005) * ...``
        as in the reference model.
    samples : int
        Number of trajectory samples.

    Returns
    -------
    psf : float32 array of shape ``(size, size)``, sums to 1.
    """
    if size < 3:
        raise ValueError(f"camera_shake: size must be >= 3, got {size}")
    rng = np.random.default_rng(rng)
    anxiety = float(rng.uniform(0.0, 0.005)) if anxiety is None else anxiety
    max_len = size - 2
    centripetal = 0.7 * rng.uniform()
    gaussian_term = 10 * rng.uniform()
    freq_big_shakes = 0.2 * rng.uniform()
    v = complex(rng.uniform(-1, 1), rng.uniform(-1, 1))
    step = max_len / (samples - 1)
    v = v / (abs(v) + 1e-12) * step
    # Draw every random number up front; the loop itself is plain complex arithmetic.
    shake = rng.uniform(size=samples) < freq_big_shakes * anxiety
    turn = np.exp(1j * (np.pi + (rng.uniform(size=samples) - 0.5)))
    noise = rng.standard_normal(samples) + 1j * rng.standard_normal(samples)
    x = [0j] * samples
    pos = 0j
    for t in range(samples - 1):
        next_dir = 2 * v * complex(turn[t]) if shake[t] else 0
        v = v + next_dir + anxiety * (gaussian_term * complex(noise[t]) - centripetal * pos) * step
        v = v / (abs(v) + 1e-12) * step
        pos = pos + v
        x[t + 1] = pos
    x = np.asarray(x)
    pts = np.stack([x.imag, x.real], 1)
    pts -= pts.min(axis=0)
    extent = max(pts.max(), 1e-9)
    pts *= rng.uniform(0.5, 1.0) * max_len / extent
    pts += (size // 2) - pts.mean(axis=0)  # centre of mass at the kernel centre
    pts = np.clip(pts, 0, size - 1)
    return validate_psf(_splat(pts, size), "camera_shake")


# --------------------------------------------------------------------------------------
# Loading and parsing
# --------------------------------------------------------------------------------------

_PSF_FILE_SUFFIXES = (".npy", ".png", ".tif", ".tiff", ".txt")
_PSF_SPEC_FORMS = (
    "gaussian:SIGMA, disk:RADIUS, motion:LENGTH,ANGLE (pixels, degrees), shake:SIZE,SEED "
    "or the path of an existing " + "/".join(_PSF_FILE_SUFFIXES) + " file"
)


def _read_text_matrix(path: Path) -> np.ndarray:
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ").replace(";", " ").strip()
        if not line:
            continue
        try:
            rows.append([float(v) for v in line.split()])
        except ValueError:
            raise ValueError(f"{path}: line {lineno} is not a row of numbers") from None
    if not rows:
        raise ValueError(f"{path}: the file holds no numbers")
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"{path}: rows have different lengths; expected an (h, w) matrix")
    return np.asarray(rows, dtype=np.float64)


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: cannot decode the image")
    if img.ndim == 3:
        color = img[..., :3] if img.shape[2] >= 3 else img
        if not all(np.array_equal(color[..., 0], color[..., i]) for i in range(color.shape[2])):
            raise ValueError(
                f"{path}: expected a grayscale PSF image, got {img.shape[2]} different channels"
            )
        img = color[..., 0]
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 65535.0
    return img.astype(np.float64)


def load_psf(path: str | Path) -> np.ndarray:
    """Load a PSF from a file.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (a 2-D array), ``.png`` / ``.tif`` / ``.tiff`` (a grayscale 8- or 16-bit
        image, scaled to [0, 1], or a float TIFF; colour images whose channels are equal are
        accepted) or ``.txt`` (a matrix, one row per line, values separated by whitespace
        or commas; ``#`` starts a comment).

    Returns
    -------
    psf : float32 array of shape ``(h, w)``
        Non-negative, normalised to sum 1 (see :func:`validate_psf`).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the extension is not supported, the file cannot be read, or the PSF is not 2-D,
        holds negative/NaN/inf values or is all zero; the message names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"PSF file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any read failure is reported the same way
            raise ValueError(f"{p}: cannot read the .npy file ({e})") from None
    elif suffix in (".png", ".tif", ".tiff"):
        arr = _read_image(p)
    elif suffix == ".txt":
        arr = _read_text_matrix(p)
    else:
        raise ValueError(
            f"{p}: unsupported PSF file type {suffix!r}; expected one of "
            + ", ".join(_PSF_FILE_SUFFIXES)
        )
    return validate_psf(arr, str(p))


def parse_psf(spec: str) -> np.ndarray:
    """Build a PSF from a short text specification (e.g. a command-line argument).

    Parameters
    ----------
    spec : str
        One of ``gaussian:SIGMA`` (e.g. ``gaussian:2.0``), ``disk:RADIUS`` (``disk:4``),
        ``motion:LENGTH,ANGLE`` (length in pixels, angle in degrees, e.g. ``motion:21,45``),
        ``shake:SIZE,SEED`` (:func:`camera_shake`, e.g. ``shake:15,3``), or the path of an
        existing PSF file (see :func:`load_psf`).

    Returns
    -------
    psf : float32 array of shape ``(h, w)``, non-negative, sums to 1.

    Raises
    ------
    ValueError
        If the specification is malformed (the message lists the accepted forms) or its
        parameters are out of range.
    """
    if not isinstance(spec, str):
        raise ValueError(f"PSF spec must be a string; accepted forms: {_PSF_SPEC_FORMS}")
    if Path(spec).is_file():
        return load_psf(spec)
    bad = ValueError(f"bad PSF spec {spec!r}; accepted forms: {_PSF_SPEC_FORMS}")
    kind, sep, rest = spec.partition(":")
    if not sep:
        raise bad
    kind = kind.strip().lower()
    try:
        args = [float(a) for a in rest.split(",")]
    except ValueError:
        raise bad from None
    arity = {"gaussian": (1,), "disk": (1,), "motion": (1, 2), "shake": (2,)}
    if kind not in arity or len(args) not in arity[kind]:
        raise bad
    try:
        if kind == "gaussian":
            return gaussian(args[0])
        if kind == "disk":
            return disk(args[0])
        if kind == "motion":
            return motion(args[0], args[1] if len(args) > 1 else 0.0)
        if not all(a == int(a) for a in args):
            raise ValueError("shake: SIZE and SEED must be integers")
        return camera_shake(int(args[0]), int(args[1]))
    except ValueError as e:
        raise ValueError(f"bad PSF spec {spec!r}: {e}") from None


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
    ValueError
        If ``h > H`` or ``w > W``.
    """
    shape = tuple(psf) if isinstance(psf, (tuple, list, torch.Size)) else tuple(psf.shape)
    h, w = shape[-2:]
    H, W = tuple(image_hw)[-2:]
    if h > H or w > W:
        raise ValueError(
            f"PSF of size {h}x{w} is larger than the {H}x{W} image; "
            "expected a PSF no larger than the image"
        )


# --------------------------------------------------------------------------------------
# Blur operator and its adjoint
# --------------------------------------------------------------------------------------

BOUNDARIES = ("reflect", "periodic", "zero")
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
        raise ValueError(f"psf: expected shape (h, w) or ({B}, 1, h, w), got {tuple(psf.shape)}")
    if psf.shape[-1] == 0 or psf.shape[-2] == 0:
        raise ValueError("psf: the PSF is empty")
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
    check_psf_fits((h, w), shape)
    L1, L2 = int(shape[0]), int(shape[1])
    k = F.pad(psf, (0, L2 - w, 0, L1 - h))
    k = torch.roll(k, shifts=(-(h // 2), -(w // 2)), dims=(-2, -1))
    return torch.fft.rfft2(k)


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
