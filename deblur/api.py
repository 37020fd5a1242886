"""One entry point for every restoration method: :func:`restore`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from deblur.constants import BOUNDARIES, DEVICES, METHODS, WIENER_REGS, RestoreOptions

__all__ = ["BOUNDARIES", "DEVICES", "METHODS", "RestoreOptions", "restore"]


_D = RestoreOptions()


def auto_psf_size(spec: Any) -> int | None | bool:
    """For ``"auto"`` / ``"auto:SIZE"`` (any case): the SIZE (None for the default); False
    for any other PSF argument. Raises PSFError for a malformed ``auto:`` spec."""
    if not isinstance(spec, str) or spec.strip().lower().split(":", 1)[0] != "auto":
        return False
    _, sep, rest = spec.strip().partition(":")
    if not sep:
        return None
    from deblur.errors import PSFError

    try:
        return int(rest)
    except ValueError:
        raise PSFError(
            f"bad PSF spec {spec!r}: expected auto or auto:SIZE (odd, 3 to 101)"
        ) from None


def _as_psf(psf: Any) -> np.ndarray:
    from deblur.psf import parse_psf, validate_psf

    if isinstance(psf, (str, Path)):
        return parse_psf(str(psf))
    if hasattr(psf, "detach"):  # a torch tensor
        psf = psf.detach().cpu().numpy()
    return validate_psf(np.asarray(psf))


def _restore_bchw(
    x: torch.Tensor,
    method: str,
    *,
    weights: Any,
    psf: np.ndarray | None,
    iterations: int,
    nsr: float,
    wiener_reg: str,
    boundary: str,
    accelerate: bool,
    tile: int | None,
    tile_overlap: int | None,
    device: str,
) -> torch.Tensor:
    """Restore a float32 (B,C,H,W) colour tensor (C in {1, 3}) in [0, 1]."""
    if method == "net":
        from deblur.models import load_model
        from deblur.restoration.tiling import run_network

        model = load_model(weights, device=device)
        param = next(model.parameters(), None)
        dev = param.device if param is not None else x.device
        extra = {} if tile_overlap is None else {"overlap": tile_overlap}
        out = run_network(model, x.to(dev), tile=tile, **extra)
        return out.to(x.device)

    from deblur.restoration.classical import richardson_lucy, wiener

    if method == "hqs":
        from deblur.restoration.hqs import hqs_deconv

        return hqs_deconv(x, psf, boundary=boundary)
    if method == "rl":
        return richardson_lucy(
            x, psf, iterations, boundary=boundary, accelerate=accelerate, clip=True
        )
    return wiener(x, psf, nsr, boundary=boundary, reg=wiener_reg)


def _auto_report(report, choices, n: int):
    """Add ``auto``'s choices to the reports (made up, "not checked", with the check off)."""
    if choices is None:
        return report
    import dataclasses

    from deblur.restoration.guard import SIGMA_FLOOR
    from deblur.restoration.verdict import make_report

    if report is None:
        fig = {"verdict": "not checked", "reason": "check off"}
        report = tuple(make_report(fig, SIGMA_FLOOR) for _ in range(n))
    reports = report if isinstance(report, tuple) else (report,)
    reports = tuple(
        dataclasses.replace(r, method=c.method, choice=c.why) for r, c in zip(reports, choices)
    )
    return reports[0] if n == 1 else reports


def _warn_kept(report, return_report: bool) -> None:
    if return_report or report is None:
        return
    import warnings

    from deblur.errors import DeblurWarning

    for r in report if isinstance(report, tuple) else (report,):
        if r.kept_input:
            warnings.warn(f"deblur.restore: {r.note}", DeblurWarning, stacklevel=3)


def restore(
    image: np.ndarray | torch.Tensor,
    method: str = "net",
    *,
    weights: str | Path | None = None,
    psf: np.ndarray | str | Path | None = None,
    iterations: int = _D.iterations,
    nsr: float = _D.nsr,
    wiener_reg: str = _D.wiener_reg,
    boundary: str = _D.boundary,
    accelerate: bool = _D.accelerate,
    tile: int | None = _D.tile,
    tile_overlap: int | None = _D.tile_overlap,
    device: str = _D.device,
    guard: bool = _D.guard,
    strength: float = _D.strength,
    max_pixels: int | None = _D.max_pixels,
    return_report: bool = False,
) -> np.ndarray | torch.Tensor | tuple[np.ndarray | torch.Tensor, Any]:
    """Remove blur from an image with the network or a classical deconvolution.

    Parameters
    ----------
    image : ndarray or torch.Tensor
        A numpy image of shape ``(H, W)`` (grey), ``(H, W, 1)``, ``(H, W, 3)`` (RGB),
        ``(H, W, 2)`` (grey + alpha) or ``(H, W, 4)`` (RGBA), dtype uint8 (0..255),
        uint16 (0..65535) or float (0..1, sRGB values); or a tensor of shape
        ``(B, C, H, W)`` with C in 1..4 (2 and 4: the last channel is alpha), same
        dtypes and ranges. Alpha is passed through untouched (only rescaled to
        [0, 1] for integer input); only the colour channels are restored.
    method : {"net", "rl", "wiener", "hqs", "auto"}
        ``net``: the blind (kernel-free) deblurring network. ``rl``:
        Richardson-Lucy deconvolution. ``wiener``: Wiener deconvolution. ``hqs``:
        deconvolution with a total-variation prior (half-quadratic splitting,
        :func:`deblur.restoration.hqs.hqs_deconv`, its tuned default weight). These three
        need ``psf``.
        ``auto``: estimate each image's blur; when the estimate is not a delta and its
        ``hqs`` result passes the result check, that result, otherwise the network's
        (:mod:`deblur.restoration.auto`); the report's ``method`` and ``choice`` say which
        and why. ``psf`` is optional there (``"auto:SIZE"``, or a kernel estimated
        already).
    weights : str or Path, optional
        Network weights file (``net`` only); None uses the shipped weights.
    psf : ndarray of shape (h, w), str or Path, optional
        The blur kernel for ``rl``, ``wiener`` and ``hqs``: an array (non-negative, normalised
        to sum 1 here), a spec string (``gaussian:2.0``, ``disk:4``, ``motion:21,45``,
        ``shake:SIZE,SEED``), a ``.npy``/image file (see :func:`deblur.psf.parse_psf`), or
        ``"auto"`` / ``"auto:SIZE"``: estimated from the image itself
        (:func:`deblur.estimate_psf`, kernels up to SIZE px, default 45).
        Must be smaller than the image. Not accepted by ``net``.
    iterations : int
        Richardson-Lucy iterations (``rl`` only), >= 1.
    nsr : float
        Noise-to-signal power ratio regularising Wiener deconvolution (``wiener``
        only), > 0.
    wiener_reg : {"identity", "laplacian"}
        Wiener's regulariser (``wiener`` only; see :func:`deblur.restoration.classical.wiener`).
    boundary : {"reflect", "periodic", "zero"}
        How ``rl``, ``wiener`` and ``hqs`` model the image beyond its edges.
    accelerate : bool
        Use accelerated Richardson-Lucy (``rl`` only).
    tile : int, optional
        Run the network on tiles of this many pixels a side to bound memory
        (``net`` only); 0 never tiles; None tiles only very large images
        (see :func:`deblur.restoration.tiling.run_network`).
    tile_overlap : int, optional
        Overlap of neighbouring tiles in pixels (``net`` only), >= 0; None uses the
        network runner's default.
    device : {"auto", "cpu", "cuda", "mps"}
        Where the network runs (``net`` only); the result comes back on the
        input's device.
    guard : bool
        Check the result (:func:`deblur.check_result`): a result that no plausible blur
        of it explains, or that adds ringing, halos or noise the input does not hold, is
        replaced by the input, and an input that is already sharp is passed through
        unchanged. ``False`` returns the method's raw output (after ``strength``).
    strength : float
        In [0, 1]: ``input + strength * (result - input)``; 0 returns the input exactly
        (the method is not run), 1 the result.
    max_pixels : int, optional
        Largest image accepted (``B * H * W``), which bounds memory; None: the environment
        variable ``DEBLUR_MAX_PIXELS`` or the default of :data:`deblur.io.read.MAX_PIXELS`
        (25 million pixels, about 3 GB to restore).
    return_report : bool
        Also return the check's report (a :class:`~deblur.restoration.verdict.GuardReport`,
        a tuple of them for a batch, or None with ``guard=False``; with ``method="auto"``
        a report with verdict ``"not checked"`` then, to say which method ran). Without
        it, a :class:`deblur.DeblurWarning` is issued when the input was given back
        instead of the result (the message is the check's note).

    Returns
    -------
    ndarray or torch.Tensor
        The restored image, float32 in [0, 1], of the same kind and shape as
        ``image`` (alpha channel included); with ``return_report``, ``(image, report)``.

    Raises
    ------
    ValueError
        On an unknown method or option value, a missing or invalid PSF for ``rl`` or
        ``wiener``, a PSF given to ``net``, a PSF larger than the image, or an
        unsupported image shape. ``deblur.models.WeightsError`` (a ValueError) for
        missing or unusable weights.
    TypeError
        On an unsupported image dtype (see :func:`deblur.layout.as_bchw`).

    Examples
    --------
    >>> import numpy as np
    >>> from deblur import restore
    >>> blurry = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    >>> sharp = restore(blurry, "wiener", psf="gaussian:1.5")
    >>> sharp.shape, sharp.dtype
    ((64, 64, 3), dtype('float32'))
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise ValueError(f"strength must be a number in [0, 1], got {strength!r}")
    if not 0.0 <= strength <= 1.0:  # NaN fails too
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}: expected one of {', '.join(BOUNDARIES)}")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
    size: Any = False
    if method in ("net", "auto"):
        if method == "auto" and psf is not None:
            size = auto_psf_size(psf)
        elif psf is not None:
            raise ValueError("method 'net' is blind and takes no PSF; use 'hqs', 'rl' or 'wiener'")
        if tile is not None and tile < 0:
            raise ValueError(f"tile must be >= 0 pixels (0: no tiling), got {tile}")
        if tile_overlap is not None and tile_overlap < 0:
            raise ValueError(f"tile overlap must be >= 0, got {tile_overlap}")
        kernel = _as_psf(psf) if psf is not None and size is False else None  # auto: given
        size = None if size is False else size
        if size is not None and not (3 <= size <= 101 and size % 2):
            from deblur.errors import PSFError

            raise PSFError(f"psf {psf!r}: SIZE must be odd, 3 to 101")
    else:
        if psf is None:
            raise ValueError(f"method {method!r} needs a PSF (psf=...)")
        if method == "rl" and iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if method == "wiener" and not nsr > 0:
            raise ValueError(f"nsr must be > 0, got {nsr}")
        if wiener_reg not in WIENER_REGS:
            raise ValueError(f"unknown wiener_reg {wiener_reg!r}: expected one of {WIENER_REGS}")
        size = auto_psf_size(psf)
        kernel = None if size is not False else _as_psf(psf)
    options = dict(
        weights=weights,
        psf=kernel,
        iterations=iterations,
        nsr=nsr,
        wiener_reg=wiener_reg,
        boundary=boundary,
        accelerate=accelerate,
        tile=tile,
        tile_overlap=tile_overlap,
        device=device,
    )

    import torch

    from deblur.layout import as_bchw

    x, back = as_bchw(image)
    from deblur.io.read import check_pixels

    check_pixels(x.shape[-1], x.shape[0] * x.shape[-2], max_pixels, name="image")
    if x.shape[1] not in (1, 2, 3, 4):
        raise ValueError(f"expected 1 to 4 channels (C in (B, C, H, W)), got {x.shape[1]}")
    alpha = None
    if x.shape[1] in (2, 4):  # the last channel is alpha: passed through untouched
        x, alpha = x[:, :-1].contiguous(), x[:, -1:]
    from deblur.restoration.auto import is_delta
    from deblur.restoration.guard import apply_guard

    sharp: Any = False
    if method not in ("net", "auto") and kernel is None:  # psf="auto": from each image
        from deblur.restoration.blind import estimate_psf

        if x.shape[0] != 1:
            raise ValueError("psf='auto' estimates one kernel per image: pass one image at a time")
        options["psf"] = estimate_psf(x, size)
        sharp = is_delta(options["psf"])
    choices, used = None, method
    with torch.no_grad():
        if strength == 0:  # the input itself: nothing to run
            raw = x.to(torch.float32).clamp(0, 1)
        elif method == "auto":
            from deblur.restoration.auto import choose

            def run_net(t):
                return _restore_bchw(t, "net", **{**options, "psf": None})

            raw, choices = choose(x, run_net, size=size, psf=kernel, boundary=boundary)
            used, sharp = [c.method for c in choices], [c.input_sharp for c in choices]
        else:
            raw = _restore_bchw(x, method, **options).to(torch.float32).clamp(0, 1)
        y, report = apply_guard(
            x.to(raw.device), raw, guard=guard, strength=strength, input_sharp=sharp, method=used
        )
    report = _auto_report(report, choices, x.shape[0])
    _warn_kept(report, return_report)
    y = y.to(raw.device, torch.float32)
    if alpha is not None:
        y = torch.cat([y, alpha.to(y.device)], dim=1)
    return (back(y), report) if return_report else back(y)
