"""Image file headers, checked before any decoding: format sniffing, the PNG, JPEG, TIFF,
BMP and WebP header parsers (dimensions, channels, bit depth, truncation) and EXIF
orientation."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np

from deblur.io._util import _quiet


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
