"""Reading PSFs: files (``.npy``, images, text matrices) and short text specs.

``parse_psf("motion:21,45")`` builds a kernel, ``parse_psf("k.npy")`` reads one. Errors
are :class:`deblur.errors.PSFError` (a ``ValueError``) with a one-line message naming the
file or spec, whatever the input: no other exception escapes. A ``.npy`` file is read
without pickles, so a hostile file cannot run code. Memory is bounded before anything is
allocated: a PSF file is at most :data:`MAX_PSF_FILE_BYTES` long, and its kernel (the
``.npy`` header's shape, an image header's size, a text matrix's rows and columns) at most
:data:`~deblur.psf.kernels.MAX_PSF_SIDE` pixels a side, like the kernels the specs build.
"""

from __future__ import annotations

import io
import math
import os
import stat
from pathlib import Path

import numpy as np

from deblur.errors import PSFError
from deblur.psf.kernels import MAX_PSF_SIDE, camera_shake, disk, gaussian, motion, validate_psf

__all__ = ["MAX_PSF_FILE_BYTES", "load_psf", "parse_psf"]


_PSF_FILE_SUFFIXES = (".npy", ".png", ".tif", ".tiff", ".txt")
_PSF_SPEC_FORMS = (
    "gaussian:SIGMA, disk:RADIUS, motion:LENGTH,ANGLE (pixels, degrees), shake:SIZE,SEED "
    "or the path of an existing " + "/".join(_PSF_FILE_SUFFIXES) + " file"
)

#: Largest PSF file read: a 1001 x 1001 float64 ``.npy`` is 8 MB and the same kernel as a
#: text matrix with 30 characters a value 30 MB; anything longer is refused unread.
MAX_PSF_FILE_BYTES = 64 * 2**20


def _shown(text: str, limit: int = 80) -> str:
    """A spec or path for a one-line message: control characters escaped, long text cut."""
    shown = ascii(text) if not text.isprintable() else repr(text)
    return shown if len(shown) <= limit else shown[: limit - 5] + "...'"


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if not head:
        return False
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n\f\v" for c in decoded)


def _read_text_matrix(path: Path, data: bytes) -> np.ndarray:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PSFError(f"{path}: not a text matrix (the file is not UTF-8 text)") from None
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ").replace(";", " ").strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) > MAX_PSF_SIDE or len(rows) >= MAX_PSF_SIDE:
            raise PSFError(
                f"{path}: the matrix is larger than {MAX_PSF_SIDE}x{MAX_PSF_SIDE}, the largest PSF"
            )
        try:
            rows.append([float(v) for v in fields])
        except ValueError:
            raise PSFError(f"{path}: line {lineno} is not a row of numbers") from None
    if not rows:
        raise PSFError(f"{path}: the file holds no numbers")
    if len({len(r) for r in rows}) != 1:
        raise PSFError(f"{path}: rows have different lengths; expected an (h, w) matrix")
    return np.asarray(rows, dtype=np.float64)


def _check_side(path: Path, shape: tuple[int, ...]) -> None:
    if any(int(n) > MAX_PSF_SIDE for n in shape):
        dims = "x".join(str(n) for n in shape)
        raise PSFError(f"{path}: a {dims} PSF is larger than the largest, {MAX_PSF_SIDE} px a side")


def _read_npy(path: Path, data: bytes) -> np.ndarray:
    """A ``.npy`` array, its header checked (2-D, numeric, at most MAX_PSF_SIDE a side,
    the data present) before the array is allocated; never unpickles."""
    if not data.startswith(b"\x93NUMPY"):
        if _looks_like_text(data):
            raise PSFError(
                f"{path}: not a NumPy .npy file, it holds text (name a text matrix .txt, or"
                " write the array with numpy.save)"
            )
        raise PSFError(
            f"{path}: not a NumPy .npy file (no .npy header; write the array with numpy.save)"
        )
    fmt = np.lib.format
    fh = io.BytesIO(data)
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = fmt.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, _fortran, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version[0]}.{version[1]}")
    except Exception as e:  # noqa: BLE001 - any header failure is reported the same way
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise PSFError(f"{path}: cannot read the .npy file (bad header: {reason})") from None
    if dtype.hasobject:
        raise PSFError(f"{path}: the .npy file holds Python objects, not numbers")
    if len(shape) != 2:
        raise PSFError(f"{path}: expected a 2-D PSF of shape (h, w), got shape {tuple(shape)}")
    _check_side(path, shape)
    needed = math.prod(shape) * dtype.itemsize
    if len(data) - fh.tell() < needed:
        raise PSFError(f"{path}: the .npy file is truncated (data ends early)")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise PSFError(f"{path}: cannot read the .npy file ({reason})") from None


def _read_image(path: Path, data: bytes) -> np.ndarray:
    import cv2

    from deblur.io._util import _quiet
    from deblur.io.headers import _HEADER_PARSERS, _BadHeader, _sniff

    kind = _sniff(data)
    if kind is None:
        raise PSFError(f"{path}: cannot decode the image (not a PNG or TIFF file)")
    try:
        header = _HEADER_PARSERS[kind](data)
    except (_BadHeader, ArithmeticError, IndexError, KeyError, ValueError):
        raise PSFError(f"{path}: cannot decode the image (corrupt {kind.upper()} header)") from None
    _check_side(path, (header.height, header.width))
    if header.width <= 0 or header.height <= 0 or not header.complete:
        raise PSFError(f"{path}: cannot decode the image (empty or truncated)")
    try:
        with _quiet():
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except (cv2.error, MemoryError):
        img = None
    if img is None or img.size == 0:
        raise PSFError(f"{path}: cannot decode the image")
    if img.ndim == 3:
        color = img[..., :3] if img.shape[2] >= 3 else img
        if not all(np.array_equal(color[..., 0], color[..., i]) for i in range(color.shape[2])):
            raise PSFError(
                f"{path}: expected a grayscale PSF image, got {img.shape[2]} different channels"
            )
        img = color[..., 0]
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 65535.0
    return img.astype(np.float64)


def _read_file(p: Path) -> bytes:
    """The bytes of a regular PSF file of at most MAX_PSF_FILE_BYTES (a FIFO or device is
    refused without blocking)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags)
    except (OSError, ValueError) as e:
        raise PSFError(f"{p}: cannot read the PSF file ({_reason(e)})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PSFError(f"{p}: not a regular file")
        if info.st_size > MAX_PSF_FILE_BYTES:
            raise PSFError(
                f"{p}: too large for a PSF file ({info.st_size:,} bytes; at most"
                f" {MAX_PSF_FILE_BYTES:,})"
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_PSF_FILE_BYTES + 1)
    except OSError as e:
        raise PSFError(f"{p}: cannot read the PSF file ({_reason(e)})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_PSF_FILE_BYTES:
        raise PSFError(f"{p}: too large for a PSF file (more than {MAX_PSF_FILE_BYTES:,} bytes)")
    return data


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return " ".join(str(e).split())[:120] or type(e).__name__


def _is_file(path: str | Path) -> bool:
    """``Path.is_file`` that says False (not OSError) for a name too long, a NUL, ..."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def load_psf(path: str | Path) -> np.ndarray:
    """Load a PSF from a file.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (a 2-D array), ``.png`` / ``.tif`` / ``.tiff`` (a grayscale 8- or 16-bit
        image, scaled to [0, 1], or a float TIFF; colour images whose channels are equal are
        accepted) or ``.txt`` (a matrix, one row per line, values separated by whitespace
        or commas; ``#`` starts a comment). At most :data:`MAX_PSF_FILE_BYTES` long and
        :data:`~deblur.psf.kernels.MAX_PSF_SIDE` pixels a side.

    Returns
    -------
    psf : float32 array of shape ``(h, w)``
        Non-negative, normalised to sum 1 (see :func:`validate_psf`).

    Raises
    ------
    PSFError
        (a ``ValueError``) If the file does not exist, is not a regular file, the extension
        is not supported, the file cannot be read or is too large, or the PSF is not 2-D,
        larger than the largest, holds negative/NaN/inf values or is all zero; the message
        names the file.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except (OSError, ValueError):
        raise PSFError(f"PSF file not found: {_shown(str(p), 200)}") from None
    if stat.S_ISDIR(mode):
        raise PSFError(f"{p}: is a folder, not a PSF file")
    suffix = p.suffix.lower()
    if suffix not in _PSF_FILE_SUFFIXES:
        raise PSFError(
            f"{p}: unsupported PSF file type {suffix!r}; expected one of "
            + ", ".join(_PSF_FILE_SUFFIXES)
        )
    data = _read_file(p)
    if not data:
        raise PSFError(f"{p}: empty file (0 bytes)")
    if suffix == ".npy":
        arr = _read_npy(p, data)
    elif suffix == ".txt":
        arr = _read_text_matrix(p, data)
    else:
        arr = _read_image(p, data)
    return validate_psf(arr, str(p))


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def parse_psf(spec: str) -> np.ndarray:
    """Build a PSF from a short text specification (e.g. a command-line argument).

    Parameters
    ----------
    spec : str
        One of ``gaussian:SIGMA`` (e.g. ``gaussian:2.0``), ``disk:RADIUS`` (``disk:4``),
        ``motion:LENGTH,ANGLE`` (length in pixels, angle in degrees, e.g. ``motion:21,45``),
        ``shake:SIZE,SEED`` (:func:`camera_shake`, e.g. ``shake:15,3``), or the path of an
        existing PSF file (see :func:`load_psf`).

    Returns
    -------
    psf : float32 array of shape ``(h, w)``, non-negative, sums to 1.

    Raises
    ------
    PSFError
        (a ``ValueError``) If the specification is malformed (the message lists the
        accepted forms) or its parameters are out of range (kernels are at most
        :data:`~deblur.psf.kernels.MAX_PSF_SIDE` pixels a side). Nothing else, whatever
        the string.
    """
    if not isinstance(spec, str):
        raise PSFError(f"PSF spec must be a string; accepted forms: {_PSF_SPEC_FORMS}")
    if _is_file(spec):
        return load_psf(spec)
    shown = _shown(spec)
    bad = PSFError(f"bad PSF spec {shown}; accepted forms: {_PSF_SPEC_FORMS}")
    kind, sep, rest = spec.partition(":")
    if not sep:
        if Path(spec).suffix.lower() in _PSF_FILE_SUFFIXES and "\x00" not in spec:
            raise PSFError(f"PSF file not found: {shown}")
        raise bad
    kind = kind.strip().lower()
    arity = {"gaussian": (1,), "disk": (1,), "motion": (1, 2), "shake": (2,)}
    fields = rest.split(",")
    if kind not in arity or len(fields) not in arity[kind]:
        raise bad
    try:
        args = [_number(a) for a in fields]
    except ValueError:
        if all(_finite_or_not(a) for a in fields):
            raise PSFError(f"bad PSF spec {shown}: parameters must be finite numbers") from None
        raise bad from None
    try:
        if kind == "gaussian":
            return gaussian(args[0])
        if kind == "disk":
            return disk(args[0])
        if kind == "motion":
            return motion(args[0], args[1] if len(args) > 1 else 0.0)
        if not all(a == int(a) for a in args):
            raise PSFError("shake: SIZE and SEED must be integers")
        if args[1] < 0:
            raise PSFError("shake: SEED must be >= 0")
        return camera_shake(int(args[0]), int(args[1]))
    except (ValueError, ArithmeticError) as e:
        raise PSFError(f"bad PSF spec {shown}: {' '.join(str(e).split())}") from None


def _finite_or_not(text: str) -> bool:
    """Whether ``text`` parses as a float at all (inf and nan included)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
