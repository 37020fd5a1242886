"""The pixel limit: the largest image read or restored, which bounds a restore's memory.

The limit in force is a call's ``max_pixels`` when given, else the environment variable
``DEBLUR_MAX_PIXELS`` (a user's override, read at each call), else :data:`MAX_PIXELS`.
"""

from __future__ import annotations

import os

import numpy as np

from deblur.errors import ARG, OptionError, OptionTypeError, UsageError
from deblur.io._util import _error

__all__ = ["BYTES_PER_PIXEL", "MAX_PIXELS", "MAX_PIXELS_ENV", "check_pixels", "max_pixels_limit"]

# The pixel limit bounds the memory of a whole restore, not only of the decode. Peak
# resident memory above the process's baseline, per pixel of the input, measured on this
# project's machine (read_image + deblur.restore + write_image; 1, 4 and 16.7 MP RGB inputs):
#   decode: 3 B/px (8-bit RGB) .. 8 B/px (16-bit RGBA), then float32 colour 12 B/px and
#     alpha 4 B/px (read_image peaks at ~17 B/px for 8-bit RGB, ~32 B/px for 16-bit RGBA);
#   rl:     118-155 B/px (16-bit RGBA: 132): the float32 image, estimate, ratio and
#           correction, the padded FFT grid in float32 and complex64, the clipped output;
#   wiener: 91-131 B/px (the padded grid and its spectrum);
#   net:    ~70 B/px above 2.5 MP, where it runs on tiles (input, output and blend weights,
#           plus ~0.7 GB for one tile's activations); below 2.5 MP it is untiled (~440 B/px,
#           at most ~1.1 GB); --tile 0 on a large image is not bounded by this limit;
#   write:  3-8 B/px for the integer copy and the encoded bytes.
# So a restore costs about BYTES_PER_PIXEL = 130 B/px at worst. On a small machine with
# 4 GB of RAM, about 1 GB goes to the system, Python, torch and the network, which leaves
# 3 GiB: 3 GiB / 130 B/px = 24.8 MP, rounded to 25,000,000 pixels (a 6000x4000 24 MP
# camera photo passes; 25 MP x 130 B = 3.0 GiB). The old 200 MP limit allowed ~26 GB.
BYTES_PER_PIXEL: int = 130
"""Estimated peak bytes per pixel of a whole restore (see the comment above)."""

MAX_PIXELS: int = 25_000_000
"""Default limit on ``width * height`` of an image file, checked from its header before
decoding: it keeps a whole restore within about 3 GiB (``BYTES_PER_PIXEL`` bytes a pixel).
Raise it per call with ``max_pixels=``, or for a process with ``DEBLUR_MAX_PIXELS``."""

MAX_PIXELS_ENV: str = "DEBLUR_MAX_PIXELS"
"""Environment variable that overrides :data:`MAX_PIXELS` (read at each call)."""


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` when given, else ``$DEBLUR_MAX_PIXELS`` when
    set (read now, at each call), else :data:`MAX_PIXELS`.

    Raises
    ------
    UsageError
        ``max_pixels`` or the environment variable is not a whole number >= 1.
    """
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not text:
            return MAX_PIXELS
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise UsageError(
                f"{MAX_PIXELS_ENV}={text[:40]!r}: expected a whole number of pixels >= 1,"
                f" such as {MAX_PIXELS}"
            )
        return value
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise OptionTypeError("max_pixels", f"must be a whole number of pixels, got {max_pixels!r}")
    if max_pixels < 1:
        raise OptionError("max_pixels", f"must be >= 1, got {max_pixels}")
    return int(max_pixels)


def _gigabytes(pixels: int) -> str:
    return f"{pixels * BYTES_PER_PIXEL / 1e9:.1f} GB"


def check_pixels(
    width: int, height: int, max_pixels: int | None = None, *, name: str = "image"
) -> None:
    """Refuse an image of ``width x height`` above the pixel limit (see
    :func:`max_pixels_limit`) with a one-line :class:`ImageError` that starts with ``name``
    and says how to raise the limit. :func:`read_image` calls it on the header's size;
    call it on an array's size before restoring it.

    Raises
    ------
    ImageError
        Too many pixels.
    UsageError
        A bad ``max_pixels`` or ``DEBLUR_MAX_PIXELS``.
    """
    limit = max_pixels_limit(max_pixels)
    pixels = int(width) * int(height)
    if pixels > limit:
        raise _error(
            name,
            f"image too large ({width}x{height} = {pixels:,} pixels, about"
            f" {_gigabytes(pixels)} to restore; the limit is {limit:,} pixels, about"
            f" {_gigabytes(limit)}): raise it with {ARG.max_pixels}=N or {MAX_PIXELS_ENV}=N",
        )
