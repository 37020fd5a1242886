"""Reading image files: validated before decoding, EXIF orientation applied."""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from deblur.errors import ARG
from deblur.io._util import _error, _one_line, _quiet
from deblur.io.headers import (
    _HEADER_PARSERS,
    _BadHeader,
    _decoder_orients,
    _orient,
    _sniff,
)
from deblur.io.limits import (  # re-exported: deblur.io.read is where they were
    BYTES_PER_PIXEL,
    MAX_PIXELS,
    MAX_PIXELS_ENV,
    check_pixels,
    max_pixels_limit,
)

__all__ = [
    "BYTES_PER_PIXEL",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "LoadedImage",
    "check_pixels",
    "decode_image",
    "load_image",
    "max_pixels_limit",
    "read_image",
    "read_stream_bytes",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
)
"""File extensions (lower case, with the dot) that can be read and written."""


def _max_file_bytes(limit: int) -> int:
    """Largest image file read for a pixel limit: 32 bytes a pixel (16-bit RGBA stored raw
    is 8) plus 64 MiB of metadata, so a huge file is refused before it is read."""
    return 64 * 2**20 + 32 * limit


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
        The file that was read (``-`` for standard input).
    icc_profile : bytes or None
        The file's ICC profile (see :mod:`deblur.io.metadata`), None when it has none.
    exif : bytes or None
        The file's EXIF block (a TIFF structure, orientation tag as in the file), or None.
    format : str
        The file's format from its content: ``png``, ``jpeg``, ``tiff``, ``bmp`` or ``webp``.
    notes : tuple of str
        Metadata that could not be carried (too large or unreadable), one line each.
    """

    color: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    path: Path
    icc_profile: bytes | None = None
    exif: bytes | None = None
    format: str = ""
    notes: tuple[str, ...] = ()


def _check_extension(path: Path, what: str) -> str:
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        shown = f"'{ext}'" if ext else "no extension"
        supported = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise _error(path, f"unsupported {what} file type ({shown}; supported: {supported})")
    return ext


def _read_bounded(path: Path, cap: int, limit: int) -> bytes:
    """The bytes of a regular file of at most ``cap`` bytes (a FIFO, device or socket is
    refused without blocking, and a file larger than ``cap`` without being read)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise _error(path, f"cannot read file ({_one_line(exc)})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _error(path, "not a regular file")
        if info.st_size > cap:
            raise _error(
                path,
                f"file too large ({info.st_size:,} bytes; an image of at most {limit:,}"
                f" pixels has at most {cap:,}): raise the pixel limit with {ARG.max_pixels}=N"
                f" or {MAX_PIXELS_ENV}=N",
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise _error(path, f"cannot read file ({_one_line(exc)})") from None
    finally:
        os.close(fd)
    if len(data) > cap:  # grew while being read
        raise _error(path, f"file too large (more than {cap:,} bytes)")
    return data


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int | None = None, metadata: bool = True
) -> LoadedImage:
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
        Default: ``$DEBLUR_MAX_PIXELS`` when set, else :data:`MAX_PIXELS` (see
        :func:`max_pixels_limit`). Files larger than ``32 * max_pixels`` bytes + 64 MiB are
        refused unread.
    metadata : bool, optional
        Also read the ICC profile and EXIF (default True; see :mod:`deblur.io.metadata`).

    Returns
    -------
    LoadedImage
        ``color`` float32 ``(H, W, 1)`` or ``(H, W, 3)`` RGB in [0, 1]; ``alpha`` float32
        ``(H, W)`` in [0, 1] or None; ``bit_depth`` 8 or 16; ``path``; ``icc_profile``,
        ``exif``, ``format`` and ``notes``. 8- and 16-bit values map exactly: ``v / 255`` or
        ``v / 65535``. The pixels are the file's own (no colour conversion).

    Raises
    ------
    ImageError
        With a one-line message naming the file, when the file is missing, a folder, empty,
        unreadable, of an unsupported type, not an image, corrupt, truncated, zero-size, too
        large, or has samples other than 8/16-bit unsigned integers.
    UsageError
        A bad ``max_pixels`` or ``DEBLUR_MAX_PIXELS``.
    """
    path = Path(path)
    limit = max_pixels_limit(max_pixels)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise _error(path, "file not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise _error(path, f"cannot read file ({_one_line(exc)})") from None
    if stat.S_ISDIR(mode):
        raise _error(path, "is a folder, not an image file")
    _check_extension(path, "input")
    # the bytes travel in a list that _decode empties, so they are freed before the float
    # copies are made (lower peak memory)
    return _decode([_read_bounded(path, _max_file_bytes(limit), limit)], path, limit, metadata)


def read_stream_bytes(stream, *, max_pixels: int | None = None) -> bytes:
    """The bytes of one image file from a binary stream (standard input), at most
    ``32 * max_pixels`` bytes + 64 MiB (see :func:`read_image`); decode them with
    :func:`decode_image`.

    Raises
    ------
    ImageError
        The stream is a terminal, cannot be read, is empty or too large (naming ``-``).
    """
    limit = max_pixels_limit(max_pixels)
    cap = _max_file_bytes(limit)
    try:
        tty = stream.isatty()
    except (AttributeError, OSError, ValueError):
        tty = False
    if tty:
        raise _error("-", "standard input is a terminal: pipe an image into it")
    try:
        data = stream.read(cap + 1)
    except (OSError, ValueError) as exc:
        raise _error("-", f"cannot read standard input ({_one_line(exc)})") from None
    if not data:
        raise _error("-", "standard input is empty (no image)")
    if len(data) > cap:
        raise _error("-", f"input too large (more than {cap:,} bytes): raise {ARG.max_pixels}")
    return data


def decode_image(
    data: bytes,
    path: str | os.PathLike[str] = "-",
    *,
    max_pixels: int | None = None,
    metadata: bool = True,
) -> LoadedImage:
    """Decode an image file's bytes, checked as :func:`read_image` checks a file.

    Parameters
    ----------
    data : bytes
        The whole file.
    path : str or os.PathLike, optional
        The name used in messages and kept as ``LoadedImage.path`` (default ``-``).
    max_pixels, metadata : optional
        As for :func:`read_image`.

    Returns
    -------
    LoadedImage

    Raises
    ------
    ImageError
        Empty, not an image, corrupt, truncated, zero-size or too large (one line).
    """
    return _decode([data], Path(path), max_pixels_limit(max_pixels), metadata)


def _decode(holder: list[bytes], path: Path, limit: int, metadata: bool) -> LoadedImage:
    data = holder.pop()
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
    check_pixels(header.width, header.height, limit, name=path)
    if not header.complete:
        raise _error(path, f"truncated {kind.upper()} file (data ends early)")

    try:
        with _quiet():
            raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise _error(
            path, f"corrupt {kind.upper()} file (cannot decode: {_one_line(exc)})"
        ) from None
    except MemoryError:
        raise _error(
            path, f"not enough memory to decode {header.width}x{header.height} pixels"
        ) from None
    meta = None
    if metadata:
        from deblur.io.metadata import read_metadata

        meta = read_metadata(data, kind)
    del data  # the file's bytes are not needed any more (lower peak memory)
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
    # float32 copies scaled in place: one float copy of each at a time (peak memory)
    color = np.ascontiguousarray(_orient(color_raw, orientation), dtype=np.float32)
    color /= np.float32(scale)
    alpha = None
    if alpha_raw is not None:
        alpha = np.ascontiguousarray(_orient(alpha_raw, orientation), dtype=np.float32)
        alpha /= np.float32(scale)
    if meta is None:
        return LoadedImage(color, alpha, bit_depth, path, format=kind)
    return LoadedImage(color, alpha, bit_depth, path, meta.icc_profile, meta.exif, kind, meta.notes)


def load_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as one float32 array (simple public API).

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG, TIFF, BMP or WebP file.
    max_pixels : int, optional
        Pixel limit, as for :func:`read_image`.

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
    loaded = read_image(path, max_pixels=max_pixels, metadata=False)
    if loaded.alpha is None:
        return loaded.color[:, :, 0] if loaded.color.shape[2] == 1 else loaded.color
    color = np.broadcast_to(loaded.color, (*loaded.color.shape[:2], 3))
    return np.concatenate([color, loaded.alpha[:, :, None]], axis=2)
