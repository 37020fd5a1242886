"""Image input/output: the one place where files become arrays and arrays become files.

Inside the library, images are float32 torch tensors of shape ``(B, C, H, W)`` with values
in [0, 1]. At the edges (files, user code) they are float32 numpy arrays of shape ``(H, W)``
(gray) or ``(H, W, C)`` with values in [0, 1], channels in RGB(A) order.

Reading validates the file cheaply *before* decoding it (extension, magic bytes, header
dimensions against a pixel limit, truncation), so that bad input always ends in a one-line
:class:`ImageError` that names the file, and never in a partial image, a crash or native-library
noise on stderr. EXIF orientation is applied on read. Writing is atomic: the encoded bytes go to
a temporary file in the destination folder, which is fsynced and then moved into place.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "ImageError",
    "OutputExistsError",
    "LoadedImage",
    "read_image",
    "write_image",
    "load_image",
    "save_image",
    "as_bchw",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
)
"""File extensions (lower case, with the dot) that can be read and written."""

MAX_PIXELS: int = 200_000_000
"""Default limit on ``width * height`` of an image file (decompression-bomb guard)."""

# Formats that can only hold 8 bits per sample, and formats that cannot hold alpha.
_EIGHT_BIT_ONLY = frozenset({".jpg", ".jpeg", ".webp", ".bmp"})
_NO_ALPHA = frozenset({".jpg", ".jpeg"})
_NO_GRAY = frozenset({".webp"})  # WebP has no gray mode: gray is stored as R = G = B.


class ImageError(ValueError):
    """An image file could not be read or written.

    The message is a single line that starts with the file's path, for example
    ``"photo.jpg: not an image (cannot decode)"``.
    """


class OutputExistsError(ImageError, FileExistsError):
    """The output file already exists and ``overwrite`` was not given.

    Both an :class:`ImageError` (hence a ``ValueError``) and a ``FileExistsError``.
    """


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


# --------------------------------------------------------------------------------------------
# Errors and native-library noise
# --------------------------------------------------------------------------------------------


def _show(path: str | os.PathLike[str]) -> str:
    """Render a path for a one-line message (control characters escaped)."""
    text = os.fspath(path)
    return text if text.isprintable() else ascii(text)


def _error(path: str | os.PathLike[str], reason: str) -> ImageError:
    return ImageError(f"{_show(path)}: {' '.join(reason.split())}")


def _one_line(exc: BaseException) -> str:
    """The last meaningful line of an exception message (OpenCV's are multi-line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text


_QUIET_LOCK = threading.RLock()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence OpenCV logging and native stderr output (libpng, libjpeg, libtiff) for a while.

    OpenCV's own messages go through its logger, but libpng and libjpeg print straight to the
    C-level stderr, so file descriptor 2 is pointed at the null device for the duration of the
    call. Both are restored afterwards. A lock makes concurrent calls from threads safe with
    respect to each other; output written to stderr by *other* threads during the few
    milliseconds of a decode is lost.
    """
    with _QUIET_LOCK:
        old_level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        saved_fd = devnull_fd = None
        try:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            try:
                saved_fd = os.dup(2)
                devnull_fd = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull_fd, 2)
            except OSError:  # no usable fd 2 (e.g. pythonw): nothing to silence
                if saved_fd is not None:
                    os.close(saved_fd)
                saved_fd = None
            yield
        finally:
            if saved_fd is not None:
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
            if devnull_fd is not None:
                os.close(devnull_fd)
            cv2.utils.logging.setLogLevel(old_level)


# --------------------------------------------------------------------------------------------
# Header parsing (done before any decoding)
# --------------------------------------------------------------------------------------------


class _Header(NamedTuple):
    width: int
    height: int
    complete: bool  # False when the file is visibly truncated
    orientation: int = 1  # EXIF orientation, 1..8
    gray: bool = False  # the file stores gray (PNG color types 0 and 4)


class _BadHeader(Exception):
    """The header could not be parsed (corrupt or truncated)."""


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _sniff(data: bytes) -> str | None:
    """Return the container format from the magic bytes, or None if unknown."""
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data.startswith(b"BM") and len(data) >= 26:
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _tiff_ifd0(block: bytes | memoryview) -> dict[int, list[int]]:
    """Parse the integer-valued tags of the first IFD of a TIFF structure (TIFF file or EXIF).

    Returns a mapping tag -> list of values. Raises _BadHeader on malformed input.
    """
    try:
        order = {b"II": "<", b"MM": ">"}[bytes(block[:2])]
        magic = struct.unpack_from(order + "H", block, 2)[0]
        if magic == 42:
            big = False
            offset = struct.unpack_from(order + "I", block, 4)[0]
            count = struct.unpack_from(order + "H", block, offset)[0]
            entry_size, entries_at, inline = 12, offset + 2, 4
        elif magic == 43:  # BigTIFF
            big = True
            offset = struct.unpack_from(order + "Q", block, 8)[0]
            count = struct.unpack_from(order + "Q", block, offset)[0]
            entry_size, entries_at, inline = 20, offset + 8, 8
        else:
            raise _BadHeader("bad TIFF magic")
        if count > 4096:
            raise _BadHeader("implausible TIFF directory")
        sizes = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # BYTE SHORT LONG LONG8
        tags: dict[int, list[int]] = {}
        for i in range(count):
            at = entries_at + i * entry_size
            tag, typ = struct.unpack_from(order + "HH", block, at)
            n = struct.unpack_from(order + ("Q" if big else "I"), block, at + 4)[0]
            if typ not in sizes or n == 0:
                continue
            fmt, size = sizes[typ]
            value_at = at + (12 if big else 8)
            if n * size > inline:
                value_at = struct.unpack_from(order + ("Q" if big else "I"), block, value_at)[0]
            if value_at + n * size > len(block):
                raise _BadHeader("TIFF tag out of bounds")
            tags[tag] = list(struct.unpack_from(f"{order}{n}{fmt}", block, value_at))
        return tags
    except (KeyError, struct.error, OverflowError, MemoryError) as exc:
        raise _BadHeader("bad TIFF structure") from exc


def _exif_orientation(block: bytes | memoryview) -> int:
    """Orientation (1..8) from an EXIF TIFF block, 1 when absent or unreadable."""
    if bytes(block[:6]) == b"Exif\x00\x00":
        block = block[6:]
    try:
        value = _tiff_ifd0(block).get(0x0112, [1])[0]
    except _BadHeader:
        return 1
    return value if 1 <= value <= 8 else 1


def _png_header(data: bytes) -> _Header:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _BadHeader("missing IHDR")
    width, height, _depth, color_type = struct.unpack_from(">IIBB", data, 16)
    gray = color_type in (0, 4)
    orientation = 1
    pos, view = 8, memoryview(data)
    while True:
        if pos + 12 > len(data):
            return _Header(width, height, False, orientation, gray)
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if length > 0x7FFFFFFF:
            raise _BadHeader("bad chunk length")
        if end > len(data):
            return _Header(width, height, False, orientation, gray)
        crc_ok = zlib.crc32(view[pos + 4 : end - 4]) == struct.unpack_from(">I", data, end - 4)[0]
        if kind[0:1].isupper() and not crc_ok:  # critical chunk: libpng would fail
            raise _BadHeader(f"bad CRC in {kind.decode('latin-1')} chunk")
        if kind == b"eXIf" and crc_ok:
            orientation = _exif_orientation(view[pos + 8 : end - 4])
        if kind == b"IEND":
            return _Header(width, height, True, orientation, gray)
        pos = end


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_header(data: bytes) -> _Header:
    """Walk the JPEG segments up to the first scan (SOS); complete when an EOI marker follows.

    FF D9 cannot occur inside entropy-coded data (0xFF there is always followed by 0x00 or a
    restart marker), so a backwards search for it is enough and costs nothing.
    """
    size: tuple[int, int] | None = None
    orientation = 1
    pos, n = 2, len(data)
    while True:
        # Find the next marker (tolerating garbage and fill bytes before it, like libjpeg).
        pos = data.find(b"\xff", pos)
        while 0 <= pos < n - 1 and data[pos + 1] == 0xFF:
            pos += 1
        if pos < 0 or pos + 1 >= n:
            complete = False  # ends before the first scan
            break
        marker = data[pos + 1]
        pos += 2
        if marker == 0xD9:  # EOI before any scan: no image data
            raise _BadHeader("no image data")
        if marker == 0x01 or 0xD0 <= marker <= 0xD8 or marker == 0x00:
            continue  # standalone markers (no length)
        if pos + 2 > n:
            complete = False
            break
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 2:
            raise _BadHeader("bad segment length")
        if marker in _JPEG_SOF and size is None and pos + 7 <= n:
            size = struct.unpack_from(">HH", data, pos + 3)
        elif marker == 0xE1 and orientation == 1 and data[pos + 2 : pos + 8] == b"Exif\x00\x00":
            orientation = _exif_orientation(memoryview(data)[pos + 8 : pos + length])
        elif marker == 0xDA:  # SOS: image data follows
            complete = data.rfind(b"\xff\xd9") > pos + length
            break
        pos += length
    if size is None:
        raise _BadHeader("no frame header")
    return _Header(size[1], size[0], complete, orientation)


def _tiff_header(data: bytes) -> _Header:
    tags = _tiff_ifd0(data)
    if 256 not in tags or 257 not in tags:
        raise _BadHeader("no image size")
    complete = True
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):  # strips, tiles
        offsets, counts = tags.get(offsets_tag, []), tags.get(counts_tag, [])
        if any(o + c > len(data) for o, c in zip(offsets, counts, strict=False)):
            complete = False
    orientation = tags.get(0x0112, [1])[0]
    return _Header(
        tags[256][0], tags[257][0], complete, orientation if 1 <= orientation <= 8 else 1
    )


def _bmp_header(data: bytes) -> _Header:
    pixel_offset, dib_size = struct.unpack_from("<II", data, 10)
    if dib_size == 12:  # BITMAPCOREHEADER
        width, height, _planes, bpp = struct.unpack_from("<HHHH", data, 18)
        compression = 0
    elif dib_size >= 40 and len(data) >= 34:
        width, height, _planes, bpp, compression = struct.unpack_from("<iiHHI", data, 18)
    else:
        raise _BadHeader("unknown BMP header")
    width, height = abs(width), abs(height)
    complete = True
    if compression in (0, 3, 6) and bpp in (1, 4, 8, 16, 24, 32):  # uncompressed
        stride = (width * bpp + 31) // 32 * 4
        complete = len(data) >= pixel_offset + stride * height
    return _Header(width, height, complete)


def _webp_header(data: bytes) -> _Header:
    riff_size = struct.unpack_from("<I", data, 4)[0]
    complete = len(data) >= 8 + riff_size
    size: tuple[int, int] | None = None
    orientation = 1
    pos, end = 12, min(len(data), 8 + riff_size)
    while pos + 8 <= end:
        kind, length = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if kind == b"VP8X" and length >= 10 and body + 10 <= len(data):
            w = int.from_bytes(data[body + 4 : body + 7], "little") + 1
            h = int.from_bytes(data[body + 7 : body + 10], "little") + 1
            size = (w, h)
        elif kind == b"VP8 " and size is None and body + 10 <= len(data):
            if data[body + 3 : body + 6] != b"\x9d\x01\x2a":
                raise _BadHeader("bad VP8 frame")
            w, h = struct.unpack_from("<HH", data, body + 6)
            size = (w & 0x3FFF, h & 0x3FFF)
        elif kind == b"VP8L" and size is None and body + 5 <= len(data):
            if data[body] != 0x2F:
                raise _BadHeader("bad VP8L signature")
            bits = int.from_bytes(data[body + 1 : body + 5], "little")
            size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        elif kind == b"EXIF" and body + length <= len(data):
            orientation = _exif_orientation(memoryview(data)[body : body + length])
        pos = body + length + (length & 1)
    if size is None:
        raise _BadHeader("no frame header")
    return _Header(size[0], size[1], complete, orientation)


_HEADER_PARSERS: dict[str, Callable[[bytes], _Header]] = {
    "png": _png_header,
    "jpeg": _jpeg_header,
    "tiff": _tiff_header,
    "bmp": _bmp_header,
    "webp": _webp_header,
}


def _exif_block(orientation: int) -> bytes:
    """A minimal big-endian EXIF TIFF block holding only the Orientation tag."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"MM\x00*" + struct.pack(">IH", 8, 1) + entry + struct.pack(">I", 0)


def _probe_file(kind: str) -> bytes:
    """A tiny 4x2 (W x H) file of the given format tagged with EXIF orientation 6."""
    gray = np.zeros((2, 4), np.uint8)
    exif = _exif_block(6)
    if kind == "tiff":
        entries = [(256, 4, 4), (257, 4, 2), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8)]
        entries += [(274, 3, 6), (277, 3, 1), (278, 4, 2), (279, 4, 8)]
        ifd = struct.pack(">H", len(entries))
        for tag, typ, value in entries:
            packed = struct.pack(">HH", value, 0) if typ == 3 else struct.pack(">I", value)
            ifd += struct.pack(">HHI", tag, typ, 1) + packed
        return b"MM\x00*" + struct.pack(">I", 16) + gray.tobytes() + ifd + b"\x00" * 4
    ext = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}[kind]
    ok, buffer = cv2.imencode(ext, np.zeros((2, 4, 3), np.uint8) if kind == "webp" else gray)
    data = buffer.tobytes() if ok else b""
    if kind == "jpeg":
        payload = b"Exif\x00\x00" + exif
        return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    if kind == "png":
        body = b"eXIf" + exif
        crc = struct.pack(">I", zlib.crc32(body))
        return data[:33] + struct.pack(">I", len(exif)) + body + crc + data[33:]
    # WebP: wrap the simple-format bitstream chunk in an extended (VP8X) file with an EXIF chunk.
    vp8x = bytes([0x08, 0, 0, 0]) + (3).to_bytes(3, "little") + (1).to_bytes(3, "little")
    chunks = b"VP8X" + struct.pack("<I", 10) + vp8x + data[12:]
    chunks += b"EXIF" + struct.pack("<I", len(exif)) + exif + b"\x00" * (len(exif) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


_DECODER_ORIENTS: dict[str, bool] = {}


def _decoder_orients(kind: str) -> bool:
    """Whether OpenCV applies EXIF orientation itself for ``kind`` with IMREAD_UNCHANGED.

    OpenCV 5 does for TIFF but not for JPEG, PNG or WebP; this differs between versions, so it
    is measured once per format on a tiny tagged file rather than assumed.
    """
    if kind not in _DECODER_ORIENTS:
        try:
            with _quiet():
                probe = cv2.imdecode(
                    np.frombuffer(_probe_file(kind), np.uint8), cv2.IMREAD_UNCHANGED
                )
            _DECODER_ORIENTS[kind] = probe is not None and probe.shape[:2] == (4, 2)
        except (cv2.error, struct.error, KeyError, ValueError):
            _DECODER_ORIENTS[kind] = False
    return _DECODER_ORIENTS[kind]


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation (1..8) to an ``(H, W, ...)`` array, returning the upright view."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return array.swapaxes(0, 1)[:, ::-1]  # rotate 90 degrees clockwise
    if orientation == 7:
        return array.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return array.swapaxes(0, 1)[::-1]  # rotate 90 degrees counter-clockwise
    return array


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _to_unit_float(array: np.ndarray, what: str) -> np.ndarray:
    """uint8/uint16 -> float in [0, 1]; float -> float. Other dtypes raise TypeError."""
    if array.dtype == np.bool_:
        raise TypeError(f"{what}: boolean arrays are not images (use float in [0, 1])")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535.0)
    if np.issubdtype(array.dtype, np.floating):
        return array
    raise TypeError(
        f"{what}: unsupported dtype {array.dtype} (expected float in [0, 1], uint8 or uint16)"
    )


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


def _encode(ext: str, color: np.ndarray, alpha: np.ndarray | None) -> bytes:
    """Encode quantized ``color`` (H, W, 1|3) RGB and ``alpha`` (H, W) or None to file bytes."""
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
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
        if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR_444"):
            params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    elif ext == ".webp" and hasattr(cv2, "IMWRITE_WEBP_LOSSLESS_PRESERVE_COLOR"):
        # Lossless, and keep the colour under fully transparent pixels (alpha is not a mask).
        params = [cv2.IMWRITE_WEBP_LOSSLESS_MODE, cv2.IMWRITE_WEBP_LOSSLESS_PRESERVE_COLOR]
    ok, buffer = cv2.imencode(ext, np.ascontiguousarray(array), params)
    if not ok:
        raise cv2.error("encoder failed")
    return buffer.tobytes()


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


def _fsync_dir(folder: Path) -> None:
    """Best-effort fsync of a folder so a rename is durable (POSIX only)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_image(
    path: str | os.PathLike[str],
    color: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    bit_depth: int = 8,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
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
    path = Path(path)
    ext = _check_extension(path, "output")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")

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

    if _protected(path, protect):
        raise _error(path, "refusing to overwrite an input file")
    if path.is_dir():
        raise _error(path, "is a folder, not an image file")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{_show(path)}: already exists (use overwrite to replace it)")

    depth = 8 if ext in _EIGHT_BIT_ONLY else bit_depth
    if ext in _NO_ALPHA:
        alpha = None
    try:
        encoded = _encode(
            ext, _quantize(color, depth), None if alpha is None else _quantize(alpha, depth)
        )
    except cv2.error as exc:
        raise _error(path, f"cannot encode image ({_one_line(exc)})") from None

    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(path, f"cannot create folder ({_one_line(exc)})") from None

    tmp: Path | None = None
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        for _ in range(100):
            tmp = folder / f".{path.stem[:100]}.{secrets.token_hex(6)}.tmp{path.suffix}"
            try:
                fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError("cannot create a temporary file")
        try:
            view = memoryview(encoded)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile: no clobbering
            except FileExistsError:
                raise OutputExistsError(
                    f"{_show(path)}: already exists (use overwrite to replace it)"
                ) from None
            except OSError:  # no hard links on this file system
                if path.exists():
                    raise OutputExistsError(
                        f"{_show(path)}: already exists (use overwrite to replace it)"
                    ) from None
                os.replace(tmp, path)
        _fsync_dir(folder)
    except ImageError:
        raise
    except OSError as exc:
        raise _error(path, f"cannot write file ({_one_line(exc)})") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
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


# --------------------------------------------------------------------------------------------
# Arrays <-> tensors
# --------------------------------------------------------------------------------------------

_EXPECTED = "expected an image of shape (H, W), (H, W, C) or a tensor (B, C, H, W)"


def as_bchw(
    image: np.ndarray | torch.Tensor,
) -> tuple[torch.Tensor, Callable[[torch.Tensor], object]]:
    """Convert an image to a float32 ``(B, C, H, W)`` tensor, with a function to convert back.

    Parameters
    ----------
    image : np.ndarray or torch.Tensor
        A numpy array ``(H, W)`` or ``(H, W, C)`` with ``1 <= C <= 4`` (channels last): float
        in [0, 1] (any float dtype), or uint8 / uint16 (scaled to [0, 1]). Or a torch tensor
        ``(B, C, H, W)`` (tensors must be 4-D): float, uint8 or uint16 (scaled). Boolean and
        other integer dtypes are refused.

    Returns
    -------
    tensor : torch.Tensor
        float32, contiguous, shape ``(B, C, H, W)``; values in [0, 1] for valid input. A numpy
        input gives ``B = 1`` on the CPU and is always copied (never shares memory with
        ``image``). A float32 contiguous tensor is returned as is (no copy); other tensors are
        converted on their device.
    to_input_kind : callable
        Takes a ``(B, C, H, W)`` result (tensor, or numpy array) and returns it in the kind of
        ``image``: for a numpy ``(H, W)`` input, a float32 ``(H, W)`` array (needs
        ``B = C = 1``); for ``(H, W, C)``, a float32 ``(H, W, C')`` array (needs ``B = 1``); for
        a tensor, a float32 tensor on ``image``'s device. ``H``, ``W`` and ``C`` of the result
        may differ from the input's.

    Raises
    ------
    ValueError
        Wrong shape; the message names the expected shapes and the shape given.
    TypeError
        Not a numpy array or tensor, or an unsupported dtype.
    """
    if isinstance(image, torch.Tensor):
        if image.ndim != 4:
            raise ValueError(
                f"{_EXPECTED}, got shape {tuple(image.shape)} (a tensor must be 4-D (B, C, H, W))"
            )
        if 0 in image.shape:
            raise ValueError(f"{_EXPECTED}, got an empty shape {tuple(image.shape)}")
        if image.dtype == torch.bool:
            raise TypeError("boolean tensors are not images (use float in [0, 1])")
        if image.dtype == torch.uint8:
            tensor = image.to(torch.float32) / 255.0
        elif image.dtype == torch.uint16:
            tensor = image.to(torch.float32) / 65535.0
        elif image.dtype.is_floating_point:
            tensor = image.to(torch.float32)
        else:
            raise TypeError(
                f"unsupported tensor dtype {image.dtype} "
                "(expected float in [0, 1], uint8 or uint16)"
            )
        device = image.device

        def to_tensor(result: torch.Tensor) -> torch.Tensor:
            result = torch.as_tensor(result)
            if result.ndim != 4:
                raise ValueError(
                    f"expected a result of shape (B, C, H, W), got {tuple(result.shape)}"
                )
            return result.to(device=device, dtype=torch.float32)

        return tensor.contiguous(), to_tensor

    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy array or a torch tensor, got {type(image).__name__}")
    shape = image.shape
    if image.ndim not in (2, 3) or (image.ndim == 3 and not 1 <= shape[2] <= 4):
        hint = " (numpy images are channels-last with 1 to 4 channels)" if image.ndim == 3 else ""
        raise ValueError(f"{_EXPECTED}, got shape {shape}{hint}")
    if 0 in shape:
        raise ValueError(f"{_EXPECTED}, got an empty shape {shape}")
    unit = _to_unit_float(image, "image")
    hwc = unit if unit.ndim == 3 else unit[:, :, None]
    chw = np.array(hwc.transpose(2, 0, 1), dtype=np.float32, order="C", copy=True)
    tensor = torch.from_numpy(chw)[None]
    gray_2d = image.ndim == 2

    def to_numpy(result: torch.Tensor) -> np.ndarray:
        result = torch.as_tensor(result)
        if result.ndim != 4 or result.shape[0] != 1 or (gray_2d and result.shape[1] != 1):
            want = "(1, 1, H, W)" if gray_2d else "(1, C, H, W)"
            raise ValueError(
                f"expected a result of shape {want} for a {len(shape)}-D numpy image, "
                f"got {tuple(result.shape)}"
            )
        array = result.detach().to(device="cpu", dtype=torch.float32).numpy()[0]
        array = array[0] if gray_2d else array.transpose(1, 2, 0)
        return np.array(array, dtype=np.float32, order="C", copy=True)

    return tensor, to_numpy
