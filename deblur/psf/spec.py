"""Reading PSFs: files (``.npy``, images, text matrices) and short text specs.

``parse_psf("motion:21,45")`` builds a kernel, ``parse_psf("k.npy")`` reads one. Errors
are :class:`deblur.errors.PSFError` (a ``ValueError``) with a one-line message naming the
file or spec; a ``.npy`` file is read without pickles, so a hostile file cannot run code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deblur.errors import PSFError
from deblur.psf.kernels import camera_shake, disk, gaussian, motion, validate_psf

__all__ = ["load_psf", "parse_psf"]


_PSF_FILE_SUFFIXES = (".npy", ".png", ".tif", ".tiff", ".txt")
_PSF_SPEC_FORMS = (
    "gaussian:SIGMA, disk:RADIUS, motion:LENGTH,ANGLE (pixels, degrees), shake:SIZE,SEED "
    "or the path of an existing " + "/".join(_PSF_FILE_SUFFIXES) + " file"
)


def _read_text_matrix(path: Path) -> np.ndarray:
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ").replace(";", " ").strip()
        if not line:
            continue
        try:
            rows.append([float(v) for v in line.split()])
        except ValueError:
            raise PSFError(f"{path}: line {lineno} is not a row of numbers") from None
    if not rows:
        raise PSFError(f"{path}: the file holds no numbers")
    if len({len(r) for r in rows}) != 1:
        raise PSFError(f"{path}: rows have different lengths; expected an (h, w) matrix")
    return np.asarray(rows, dtype=np.float64)


def _read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
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


def load_psf(path: str | Path) -> np.ndarray:
    """Load a PSF from a file.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (a 2-D array), ``.png`` / ``.tif`` / ``.tiff`` (a grayscale 8- or 16-bit
        image, scaled to [0, 1], or a float TIFF; colour images whose channels are equal are
        accepted) or ``.txt`` (a matrix, one row per line, values separated by whitespace
        or commas; ``#`` starts a comment).

    Returns
    -------
    psf : float32 array of shape ``(h, w)``
        Non-negative, normalised to sum 1 (see :func:`validate_psf`).

    Raises
    ------
    PSFError
        (a ``ValueError``) If the file does not exist, the extension is not supported, the
        file cannot be read, or the PSF is not 2-D,
        holds negative/NaN/inf values or is all zero; the message names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise PSFError(f"PSF file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any read failure is reported the same way
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            if "pickle" in reason or "magic" in reason.lower():
                reason = "not a NumPy array file"  # numpy's wording suggests unpickling
            raise PSFError(f"{p}: cannot read the .npy file ({reason})") from None
    elif suffix in (".png", ".tif", ".tiff"):
        arr = _read_image(p)
    elif suffix == ".txt":
        arr = _read_text_matrix(p)
    else:
        raise PSFError(
            f"{p}: unsupported PSF file type {suffix!r}; expected one of "
            + ", ".join(_PSF_FILE_SUFFIXES)
        )
    return validate_psf(arr, str(p))


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
        accepted forms) or its parameters are out of range.
    """
    if not isinstance(spec, str):
        raise PSFError(f"PSF spec must be a string; accepted forms: {_PSF_SPEC_FORMS}")
    if Path(spec).is_file():
        return load_psf(spec)
    bad = PSFError(f"bad PSF spec {spec!r}; accepted forms: {_PSF_SPEC_FORMS}")
    kind, sep, rest = spec.partition(":")
    if not sep:
        raise bad
    kind = kind.strip().lower()
    try:
        args = [float(a) for a in rest.split(",")]
    except ValueError:
        raise bad from None
    arity = {"gaussian": (1,), "disk": (1,), "motion": (1, 2), "shake": (2,)}
    if kind not in arity or len(args) not in arity[kind]:
        raise bad
    try:
        if kind == "gaussian":
            return gaussian(args[0])
        if kind == "disk":
            return disk(args[0])
        if kind == "motion":
            return motion(args[0], args[1] if len(args) > 1 else 0.0)
        if not all(a == int(a) for a in args):
            raise PSFError("shake: SIZE and SEED must be integers")
        return camera_shake(int(args[0]), int(args[1]))
    except ValueError as e:
        raise PSFError(f"bad PSF spec {spec!r}: {e}") from None
