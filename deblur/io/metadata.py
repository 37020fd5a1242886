"""Metadata carried from an input photo to its result: the ICC profile and EXIF.

Both are read with Pillow (``Image.open`` reads the container's headers, it decodes no
pixels; the ICC profile is parsed by littleCMS through :mod:`PIL.ImageCms`, EXIF by
Pillow's TIFF directory reader), only after :func:`deblur.io.read_image` has checked the file.
A file is never trusted: each blob is bounded (:data:`MAX_ICC_BYTES`,
:data:`MAX_EXIF_BYTES`), and one that is too large or does not parse is dropped with a note
rather than failing the image. Nothing in a profile or EXIF block runs code.

EXIF of a JPEG, PNG or WebP file is kept byte for byte (maker notes included: their offsets
are relative to the block, which moves as a whole), except that the orientation tag is set
to 1 (the pixels were rotated upright on reading) and the Exif pixel dimensions are set to
the output's size. A TIFF file keeps its EXIF in the image's own directory: its descriptive
tags (camera, date, author, copyright), the Exif and GPS directories are copied into a new
EXIF block with Pillow, without the tags that describe the file's pixel storage and without
maker notes (their offsets point into the old file).
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

MAX_ICC_BYTES: int = 4 * 2**20
"""Largest ICC profile carried (camera and display profiles are under 1 MiB)."""

MAX_EXIF_BYTES: int = 1 * 2**20
"""Largest EXIF block carried (a JPEG holds at most 64 KiB of it)."""

_EXIF_HEADER = b"Exif\x00\x00"
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD, _MAKER_NOTE = 0x8769, 0x8825, 0xA005, 0x927C
#: TIFF tags that describe how a file stores its pixels, not EXIF to carry over, by kind.
_STORAGE_TAG_GROUPS = {
    "subfile and size": (254, 255, 256, 257),
    "samples": (258, 262, 263, 266, 277, 280, 281, 284, 338, 339, 340, 341),
    "colour": (301, 318, 319, 320, 529, 530, 531, 532),
    "compression": (259, 292, 293, 317, 347, 513, 514),
    "strips and tiles": (273, 278, 279, 322, 323, 324, 325, 330),
    "document and pages": (269, 285, 297),
    "blocks of their own (XMP, IPTC, Photoshop, ICC)": (700, 33723, 34377, 34675),
}
_STORAGE_TAGS = frozenset(tag for group in _STORAGE_TAG_GROUPS.values() for tag in group)


@dataclass(frozen=True)
class ImageMetadata:
    """Metadata read from an image file.

    Attributes
    ----------
    icc_profile : bytes or None
        The embedded ICC profile (parsed once by littleCMS), at most :data:`MAX_ICC_BYTES`.
    exif : bytes or None
        The EXIF block as a TIFF structure (no ``Exif\\0\\0`` prefix), at most
        :data:`MAX_EXIF_BYTES`; still holding the file's orientation tag.
    notes : tuple of str
        One line for each thing dropped, such as ``"ICC profile unreadable; dropped"``.
    """

    icc_profile: bytes | None = None
    exif: bytes | None = None
    notes: tuple[str, ...] = ()


def read_metadata(data: bytes, kind: str) -> ImageMetadata:
    """The ICC profile and EXIF of an image file's bytes.

    Parameters
    ----------
    data : bytes
        The whole file (already checked by the reader: format, size, pixel limit).
    kind : str
        Its format from the magic bytes: ``png``, ``jpeg``, ``tiff``, ``bmp`` or ``webp``.

    Returns
    -------
    ImageMetadata
        Never raises on bad metadata: what cannot be read is left out, with a note.
    """
    if kind not in ("png", "jpeg", "tiff", "webp"):
        return ImageMetadata()
    fmt = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "webp": "WEBP"}[kind]
    notes: list[str] = []
    icc = exif = None
    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's bomb and corrupt-EXIF warnings
            with Image.open(io.BytesIO(data), formats=[fmt]) as im:
                icc = im.info.get("icc_profile") or None
                exif = _tiff_exif(im) if kind == "tiff" else im.info.get("exif") or None
    except Exception as e:  # a reader of hostile input: any failure just drops the metadata
        return ImageMetadata(notes=(f"metadata unreadable ({_short(e)}); not carried over",))
    if icc is not None:
        icc, note = _checked_icc(bytes(icc))
        notes += [note] if note else []
    if exif is not None:
        exif, note = _checked_exif(bytes(exif))
        notes += [note] if note else []
    return ImageMetadata(icc_profile=icc, exif=exif, notes=tuple(notes))


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:120]


def _checked_icc(icc: bytes) -> tuple[bytes | None, str | None]:
    if len(icc) > MAX_ICC_BYTES:
        return None, f"ICC profile too large ({len(icc):,} bytes); dropped"
    try:
        from PIL import ImageCms

        ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except Exception as e:  # littleCMS refused it
        return None, f"ICC profile unreadable ({_short(e)}); dropped"
    return icc, None


def _checked_exif(exif: bytes) -> tuple[bytes | None, str | None]:
    if exif.startswith(_EXIF_HEADER):
        exif = exif[len(_EXIF_HEADER) :]
    if len(exif) > MAX_EXIF_BYTES:
        return None, f"EXIF too large ({len(exif):,} bytes); dropped"
    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = Image.Exif()
            parsed.load(exif)
            dict(parsed)
            _patched(exif, 1, 1)  # its directory can be patched
    except Exception as e:
        return None, f"EXIF unreadable ({_short(e)}); dropped"
    return exif, None


def _tiff_exif(im) -> bytes | None:
    """A new EXIF block from a TIFF image's own tags (descriptive ones only)."""
    from PIL import Image

    tags = im.getexif()
    out = Image.Exif()
    for tag, value in tags.items():
        if tag in _STORAGE_TAGS:
            continue
        if tag in (_EXIF_IFD, _GPS_IFD):
            sub = {
                t: v
                for t, v in tags.get_ifd(tag).items()
                if t not in (_INTEROP_IFD, _MAKER_NOTE) and not isinstance(v, dict)
            }
            if sub:
                out[tag] = sub
        else:
            out[tag] = value
    if not len(out):
        return None
    return out.tobytes()


def _patched(exif: bytes, width: int, height: int) -> bytes:
    """``exif`` with the orientation set to 1 and the Exif pixel dimensions (when present)
    set to ``width`` x ``height``, patched in place. Raises struct.error or ValueError on a
    malformed directory."""
    buf = bytearray(exif)
    order = {b"II": "<", b"MM": ">"}.get(bytes(buf[:2]))
    if order is None or struct.unpack_from(order + "H", buf, 2)[0] != 42:
        raise ValueError("not a TIFF structure")

    def entries(at: int):
        count = struct.unpack_from(order + "H", buf, at)[0]
        if count > 4096:
            raise ValueError("implausible directory")
        for i in range(count):
            entry = at + 2 + 12 * i
            tag, typ, n = struct.unpack_from(order + "HHI", buf, entry)
            yield tag, typ, n, entry + 8

    exif_ifd = None
    for tag, typ, n, value_at in entries(struct.unpack_from(order + "I", buf, 4)[0]):
        if tag == 0x0112 and typ == 3 and n == 1:
            struct.pack_into(order + "H", buf, value_at, 1)
        elif tag == _EXIF_IFD and typ in (4, 13) and n == 1:
            exif_ifd = struct.unpack_from(order + "I", buf, value_at)[0]
    if exif_ifd:
        for tag, typ, n, value_at in entries(exif_ifd):
            size = width if tag == 0xA002 else height if tag == 0xA003 else None
            if size is None or n != 1:
                continue
            if typ == 4:
                struct.pack_into(order + "I", buf, value_at, size)
            elif typ == 3 and size <= 0xFFFF:
                struct.pack_into(order + "H", buf, value_at, size)
    return bytes(buf)


def exif_for_output(exif: bytes | None, width: int, height: int) -> bytes | None:
    """The EXIF block (with or without ``Exif\\0\\0``) to write with an upright ``width`` x
    ``height`` result: orientation 1, Exif pixel dimensions updated (see the module
    docstring), as a TIFF structure; None when there is none or it is malformed."""
    if exif is None:
        return None
    if exif.startswith(_EXIF_HEADER):
        exif = exif[len(_EXIF_HEADER) :]
    try:
        return _patched(exif, width, height)
    except (struct.error, ValueError):
        return None
