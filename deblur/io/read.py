"""Reading image files: validated before decoding, EXIF orientation applied."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from deblur.io._util import _error, _one_line, _quiet
from deblur.io.headers import (
    _HEADER_PARSERS,
    _BadHeader,
    _decoder_orients,
    _orient,
    _sniff,
)

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
)
"""File extensions (lower case, with the dot) that can be read and written."""

MAX_PIXELS: int = 200_000_000
"""Default limit on ``width * height`` of an image file (decompression-bomb guard)."""


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image read from a file by :func:`read_image`.

    Attributes
    ----------
    color : np.ndarray
        float32, shape ``(H, W, C)`` with ``C = 1`` (gray) or ``C = 3`` (RGB, in RGB order),
        values in [0, 1]. EXIF orientation already applied.
    alpha : np.ndarray or None
        float32, shape ``(H, W)``, values in [0, 1], or None when the file has no alpha channel.
        Passed through untouched (only converted to float and oriented like ``color``).
    bit_depth : int
        Bits per sample of the file: 8 or 16.
    path : Path
        The file that was read.
    """

    color: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    path: Path


def _check_extension(path: Path, what: str) -> str:
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        shown = f"'{ext}'" if ext else "no extension"
        supported = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise _error(path, f"unsupported {what} file type ({shown}; supported: {supported})")
    return ext


def read_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read a PNG, JPEG, TIFF, BMP or WebP file (8 or 16 bits; gray, RGB, with or without alpha).

    The file is checked before decoding: it must exist, be a non-empty regular file with a
    supported extension, start with the magic bytes of a supported format, have a readable header
    with non-zero dimensions and at most ``max_pixels`` pixels, and not be truncated. The format
    is taken from the content, not the extension. EXIF orientation (JPEG, TIFF, PNG ``eXIf``,
    WebP ``EXIF``) is applied, to the alpha channel too.

    Parameters
    ----------
    path : str or os.PathLike
        The image file. Unicode paths are fine.
    max_pixels : int, optional
        Largest accepted ``width * height`` (checked from the header, before decoding).
        Default :data:`MAX_PIXELS`.

    Returns
    -------
    LoadedImage
        ``color`` float32 ``(H, W, 1)`` or ``(H, W, 3)`` RGB in [0, 1]; ``alpha`` float32
        ``(H, W)`` in [0, 1] or None; ``bit_depth`` 8 or 16; ``path``. 8- and 16-bit values
        map exactly: ``v / 255`` or ``v / 65535``.

    Raises
    ------
    ImageError
        With a one-line message naming the file, when the file is missing, a folder, empty,
        unreadable, of an unsupported type, not an image, corrupt, truncated, zero-size, too
        large, or has samples other than 8/16-bit unsigned integers.
    """
    path = Path(path)
    if not path.exists():
        raise _error(path, "file not found")
    if path.is_dir():
        raise _error(path, "is a folder, not an image file")
    _check_extension(path, "input")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _error(path, f"cannot read file ({_one_line(exc)})") from None
    if not data:
        raise _error(path, "empty file (0 bytes)")

    kind = _sniff(data)
    if kind is None:
        raise _error(path, "not an image (cannot decode)")
    try:
        header = _HEADER_PARSERS[kind](data)
    except _BadHeader as exc:
        raise _error(path, f"corrupt or truncated {kind.upper()} file ({exc})") from None
    except (struct.error, IndexError, ValueError):
        raise _error(path, f"corrupt or truncated {kind.upper()} file (bad header)") from None
    if header.width <= 0 or header.height <= 0:
        raise _error(path, f"zero-size image ({header.width}x{header.height})")
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise _error(
            path,
            f"image too large ({header.width}x{header.height} = {pixels:,} pixels; "
            f"limit {max_pixels:,})",
        )
    if not header.complete:
        raise _error(path, f"truncated {kind.upper()} file (data ends early)")

    try:
        with _quiet():
            raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise _error(
            path, f"corrupt {kind.upper()} file (cannot decode: {_one_line(exc)})"
        ) from None
    if raw is None or raw.size == 0:
        raise _error(path, f"corrupt {kind.upper()} file (cannot decode)")

    if raw.dtype == np.uint8:
        bit_depth, scale = 8, 255.0
    elif raw.dtype == np.uint16:
        bit_depth, scale = 16, 65535.0
    else:
        raise _error(
            path, f"unsupported sample type {raw.dtype} (only 8- and 16-bit images are supported)"
        )

    if raw.ndim == 2:
        raw = raw[:, :, None]
    channels = raw.shape[2]
    alpha_raw: np.ndarray | None = None
    if channels == 1:
        color_raw = raw
    elif channels == 2:  # gray + alpha
        color_raw, alpha_raw = raw[:, :, :1], raw[:, :, 1]
    elif channels in (3, 4):
        color_raw = raw[:, :, 2::-1]  # BGR(A) -> RGB
        if channels == 4 and kind != "jpeg":
            alpha_raw = raw[:, :, 3]
        if header.gray:  # gray PNG that OpenCV expanded to BGR(A)
            color_raw = raw[:, :, :1]
    else:
        raise _error(path, f"unsupported number of channels ({channels})")

    # EXIF orientation: some OpenCV decoders apply it themselves (see _decoder_orients). When
    # width and height swap, the decoded shape tells for sure.
    orientation = header.orientation
    if orientation != 1:
        applied = _decoder_orients(kind)
        if orientation >= 5 and header.width != header.height:
            applied = raw.shape[:2] == (header.width, header.height)
        if applied:
            orientation = 1
    color = _orient(color_raw, orientation)
    color = np.ascontiguousarray(color, dtype=np.float32) / np.float32(scale)
    alpha = None
    if alpha_raw is not None:
        alpha = _orient(alpha_raw, orientation)
        alpha = np.ascontiguousarray(alpha, dtype=np.float32) / np.float32(scale)
    return LoadedImage(color=color, alpha=alpha, bit_depth=bit_depth, path=path)


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as one float32 array (simple public API).

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG, TIFF, BMP or WebP file.

    Returns
    -------
    np.ndarray
        float32 in [0, 1]: ``(H, W)`` for gray, ``(H, W, 3)`` for RGB, ``(H, W, 4)`` for RGBA.
        Gray with alpha is returned as RGBA (gray repeated in R, G and B).

    Raises
    ------
    ImageError
        See :func:`read_image`.
    """
    loaded = read_image(path)
    if loaded.alpha is None:
        return loaded.color[:, :, 0] if loaded.color.shape[2] == 1 else loaded.color
    color = np.broadcast_to(loaded.color, (*loaded.color.shape[:2], 3))
    return np.concatenate([color, loaded.alpha[:, :, None]], axis=2)
