"""One entry point for every restoration method: :func:`restore`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from deblur.constants import BOUNDARIES, DEVICES, METHODS, RestoreOptions
from deblur.errors import DeblurError, OptionError, OptionTypeError, one_line
from deblur.request import OPTION_NAMES, RestoreRequest, load_network, make_request

__all__ = ["BOUNDARIES", "DEVICES", "METHODS", "RestoreOptions", "restore", "restore_request"]


_D = RestoreOptions()


def _restore_bchw(x: torch.Tensor, request: RestoreRequest, method: str) -> torch.Tensor:
    """Restore a float32 (B,C,H,W) colour tensor (C in {1, 3}) in [0, 1] with ``method``
    (the request's, or ``net`` for ``auto``'s fallback) and the request's kernel."""
    o, kernel = request.options, request.psf.kernel
    if method == "net":
        from deblur.restoration.tiling import run_network

        model = load_network(request)
        param = next(model.parameters(), None)
        dev = param.device if param is not None else x.device
        extra = {} if o.tile_overlap is None else {"overlap": o.tile_overlap}
        out = run_network(model, x.to(dev), tile=o.tile, **extra)
        return out.to(x.device)

    from deblur.restoration.classical import richardson_lucy, wiener

    if method == "hqs":
        from deblur.restoration.hqs import hqs_deconv

        return hqs_deconv(x, kernel, boundary=o.boundary)
    if method == "rl":
        return richardson_lucy(
            x, kernel, o.iterations, boundary=o.boundary, accelerate=o.accelerate, clip=True
        )
    return wiener(x, kernel, o.nsr, boundary=o.boundary, reg=o.wiener_reg)


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
    weights: str | Path | None = _D.weights,
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
        Richardson-Lucy iterations (``rl`` only), 1 to 10,000.
    nsr : float
        Noise-to-signal power ratio regularising Wiener deconvolution (``wiener``
        only), finite and > 0.
    wiener_reg : {"identity", "laplacian"}
        Wiener's regulariser (``wiener`` only; see :func:`deblur.restoration.classical.wiener`).
    boundary : {"reflect", "periodic", "zero"}
        How ``rl``, ``wiener`` and ``hqs`` model the image beyond its edges.
    accelerate : bool
        Use accelerated Richardson-Lucy (``rl`` only).
    tile : int, optional
        Run the network on tiles of this many pixels a side to bound memory
        (``net`` only); 0 never tiles; None tiles only very large images
        (see :func:`deblur.restoration.tiling.run_network`). Tiles must be larger than
        their overlap by the network's padding multiple (checked when it is loaded).
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
    deblur.errors.OptionError
        (A :class:`deblur.DeblurError` and a ``ValueError``.) An unknown method or option
        value, a PSF given to ``net`` or missing for ``hqs``, ``rl`` or ``wiener``, an
        unsupported image shape; :class:`~deblur.errors.OptionTypeError` (also a
        ``TypeError``) for a value of the wrong type or an unsupported image dtype (see
        :func:`deblur.layout.as_bchw`); :class:`~deblur.errors.PSFOptionError` (also a
        ``PSFError``) for a PSF argument that is not a PSF.
    deblur.errors.PSFError
        A PSF larger than the image, or an estimate (``psf="auto"``) that failed.
    deblur.errors.ImageError
        An image above ``max_pixels``.
    deblur.errors.WeightsError, deblur.errors.DeviceError
        Missing or unusable weights; a device that is not available.

    Examples
    --------
    >>> import numpy as np
    >>> from deblur import restore
    >>> blurry = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    >>> sharp = restore(blurry, "wiener", psf="gaussian:1.5")
    >>> sharp.shape, sharp.dtype
    ((64, 64, 3), dtype('float32'))
    """
    options = {name: value for name, value in locals().items() if name in OPTION_NAMES}
    y, report = _run(image, make_request(method, psf, **options))
    _warn_kept(report, return_report)
    return (y, report) if return_report else y


def _as_bchw(image: Any):
    """:func:`deblur.layout.as_bchw`, refusing an image it cannot take as an OptionError."""
    from deblur.layout import as_bchw

    try:
        return as_bchw(image)
    except (TypeError, ValueError) as e:
        if isinstance(e, DeblurError):
            raise
        kind = OptionTypeError if isinstance(e, TypeError) else OptionError
        raise kind("image", f": {one_line(e)}") from None


def restore_request(
    image: np.ndarray | torch.Tensor, request: RestoreRequest, *, return_report: bool = False
) -> np.ndarray | torch.Tensor | tuple[np.ndarray | torch.Tensor, Any]:
    """:func:`restore` with a request already built and checked
    (:func:`deblur.request.make_request`): the same image, result and report."""
    y, report = _run(image, request)
    _warn_kept(report, return_report)
    return (y, report) if return_report else y


def _run(image: Any, request: RestoreRequest) -> tuple[Any, Any]:
    """The restored image and the check's report (None with the check off)."""
    import torch

    from deblur.io.read import check_pixels

    o, arg, method = request.options, request.psf, request.method
    x, back = _as_bchw(image)
    check_pixels(x.shape[-1], x.shape[0] * x.shape[-2], o.max_pixels, name="image")
    if x.shape[1] not in (1, 2, 3, 4):
        raise OptionError(
            "image", f"has {x.shape[1]} channels: expected 1 to 4 (C in (B, C, H, W))"
        )
    if arg.kind == "each":
        raise OptionError("psf", "is one kernel per file: give each image its own kernel")
    alpha = None
    if x.shape[1] in (2, 4):  # the last channel is alpha: passed through untouched
        x, alpha = x[:, :-1].contiguous(), x[:, -1:]
    from deblur.restoration.auto import is_delta
    from deblur.restoration.guard import apply_guard

    sharp: Any = False
    if method != "auto" and arg.kind == "auto":  # psf="auto": from each image
        from deblur.restoration.blind import estimate_psf

        if x.shape[0] != 1:
            raise OptionError(
                "psf", "'auto' estimates one kernel per image: pass one image at a time"
            )
        request = request.with_kernel(estimate_psf(x, arg.size), checked=True)
        sharp = is_delta(request.psf.kernel)
    choices, used = None, method
    with torch.no_grad():
        if o.strength == 0:  # the input itself: nothing to run
            raw = x.to(torch.float32).clamp(0, 1)
        elif method == "auto":
            from deblur.restoration.auto import choose

            def run_net(t):
                return _restore_bchw(t, request, "net")

            raw, choices = choose(x, run_net, size=arg.size, psf=arg.kernel, boundary=o.boundary)
            used, sharp = [c.method for c in choices], [c.input_sharp for c in choices]
        else:
            raw = _restore_bchw(x, request, method).to(torch.float32).clamp(0, 1)
        y, report = apply_guard(
            x.to(raw.device),
            raw,
            guard=o.guard,
            strength=o.strength,
            input_sharp=sharp,
            method=used,
        )
    report = _auto_report(report, choices, x.shape[0])
    y = y.to(raw.device, torch.float32)
    if alpha is not None:
        y = torch.cat([y, alpha.to(y.device)], dim=1)
    return back(y), report
