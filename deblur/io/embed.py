"""Putting an ICC profile and EXIF into encoded JPEG, PNG and WebP bytes (our own encoder's
output), encoding 8-bit TIFF with them through Pillow, and adding an ICC profile to a 16-bit
TIFF from our encoder.

The segments and chunks are the standard ones: JPEG ``APP1`` ``Exif`` and ``APP2``
``ICC_PROFILE`` (the profile split over as many segments as it needs), PNG ``iCCP`` and
``eXIf`` right after ``IHDR``, WebP ``ICCP`` and ``EXIF`` chunks in the extended (``VP8X``)
layout. Only files this package just encoded are edited, so their structure is known.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from deblur.io.headers import _PNG_SIGNATURE

_ICC_TAG = b"ICC_PROFILE\x00"
_ICC_CHUNK = 65535 - 2 - len(_ICC_TAG) - 2  # payload of one APP2 segment
_EXIF_HEADER = b"Exif\x00\x00"
_JPEG_MAX_EXIF = 65535 - 2 - len(_EXIF_HEADER)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def embed_jpeg(data: bytes, icc: bytes | None, exif: bytes | None) -> tuple[bytes, list[str]]:
    """JPEG bytes with EXIF (``APP1``) and the ICC profile (``APP2`` segments) after the
    ``SOI`` (and ``JFIF`` ``APP0``) segments; returns the bytes and notes on what did not
    fit (EXIF over 64 KiB)."""
    notes: list[str] = []
    pos = 2
    if data[2:4] == b"\xff\xe0":  # keep JFIF first
        pos = 4 + struct.unpack_from(">H", data, 4)[0]
    extra = b""
    if exif is not None:
        if len(exif) <= _JPEG_MAX_EXIF:
            extra += _segment(0xE1, _EXIF_HEADER + exif)
        else:
            notes.append(f"EXIF too large for a JPEG ({len(exif):,} bytes); not written")
    if icc is not None:
        parts = [icc[i : i + _ICC_CHUNK] for i in range(0, len(icc), _ICC_CHUNK)]
        if len(parts) > 255:
            notes.append("ICC profile too large for a JPEG; not written")
        else:
            for n, part in enumerate(parts, 1):
                extra += _segment(0xE2, _ICC_TAG + bytes([n, len(parts)]) + part)
    return data[:pos] + extra + data[pos:], notes


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def embed_png(data: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """PNG bytes with ``iCCP`` and ``eXIf`` chunks after ``IHDR`` (any colour chunks that
    contradict the profile, ``sRGB``, ``gAMA``, ``cHRM``, ``iCCP``, are removed)."""
    out = [_PNG_SIGNATURE]
    pos = 8
    drop = {b"sRGB", b"gAMA", b"cHRM", b"iCCP"} if icc is not None else set()
    drop |= {b"eXIf"} if exif is not None else set()
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if kind not in drop:
            out.append(data[pos:end])
        if kind == b"IHDR":
            if icc is not None:
                out.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc, 9)))
            if exif is not None:
                out.append(_png_chunk(b"eXIf", exif))
        pos = end
    return b"".join(out)


def embed_webp(
    data: bytes, icc: bytes | None, exif: bytes | None, width: int, height: int, alpha: bool
) -> bytes:
    """WebP bytes in the extended layout: ``VP8X`` (flags for ICC, alpha, EXIF), ``ICCP``,
    the image chunks, ``EXIF``."""
    chunks: list[tuple[bytes, bytes]] = []
    pos, end = 12, 8 + struct.unpack_from("<I", data, 4)[0]
    while pos + 8 <= end:
        kind, length = struct.unpack_from("<4sI", data, pos)
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    flags = 0
    if chunks and chunks[0][0] == b"VP8X":
        flags = chunks.pop(0)[1][0]
    flags &= ~0x28  # ICC and EXIF: set below
    flags |= (0x20 if icc is not None else 0) | (0x08 if exif is not None else 0)
    flags |= 0x10 if alpha else 0
    body = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little")
    body += (height - 1).to_bytes(3, "little")
    image = [(k, v) for k, v in chunks if k not in (b"ICCP", b"EXIF")]
    ordered = [(b"VP8X", body)]
    ordered += [(b"ICCP", icc)] if icc is not None else []
    ordered += image + ([(b"EXIF", exif)] if exif is not None else [])
    payload = b"".join(
        k + struct.pack("<I", len(v)) + v + b"\x00" * (len(v) & 1) for k, v in ordered
    )
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def encode_tiff(
    color: np.ndarray, alpha: np.ndarray | None, icc: bytes | None, exif: bytes | None
) -> bytes:
    """An 8-bit TIFF (uncompressed) written by Pillow with the profile and EXIF; ``color`` uint8
    ``(H, W, 1|3)`` RGB, ``alpha`` uint8 ``(H, W)`` or None (gray with alpha is RGBA)."""
    from PIL import Image

    if alpha is not None:
        if color.shape[2] == 1:
            color = np.repeat(color, 3, axis=2)
        array = np.concatenate([color, alpha[:, :, None]], axis=2)
    else:
        array = color[:, :, 0] if color.shape[2] == 1 else color
    options: dict = {}  # uncompressed: Pillow's own writer (libtiff's refuses EXIF directories)
    if icc is not None:
        options["icc_profile"] = icc
    if exif is not None:
        options["exif"] = _EXIF_HEADER + exif
    buf = io.BytesIO()
    try:
        Image.fromarray(np.ascontiguousarray(array)).save(buf, "TIFF", **options)
    except (RuntimeError, TypeError, KeyError, struct.error) as exc:  # Pillow's encoder
        raise ValueError(f"TIFF encoder failed ({exc})") from None
    return buf.getvalue()


def embed_tiff(data: bytes, icc: bytes | None, exif: bytes | None) -> tuple[bytes, list[str]]:
    """A classic TIFF from our encoder with the ICC profile (tag 34675) and EXIF added.

    The additions are appended, then a copy of the first directory with the new entries,
    and the header points at the copy; the old entries are copied as they are (their
    offsets point into the unchanged file). EXIF goes in as its descriptive text tags (camera,
    date, author, copyright) and its Exif and GPS directories, written by Pillow at their
    final offsets (maker notes and the interoperability pointer are left out). Returns the
    bytes and notes (EXIF that Pillow cannot write is left out). Raises ValueError for any
    other layout."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack_from(order + "H", data, 2)[0] != 42:
        raise ValueError("not a classic TIFF")
    first = struct.unpack_from(order + "I", data, 4)[0]
    count = struct.unpack_from(order + "H", data, first)[0]
    entries = [data[first + 2 + 12 * i : first + 14 + 12 * i] for i in range(count)]
    following = struct.unpack_from(order + "I", data, first + 2 + 12 * count)[0]
    tags = {struct.unpack_from(order + "H", e)[0]: e for e in entries}
    out = bytearray(data)

    def put(blob: bytes) -> int:
        out.extend(b"\x00" * (len(out) & 1))  # word alignment
        at = len(out)
        out.extend(blob)
        return at

    if icc is not None:
        tags[34675] = struct.pack(order + "HHII", 34675, 7, len(icc), put(icc))  # UNDEFINED
    notes: list[str] = []
    if exif is not None:
        size, before = len(out), dict(tags)
        try:
            _tiff_exif(out, tags, order, data[:8], exif, put)
        except Exception as exc:  # Pillow could not write some value: no EXIF, a note
            del out[size:]
            tags = before
            notes.append(f"EXIF not written to the TIFF ({' '.join(str(exc).split())[:80]})")
    out.extend(b"\x00" * (len(out) & 1))
    ifd_at = len(out)
    out += struct.pack(order + "H", len(tags))
    for tag in sorted(tags):
        out += tags[tag]
    out += struct.pack(order + "I", following)
    struct.pack_into(order + "I", out, 4, ifd_at)
    return bytes(out), notes


def _tiff_exif(out: bytearray, tags: dict, order: str, header: bytes, exif: bytes, put) -> None:
    """Append EXIF's text tags and Exif/GPS directories to ``out``, entries into ``tags``."""
    from PIL import Image, TiffImagePlugin

    parsed = Image.Exif()
    parsed.load(exif)
    tags.setdefault(0x0112, struct.pack(order + "HHIHH", 0x0112, 3, 1, 1, 0))  # upright
    for tag in _TIFF_TEXT_TAGS:
        value = parsed.get(tag)
        if isinstance(value, str) and tag not in tags:
            text = value.encode("latin-1", "replace")[:65535] + b"\x00"
            where = text.ljust(4, b"\x00") if len(text) <= 4 else None
            where = where or struct.pack(order + "I", put(text))
            tags[tag] = struct.pack(order + "HHI", tag, 2, len(text)) + where
    for tag in (_EXIF_IFD, _GPS_IFD):
        skip = (0xA005, 0x927C)  # interoperability pointer, maker notes
        sub = {t: v for t, v in parsed.get_ifd(tag).items() if t not in skip}
        sub = {t: v for t, v in sub.items() if not isinstance(v, dict)}
        if sub:
            ifd = TiffImagePlugin.ImageFileDirectory_v2(header)
            for t, v in sub.items():
                ifd[t] = v
            out.extend(b"\x00" * (len(out) & 1))
            at = len(out)
            out.extend(ifd.tobytes(at))
            tags[tag] = struct.pack(order + "HHII", tag, 4, 1, at)


# descriptive text tags of a TIFF's first directory: ImageDescription, Make, Model, Software,
# DateTime, Artist, Copyright
_TIFF_TEXT_TAGS = (270, 271, 272, 305, 306, 315, 33432)
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
