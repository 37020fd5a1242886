"""One restore request: the method, its PSF argument and the options of :func:`deblur.restore`,
built and checked once where a request comes in (:func:`deblur.restore`,
:func:`deblur.batch.restore_files`, :func:`deblur.evaluate.run_benchmark`, the command line).

The options are the fields of :class:`~deblur.constants.RestoreOptions` (declared there
once, with their defaults); each has one rule, in :func:`check_options`. The PSF argument is
parsed once, by :func:`parse_psf_arg`, into a :class:`PsfArg`: none, one kernel, ``auto``
(estimated from each image), or one kernel per file supplied later (a folder of them, or a
dataset's ``psf/`` files). Every refusal is an :class:`~deblur.errors.OptionError` (a
``DeblurError`` and a ``ValueError``; :class:`~deblur.errors.OptionTypeError` for a value of
the wrong type, also a ``TypeError``) that names the parameter, so that the command line can
show its flag instead; a PSF argument that cannot be used is a
:class:`~deblur.errors.PSFOptionError` (also a ``PSFError``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deblur.constants import (
    BOUNDARIES,
    DEVICES,
    MAX_ITERATIONS,
    METHODS,
    WIENER_REGS,
    RestoreOptions,
)
from deblur.errors import DeviceError, OptionError, OptionTypeError, PSFOptionError, one_line

__all__ = [
    "AUTO_SIZES",
    "OPTION_NAMES",
    "PSF_METHODS",
    "PsfArg",
    "RestoreRequest",
    "check_options",
    "load_network",
    "make_request",
    "number",
    "parse_psf_arg",
    "whole_number",
]

OPTION_NAMES = tuple(f.name for f in dataclasses.fields(RestoreOptions))
"""The options of a restore besides the method and the PSF (``weights``, ``iterations``, ...)."""

PSF_METHODS = ("hqs", "rl", "wiener")
"""The methods that need a kernel (given, or ``auto``: estimated from each image)."""

AUTO_SIZES = (3, 101)
"""Smallest and largest kernel side of ``psf="auto:SIZE"`` (odd)."""


@dataclass(frozen=True, eq=False)
class PsfArg:
    """A parsed PSF argument.

    Attributes
    ----------
    kind : ``"none"``; ``"kernel"`` (one ``kernel`` for every image); ``"auto"`` (estimated
        from each image, kernels up to ``size`` px, None: the estimator's default); or
        ``"each"`` (one kernel per file, supplied later: the files of ``folder``, or a
        dataset's ``psf/`` files when ``folder`` is None).
    kernel : float32 ``(h, w)`` array summing to 1, for ``"kernel"``.
    size : for ``"auto"``.
    folder : for ``"each"``.
    source : the argument as given, for messages (``"array"`` for an array).
    """

    kind: str = "none"
    kernel: np.ndarray | None = None
    size: int | None = None
    folder: Path | None = None
    source: str = ""


EACH = PsfArg("each", source="each file's own")
"""One kernel per file, supplied by the caller with :meth:`RestoreRequest.with_kernel`."""


def _auto(text: str) -> PsfArg | None:
    """``auto`` / ``auto:SIZE`` (any case) parsed, or None for any other text."""
    head, sep, rest = text.strip().partition(":")
    if head.lower() != "auto":
        return None
    if not sep:
        return PsfArg("auto", source=text)
    lo, hi = AUTO_SIZES
    try:
        size = int(rest)
    except ValueError:
        size = 0
    if not (lo <= size <= hi and size % 2):
        raise PSFOptionError(
            "psf", f"{text}: bad PSF spec: expected auto or auto:SIZE, SIZE odd, {lo} to {hi}"
        )
    return PsfArg("auto", size=size, source=text)


def parse_psf_arg(psf: Any, *, folders: bool = False) -> PsfArg:
    """The PSF argument of a restore, parsed and checked.

    Parameters
    ----------
    psf : None; an array or tensor ``(h, w)``; a spec (``gaussian:2.0``, ``disk:4``,
        ``motion:21,45``, ``shake:SIZE,SEED``) or a PSF file (:func:`deblur.psf.parse_psf`);
        ``"auto"`` / ``"auto:SIZE"``; with ``folders``, a folder of per-file kernels; or a
        :class:`PsfArg` (returned as is).

    Raises
    ------
    PSFOptionError
        A malformed spec, a file that is not a PSF, or an array that is not one.
    """
    if psf is None:
        return PsfArg()
    if isinstance(psf, PsfArg):
        return psf
    from deblur.errors import PSFError
    from deblur.psf import parse_psf, validate_psf

    if isinstance(psf, (str, os.PathLike)):
        text = os.fspath(psf)
        if not isinstance(text, str):
            raise OptionTypeError("psf", f"must be a text or a path, got {psf!r}")
        parsed = _auto(text) if isinstance(psf, str) else None
        if parsed is not None:
            return parsed
        if folders and Path(text).is_dir():
            return PsfArg("each", folder=Path(text), source=text)
        try:
            return PsfArg("kernel", kernel=parse_psf(text), source=text)
        except (PSFError, ValueError, OSError) as e:
            raise PSFOptionError("psf", f"{text}: {one_line(e)}") from None
    if hasattr(psf, "detach"):  # a torch tensor
        psf = psf.detach().cpu().numpy()
    try:
        return PsfArg("kernel", kernel=validate_psf(np.asarray(psf)), source="array")
    except (PSFError, ValueError, TypeError) as e:
        raise PSFOptionError("psf", f": {one_line(e)}") from None


# --- the options: one rule each -----------------------------------------------------------


def whole_number(name: str, value: Any, low: int, high: int | None = None) -> None:
    """Refuse ``value`` of parameter ``name`` unless it is an integer in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise OptionTypeError(name, f"must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"{low} to {high:,}"
        raise OptionError(name, f"must be {bound}, got {value}")


def number(name: str, value: Any) -> float:
    """``value`` of parameter ``name`` as a float, refused unless it is a real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise OptionTypeError(name, f"must be a number, got {value!r}")
    return float(value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise OptionError(name, f"{value!r} is unknown: expected one of {', '.join(choices)}")


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise OptionTypeError(name, f"must be True or False, got {value!r}")


def check_options(options: RestoreOptions) -> RestoreOptions:
    """Check every option's value (one rule each); returns ``options``.

    Raises
    ------
    OptionError
        A value out of range or unknown (``OptionTypeError``: of the wrong type).
    """
    o = options
    if o.weights is not None and not isinstance(o.weights, (str, os.PathLike)):
        raise OptionTypeError("weights", f"must be a path, got {o.weights!r}")
    whole_number("iterations", o.iterations, 1, MAX_ITERATIONS)
    if not (math.isfinite(number("nsr", o.nsr)) and o.nsr > 0):
        raise OptionError("nsr", f"must be a finite number > 0, got {o.nsr}")
    _choice("wiener_reg", o.wiener_reg, WIENER_REGS)
    _choice("boundary", o.boundary, BOUNDARIES)
    _flag("accelerate", o.accelerate)
    if o.tile is not None:
        whole_number("tile", o.tile, 0)
    if o.tile_overlap is not None:
        whole_number("tile_overlap", o.tile_overlap, 0)
    _choice("device", o.device, DEVICES)
    _flag("guard", o.guard)
    if o.max_pixels is not None:
        from deblur.io.read import max_pixels_limit

        max_pixels_limit(o.max_pixels)
    if not 0.0 <= number("strength", o.strength) <= 1.0:  # NaN fails too
        raise OptionError("strength", f"must be in [0, 1], got {o.strength}")
    return options


@dataclass(frozen=True, eq=False)
class RestoreRequest:
    """A checked restore: ``method``, its ``psf`` and the other ``options``."""

    method: str
    psf: PsfArg
    options: RestoreOptions

    @property
    def network(self) -> bool:
        """Whether the request may run the network (``net``, and ``auto``'s fallback)."""
        return self.method in ("net", "auto")

    def with_kernel(self, kernel: Any, *, checked: bool = False) -> RestoreRequest:
        """The same request with one kernel, such as a file's own (checked and normalised
        here unless ``checked``)."""
        if not checked:
            kernel = parse_psf_arg(kernel).kernel
        psf = PsfArg("kernel", kernel=kernel, source=self.psf.source)
        return dataclasses.replace(self, psf=psf)


def make_request(
    method: str = "net", psf: Any = None, *, folders: bool = False, **options: Any
) -> RestoreRequest:
    """Build and check a restore request.

    Parameters
    ----------
    method : one of :data:`deblur.constants.METHODS`.
    psf : see :func:`parse_psf_arg`; ``EACH`` (this module's) for one kernel per file
        supplied later.
    folders : take a folder as the PSF argument (one ``STEM.npy`` per input file).
    **options : any of :data:`OPTION_NAMES` (the others keep their defaults).

    Raises
    ------
    OptionError
        An unknown method or option, a bad value, a PSF given to ``net`` or missing for
        ``hqs``, ``rl`` or ``wiener``; ``PSFOptionError`` for a PSF argument that cannot
        be used.
    """
    for name in options:
        if name not in OPTION_NAMES:
            raise OptionTypeError(
                name, f"is not an option of a restore (they are: {', '.join(OPTION_NAMES)})"
            )
    if not isinstance(method, str) or method not in METHODS:
        raise OptionError(
            "method", f"{method!r}: unknown method, expected one of {', '.join(METHODS)}"
        )
    opts = check_options(RestoreOptions(**options))
    arg = parse_psf_arg(psf, folders=folders)
    if method == "net" and arg.kind != "none":
        raise OptionError(
            "psf",
            "is not for method 'net': the network is blind and takes no PSF (use hqs, rl"
            " or wiener)",
        )
    if method in PSF_METHODS and arg.kind == "none":
        raise OptionError(
            "psf", f"missing: method {method!r} needs a PSF (a kernel, a spec, a file or auto)"
        )
    return RestoreRequest(method, arg, opts)


# --- the network: loaded once, its tiles checked against it ----------------------------------


def _runner_overlap() -> int:
    """The tile overlap the network runner uses when none is given (its own default)."""
    import inspect

    from deblur.restoration.tiling import run_network

    return int(inspect.signature(run_network).parameters["overlap"].default)


def load_network(request: RestoreRequest) -> Any:
    """The network the request runs on its device (cached by :func:`deblur.models.load_model`),
    with ``tile`` and ``tile_overlap`` checked against it.

    Raises
    ------
    WeightsError
        Missing or unusable weights.
    DeviceError
        A device that is not available here.
    OptionError
        Tiles too small for their overlap (the rule depends on the network).
    """
    from deblur.errors import DeblurError
    from deblur.models import load_model
    from deblur.restoration.tiling import DEFAULT_TILE

    o = request.options
    try:
        model = load_model(o.weights, device=o.device)
    except ValueError as e:  # a device that is not available
        if isinstance(e, DeblurError):
            raise
        raise DeviceError(one_line(e)) from None
    m = model.cfg.multiple
    overlap = _runner_overlap() if o.tile_overlap is None else o.tile_overlap
    tile = DEFAULT_TILE if o.tile is None else o.tile
    need = max(2 * m, overlap + m)
    if tile and tile < need:
        if o.tile is None:
            raise OptionError(
                "tile_overlap",
                f"{overlap} is too large for the automatic tiles of {tile} px"
                f" (at most {tile - m} for this network)",
            )
        raise OptionError(
            "tile",
            f"{tile} is too small for tiles overlapping by {overlap} px: give 0 (no"
            f" tiling) or at least {need} for this network",
        )
    return model
