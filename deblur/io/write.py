"""Writing image files: encoded in memory, then written atomically (:mod:`deblur.atomic`)."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from deblur.atomic import atomic_write
from deblur.errors import OutputExistsError
from deblur.io._util import _error, _one_line, _show
from deblur.io.headers import _PNG_SIGNATURE
from deblur.io.read import _check_extension
from deblur.layout import _to_unit_float

_EIGHT_BIT_ONLY = frozenset({".jpg", ".jpeg", ".webp", ".bmp"})
_NO_ALPHA = frozenset({".jpg", ".jpeg"})
_NO_GRAY = frozenset({".webp"})  # WebP has no gray mode: gray is stored as R = G = B.


def _quantize(array: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float in [0, 1] (clipped) -> uint8 or uint16, rounding to nearest."""
    dtype, top = (np.uint16, 65535.0) if bit_depth == 16 else (np.uint8, 255.0)
    array = np.asarray(array)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32)
    scaled = np.clip(array, 0.0, 1.0) * array.dtype.type(top)
    return np.rint(scaled).astype(dtype)


def _png_gray_alpha(gray: np.ndarray, alpha: np.ndarray) -> bytes:
    """Encode a gray + alpha PNG (colour type 4), which OpenCV cannot write."""
    height, width = gray.shape
    depth = 16 if gray.dtype == np.uint16 else 8
    pixels = np.stack([gray, alpha], axis=-1).astype(">u2" if depth == 16 else np.uint8)
    rows = pixels.reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter 0 per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, 4, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def holds_profile(ext: str, bit_depth: int = 8) -> bool:
    """Whether an output of extension ``ext`` (``.jpg``, ...) is written with an ICC
    profile and EXIF: JPEG, PNG, WebP and TIFF (8 and 16 bits) are, BMP is not
    (``bit_depth`` is kept for callers; every depth is the same now)."""
    return ext.lower() in (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")


def _encode(
    ext: str, color: np.ndarray, alpha: np.ndarray | None, quality: int | None = None
) -> bytes:
    """Encode quantized ``color`` (H, W, 1|3) RGB and ``alpha`` (H, W) or None to file bytes;
    ``quality`` (1..100) for JPEG (default 95) and lossy WebP (default: lossless)."""
    gray = color.shape[2] == 1
    if gray and alpha is not None and ext == ".png":
        return _png_gray_alpha(color[:, :, 0], alpha)
    if gray and (alpha is not None or ext in _NO_GRAY):
        color = np.repeat(color, 3, axis=2)
    if color.shape[2] == 1:
        array = color[:, :, 0]
    elif alpha is None:
        array = color[:, :, ::-1]  # RGB -> BGR
    else:
        array = np.concatenate([color[:, :, ::-1], alpha[:, :, None]], axis=2)
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95 if quality is None else quality]
        if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR_444"):
            params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    elif ext == ".webp" and quality is not None:
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    elif ext == ".webp" and hasattr(cv2, "IMWRITE_WEBP_LOSSLESS_PRESERVE_COLOR"):
        # Lossless, and keep the colour under fully transparent pixels (alpha is not a mask).
        params = [cv2.IMWRITE_WEBP_LOSSLESS_MODE, cv2.IMWRITE_WEBP_LOSSLESS_PRESERVE_COLOR]
    ok, buffer = cv2.imencode(ext, np.ascontiguousarray(array), params)
    if not ok:
        raise cv2.error("encoder failed")
    return buffer.tobytes()


def _encode_with(
    ext: str,
    color: np.ndarray,
    alpha: np.ndarray | None,
    quality: int | None,
    icc: bytes | None,
    exif: bytes | None,
    notes: list[str],
) -> bytes:
    """:func:`_encode` plus the ICC profile and EXIF (orientation reset to 1) where the
    format holds them; what is not written gets a line in ``notes``."""
    from deblur.io import embed
    from deblur.io.metadata import exif_for_output

    height, width = color.shape[:2]
    given, exif = exif is not None, exif_for_output(exif, width, height)
    if given and exif is None:
        notes.append("EXIF malformed: not written")
    depth = 16 if color.dtype == np.uint16 else 8
    if (icc is not None or exif is not None) and not holds_profile(ext, depth):
        what = " and ".join(n for n, v in (("ICC profile", icc), ("EXIF", exif)) if v)
        notes.append(f"{ext[1:].upper()} output holds no metadata: {what} not written")
        icc = exif = None
    if icc is None and exif is None:
        return _encode(ext, color, alpha, quality)
    if ext in (".tif", ".tiff") and depth == 16:  # Pillow's TIFF writer has no 16-bit RGB
        data, more = embed.embed_tiff(_encode(ext, color, alpha, quality), icc, exif)
        notes += more
        return data
    if ext in (".tif", ".tiff"):
        return embed.encode_tiff(color, alpha, icc, exif)
    data = _encode(ext, color, alpha, quality)
    if ext in (".jpg", ".jpeg"):
        data, more = embed.embed_jpeg(data, icc, exif)
        notes += more
        return data
    if ext == ".png":
        return embed.embed_png(data, icc, exif)
    return embed.embed_webp(data, icc, exif, width, height, alpha is not None)


def encode_image(
    ext: str,
    color: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    bit_depth: int = 8,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    quality: int | None = None,
    notes: list[str] | None = None,
) -> bytes:
    """Encode an image to the bytes of a file of extension ``ext`` (``.png``, ``.jpg``, ...),
    as :func:`write_image` writes it (same arguments); for standard output.

    Raises
    ------
    ImageError
        Unsupported extension, non-finite values or an encoder failure (naming ``ext``).
    ValueError, TypeError
        Bad shapes, ``bit_depth``, ``quality`` or dtype.
    """
    args = _validated("-" + ext, color, alpha, bit_depth, quality, icc_profile, exif)
    return _encoded(*args, bit_depth, quality, icc_profile, exif, notes)


def _validated(path, color, alpha, bit_depth, quality, icc, exif):
    """The checked arguments of :func:`write_image`: ``(path, ext, color, alpha)``, the
    arrays as float in [0, 1]."""
    path = Path(path)
    ext = _check_extension(path, "output")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    whole = isinstance(quality, (int, np.integer)) and not isinstance(quality, bool)
    if quality is not None and not (whole and 1 <= quality <= 100):
        raise ValueError(f"quality must be a whole number from 1 to 100, got {quality!r}")
    for name, blob in (("icc_profile", icc), ("exif", exif)):
        if blob is not None and not isinstance(blob, (bytes, bytearray)):
            raise TypeError(f"{name} must be bytes or None, got {type(blob).__name__}")
    color = np.asarray(color)
    if color.ndim == 2:
        color = color[:, :, None]
    if color.ndim != 3 or color.shape[2] not in (1, 3) or 0 in color.shape:
        raise ValueError(
            f"color must have shape (H, W), (H, W, 1) or (H, W, 3), got shape {color.shape}"
        )
    color = _to_unit_float(color, "color")
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != color.shape[:2]:
            raise ValueError(
                f"alpha must have shape (H, W) = {color.shape[:2]}, got shape {alpha.shape}"
            )
        alpha = _to_unit_float(alpha, "alpha")
    for name, values in (("color", color), ("alpha", alpha)):
        if values is not None and not np.isfinite(values).all():
            raise _error(path, f"{name} contains NaN or infinite values; nothing written")
    return path, ext, color, alpha


def _encoded(path, ext, color, alpha, bit_depth, quality, icc, exif, notes) -> bytes:
    depth = 8 if ext in _EIGHT_BIT_ONLY else bit_depth
    if ext in _NO_ALPHA:
        alpha = None
    q_alpha = None if alpha is None else _quantize(alpha, depth)
    icc = None if icc is None else bytes(icc)
    exif = None if exif is None else bytes(exif)
    notes = [] if notes is None else notes
    try:
        return _encode_with(ext, _quantize(color, depth), q_alpha, quality, icc, exif, notes)
    except (cv2.error, OSError, ValueError) as exc:
        raise _error(path, f"cannot encode image ({_one_line(exc)})") from None


def _protected(path: Path, protect: Iterable[str | os.PathLike[str]]) -> bool:
    """True when ``path`` is (or resolves to) one of the ``protect`` files."""
    if isinstance(protect, (str, bytes, os.PathLike)):
        protect = (protect,)  # a single path given where an iterable was expected
    target = path.resolve()
    for item in protect:
        other = Path(os.fsdecode(item))
        try:
            if other.resolve() == target:
                return True
            if path.exists() and other.exists() and os.path.samefile(other, path):
                return True
        except OSError:
            continue
    return False


def write_image(
    path: str | os.PathLike[str],
    color: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    bit_depth: int = 8,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    quality: int | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write an image file atomically; the format follows the extension.

    The image is encoded in memory, written to a temporary file in the destination folder (same
    extension), fsynced, then moved onto ``path`` (``os.replace``; with ``overwrite=False`` a
    hard link is used where possible so a file created meanwhile is not clobbered either). On any
    error the temporary file is removed and ``path`` is left as it was. Parent folders are
    created.

    Format limits, handled without error: JPEG, WebP and BMP hold 8 bits only, so
    ``bit_depth=16`` writes 8 bits there; JPEG cannot hold alpha, so ``alpha`` is dropped
    (JPEG is written at quality 95, 4:4:4). WebP has no gray mode: gray is stored as
    R = G = B (and read back as RGB). Gray with alpha is written as a gray + alpha PNG, and as
    RGBA in TIFF, BMP and WebP. WebP is written lossless, keeping the colour of fully
    transparent pixels.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; its extension (case-insensitive) must be in :data:`IMAGE_EXTENSIONS`.
    color : np.ndarray
        ``(H, W)``, ``(H, W, 1)`` (gray) or ``(H, W, 3)`` (RGB order). Float values in [0, 1]
        (clipped, then rounded to the nearest level), or uint8 / uint16 (scaled to [0, 1]).
    alpha : np.ndarray or None, optional
        ``(H, W)`` alpha, same value conventions as ``color``; None for no alpha.
    bit_depth : int, optional
        8 or 16 bits per sample (16 only for PNG and TIFF). Default 8.
    overwrite : bool, optional
        Replace an existing file. Default False: an existing ``path`` raises
        :class:`OutputExistsError`.
    protect : iterable of str or os.PathLike, optional
        Files that must never be overwritten, whatever ``overwrite`` says (typically the
        input files). Compared by resolved path and by identity (``os.path.samefile``).
    icc_profile : bytes, optional
        ICC profile to embed (JPEG, PNG, WebP, TIFF; see :func:`holds_profile`).
    exif : bytes, optional
        EXIF block (TIFF structure, with or without ``Exif\\0\\0``) to embed where the
        format holds it (not BMP), with its orientation set to 1 and its pixel size to the
        image's.
    quality : int, optional
        1..100: JPEG quality (default 95) and lossy WebP quality (default: lossless).
    notes : list, optional
        Receives one line for each piece of metadata the format could not hold.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    ImageError
        Unsupported extension, ``path`` is protected or a folder, non-finite values, or the file
        cannot be encoded or written (one line, naming the file).
    ValueError
        Bad shapes or ``bit_depth``.
    TypeError
        Unsupported dtype (bool, signed integers, ...).
    """
    args = _validated(path, color, alpha, bit_depth, quality, icc_profile, exif)
    path = args[0]
    if _protected(path, protect):
        raise _error(path, "refusing to overwrite an input file")
    if path.is_dir():
        raise _error(path, "is a folder, not an image file")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{_show(path)}: already exists (use --overwrite to replace it)")
    encoded = _encoded(*args, bit_depth, quality, icc_profile, exif, notes)

    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(path, f"cannot create folder ({_one_line(exc)})") from None

    try:
        atomic_write(path, encoded, overwrite=overwrite, keep_suffix=True)
    except OutputExistsError:
        raise OutputExistsError(
            f"{_show(path)}: already exists (use --overwrite to replace it)"
        ) from None
    except OSError as exc:
        raise _error(path, f"cannot write file ({_one_line(exc)})") from None
    return path


def save_image(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    bit_depth: int = 8,
    overwrite: bool = False,
) -> Path:
    """Write one array as an image file (simple public API), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; the format follows the extension (see :data:`IMAGE_EXTENSIONS`).
    image : np.ndarray
        ``(H, W)`` gray, ``(H, W, 1)`` gray, ``(H, W, 2)`` gray + alpha, ``(H, W, 3)`` RGB or
        ``(H, W, 4)`` RGBA. Float in [0, 1] (clipped and rounded), or uint8 / uint16 (scaled).
    bit_depth : int, optional
        8 or 16 (16 only for PNG and TIFF; others write 8). Default 8.
    overwrite : bool, optional
        Replace an existing file. Default False.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputExistsError, ImageError, ValueError, TypeError
        See :func:`write_image`.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (2, 4):
        return write_image(
            path,
            image[:, :, :-1],
            alpha=image[:, :, -1],
            bit_depth=bit_depth,
            overwrite=overwrite,
        )
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(
            "image must have shape (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4), "
            f"got shape {image.shape}"
        )
    return write_image(path, image, bit_depth=bit_depth, overwrite=overwrite)
