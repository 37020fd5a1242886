"""A restore's input and result: reading a file or standard input (keeping a way back to its
bytes), and writing the result in the file's own colours, with its ICC profile and EXIF, or
the input file copied unchanged when the result is the input.

:func:`read_input` and :func:`write_result` are the first and last steps of ``deblur
restore`` for one image (a file or standard input/output); :func:`output_ext` normalises
``--ext``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from deblur.atomic import atomic_write
from deblur.errors import OutputExistsError, UsageError
from deblur.io._util import _error, _one_line, _show
from deblur.io.colour import ColourPlan
from deblur.io.read import (
    IMAGE_EXTENSIONS,
    LoadedImage,
    _max_file_bytes,
    _read_bounded,
    decode_image,
    read_image,
    read_stream_bytes,
)
from deblur.io.write import _protected, encode_image, holds_profile, write_image

__all__ = ["FORMAT_EXTENSIONS", "output_ext", "read_input", "write_result"]

FORMAT_EXTENSIONS: dict[str, str] = {
    "png": ".png",
    "jpeg": ".jpg",
    "tiff": ".tif",
    "bmp": ".bmp",
    "webp": ".webp",
}
"""The usual extension of each format :func:`deblur.io.read_image` reports."""

_FORMAT_OF = {".jpeg": "jpeg", ".tiff": "tiff"} | {e: f for f, e in FORMAT_EXTENSIONS.items()}


def output_ext(ext: str) -> str:
    """``--ext`` as an extension: ``"PNG"``, ``"png"`` or ``".png"`` give ``".png"``.

    Raises
    ------
    UsageError
        Not one of :data:`~deblur.io.IMAGE_EXTENSIONS`.
    """
    text = ext.strip().lower()
    text = text if text.startswith(".") else "." + text
    if text not in IMAGE_EXTENSIONS:
        choices = ", ".join(sorted(e[1:] for e in IMAGE_EXTENSIONS))
        raise UsageError(f"--ext {ext[:20]!r}: not an image format; choose one of {choices}")
    return text


def read_input(
    src: Path, max_pixels: int, stdin: BinaryIO | None = None
) -> tuple[LoadedImage, Callable[[], bytes]]:
    """Read one input: a file, or standard input when ``src`` is ``-``.

    Returns
    -------
    image : LoadedImage
        As :func:`~deblur.io.read_image` reads it (metadata included).
    original : callable
        Returns the file's bytes (read again from a file; kept for standard input), for
        copying it unchanged.

    Raises
    ------
    ImageError
        As :func:`~deblur.io.read_image` and :func:`~deblur.io.read_stream_bytes`.
    """
    if src == Path("-"):
        data = read_stream_bytes(stdin, max_pixels=max_pixels)
        return decode_image(data, src, max_pixels=max_pixels), lambda: data
    image = read_image(src, max_pixels=max_pixels)
    return image, lambda: _read_bounded(src, _max_file_bytes(max_pixels), max_pixels)


def write_result(
    dst: Path | None,
    image: LoadedImage,
    colour: ColourPlan,
    result: np.ndarray,
    *,
    kept_input: bool,
    ext: str,
    quality: int | None = None,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    original: Callable[[], bytes] | None = None,
    stream: BinaryIO | None = None,
) -> tuple[Path | None, tuple[str, ...]]:
    """Write one restored image.

    When the result is the input itself (``kept_input``: the check kept it, or strength 0),
    the output has the input's format and no ``quality`` is asked for, the input file's
    bytes are copied unchanged (``original()``). Otherwise the result is taken back to the
    file's colours (:meth:`ColourPlan.finish`) and written with its ICC profile and EXIF
    (orientation 1) where the format holds them, atomically.

    Parameters
    ----------
    dst : Path or None
        The output file; None writes to ``stream`` (standard output).
    image : LoadedImage
        The input as read (alpha, bit depth, format, EXIF and notes come from it).
    colour : ColourPlan
        :func:`~deblur.io.colour.plan_colour` of the input: ``result`` restores its
        ``working`` pixels.
    result : np.ndarray
        float32 ``(H, W, C)`` in [0, 1].
    kept_input : bool
        ``result`` is ``colour.working`` itself.
    ext : str
        The output's extension (``.png``, ...), which decides its format.
    quality, overwrite, protect
        As for :func:`~deblur.io.write_image`.
    original : callable, optional
        Returns the input file's bytes (for the copy); None never copies.
    stream : binary file, optional
        Where ``dst=None`` writes.

    Returns
    -------
    written : Path or None
        ``dst`` (None for the stream).
    notes : tuple of str
        What was dropped or converted, and ``"copied unchanged"`` for a copy.

    Raises
    ------
    ImageError, OutputExistsError
        As :func:`~deblur.io.write_image` (a copy too).
    """
    same_format = _FORMAT_OF.get(ext.lower()) == image.format
    if kept_input and same_format and quality is None and original is not None:
        data = original()
        if dst is None:
            _to_stream(stream, data)
            return None, ("input copied unchanged",)
        _copy(dst, data, overwrite, protect)
        return dst, ("input copied unchanged",)
    done = colour.finish(result, holds_profile(ext, image.bit_depth))
    notes: list[str] = list(image.notes) + list(done.notes)
    meta = dict(icc_profile=done.icc_profile, exif=image.exif, quality=quality, notes=notes)
    meta.update(alpha=image.alpha, bit_depth=image.bit_depth)
    if dst is None:
        _to_stream(stream, encode_image(ext, done.working, **meta))
        return None, tuple(notes)
    written = write_image(dst, done.working, overwrite=overwrite, protect=protect, **meta)
    return written, tuple(notes)


def _to_stream(stream: BinaryIO | None, data: bytes) -> None:
    if stream is None:
        raise ValueError("no stream to write to")
    try:
        stream.write(data)
        stream.flush()
    except (OSError, ValueError) as exc:
        raise _error("-", f"cannot write to standard output ({_one_line(exc)})") from None


def _copy(dst: Path, data: bytes, overwrite: bool, protect) -> None:
    if _protected(dst, protect):
        raise _error(dst, "refusing to overwrite an input file")
    if dst.is_dir():
        raise _error(dst, "is a folder, not an image file")
    try:
        atomic_write(dst, data, overwrite=overwrite, keep_suffix=True)
    except OutputExistsError:
        raise OutputExistsError(
            f"{_show(dst)}: already exists (use --overwrite to replace it)"
        ) from None
    except OSError as exc:
        raise _error(dst, f"cannot write file ({_one_line(exc)})") from None
