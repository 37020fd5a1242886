"""Image input/output: the one place where files become arrays and arrays become files.

Inside the library, images are float32 torch tensors of shape ``(B, C, H, W)`` with values
in [0, 1]. At the edges (files, user code) they are float32 numpy arrays of shape ``(H, W)``
(gray) or ``(H, W, C)`` with values in [0, 1], channels in RGB(A) order.

Reading validates the file cheaply *before* decoding it (extension, magic bytes, header
dimensions against a pixel limit, truncation), so that bad input always ends in a one-line
:class:`ImageError` that names the file, and never in a partial image, a crash or native-library
noise on stderr. EXIF orientation is applied on read. Writing is atomic: the encoded bytes go to
a temporary file in the destination folder, which is fsynced and then moved into place.

The ICC profile and EXIF are read with Pillow (:mod:`~deblur.io.metadata`, bounded and
never trusted) and written back by :func:`write_image` where the format holds them
(:mod:`~deblur.io.embed`); :mod:`~deblur.io.colour` restores non-sRGB photos in sRGB and
gives the result back in the file's own colours, and :mod:`~deblur.io.results` writes a
restore's result (or copies the input unchanged when the result is the input).

The code lives in :mod:`~deblur.io.headers` (format sniffing and header parsing),
:mod:`~deblur.io.read` and :mod:`~deblur.io.write`; :func:`as_bchw` lives in
:mod:`deblur.layout` (re-exported here).
"""

from deblur.errors import ImageError, OutputExistsError
from deblur.io.read import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    LoadedImage,
    decode_image,
    load_image,
    read_image,
    read_stream_bytes,
)
from deblur.io.write import encode_image, holds_profile, save_image, write_image
from deblur.layout import as_bchw

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "ImageError",
    "OutputExistsError",
    "LoadedImage",
    "read_image",
    "decode_image",
    "read_stream_bytes",
    "write_image",
    "encode_image",
    "holds_profile",
    "load_image",
    "save_image",
    "as_bchw",
]
