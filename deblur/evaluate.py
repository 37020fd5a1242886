"""Evaluate restoration methods on a paired dataset:

PSNR/SSIM tables per image and method (see :mod:`deblur.datasets`)."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deblur.atomic import atomic_write
from deblur.constants import METHODS
from deblur.datasets import Pair, find_pairs
from deblur.errors import DatasetError, OptionError, concerns_every_file, one_line

__all__ = [
    "BENCH_METHODS",
    "default_methods",
    "format_table",
    "parse_methods",
    "run_benchmark",
    "write_csv",
    "write_json",
]

BENCH_METHODS = ("none", *METHODS, "rl-auto", "wiener-auto", "hqs-auto")
"""``none``: the blurred input itself; ``rl-auto`` / ``wiener-auto`` / ``hqs-auto``: with a
kernel estimated from the blurred image alone (never the dataset's ``psf/``); the others
as in :func:`deblur.restore`."""

Progress = Callable[[int, int, str], None]
"""``progress(done, total, key)``, called after each pair."""


def parse_methods(spec: str | Iterable[str]) -> list[str]:
    """``"none,rl"`` or ``["none", "rl"]`` -> validated list without repeats, in order."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    methods: list[str] = []
    for m in (s.strip().lower() for s in items):
        if not m:
            continue
        if m not in BENCH_METHODS:
            raise OptionError(
                "methods",
                f"{m!r}: unknown benchmark method, expected some of {', '.join(BENCH_METHODS)}",
            )
        if m not in methods:
            methods.append(m)
    if not methods:
        raise OptionError("methods", f"is empty: expected some of {', '.join(BENCH_METHODS)}")
    return methods


def default_methods(pairs: Sequence[Pair], net: bool) -> list[str]:
    """``none``, plus ``rl`` and ``wiener`` when every pair has a PSF, plus ``net`` if asked."""
    methods = ["none"]
    if pairs and all(p.psf is not None for p in pairs):
        methods += ["rl", "wiener"]
    if net:
        methods.append("net")
    return methods


def _expected_psf(pair: Pair) -> Path:
    """Where the PSF of ``pair`` would be: ``psf/<path below blur/>.npy`` beside ``blur/``."""
    for parent in pair.blur.parents:
        if parent.name == "blur":
            return parent.parent / "psf" / pair.blur.relative_to(parent).with_suffix(".npy")
    return pair.blur.with_suffix(".npy")


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def run_benchmark(
    root: str | Path,
    methods: str | Iterable[str],
    *,
    iterations: int = 30,
    nsr: float = 1e-2,
    crop: int = 0,
    shift: int = 0,
    y_channel: bool = False,
    weights: str | Path | None = None,
    device: str = "auto",
    guard: bool = True,
    progress: Progress | None = None,
    pairs: Sequence[Pair] | None = None,
    max_pixels: int | None = None,
) -> dict[str, Any]:
    """Restore every pair of a dataset with each method and score it against the sharp image.

    Parameters
    ----------
    root : str or Path
        Dataset folder (layout in :mod:`deblur.datasets`).
    methods : str or iterable of str
        Some of ``none`` (the blurred input, unrestored), ``rl``, ``wiener``, ``hqs`` (these
        use the pair's ``psf/NAME.npy``), ``net``, and ``rl-auto``, ``wiener-auto``,
        ``hqs-auto`` (a kernel estimated from the blurred image); a comma-separated string
        is accepted.
    iterations, nsr :
        Richardson-Lucy iterations and Wiener noise-to-signal ratio.
    crop, shift, y_channel :
        Metric settings passed to :func:`deblur.metrics.psnr` and
        :func:`deblur.metrics.ssim`: pixels cropped from each border, largest
        alignment shift searched in pixels, and scoring on the luma (Y) channel.
    weights, device :
        Network weights (None: shipped default) and device, for ``net``.
    guard : bool
        Score what ``deblur restore`` hands back: each result checked, a doubtful one
        replaced by the input (rows then record ``guard``: what the check did). False
        scores the methods' raw outputs.
    progress : callable, optional
        ``progress(done, total, key)`` called after each pair.
    pairs : sequence of Pair, optional
        The pairs to score; default ``find_pairs(root)``.
    max_pixels : int, optional
        Largest image read and restored (None: ``DEBLUR_MAX_PIXELS`` or the default).

    Returns
    -------
    dict
        ``dataset``; ``settings`` (the options above); ``methods``; ``images``: one row
        per pair and method ``{"key", "method", "psnr", "ssim", "seconds", "error"}``
        where ``error`` is None or a one-line reason (then the scores are None), e.g.
        a missing PSF; ``mean``: per method ``{"psnr", "ssim", "seconds", "count",
        "failed"}`` over the pairs that succeeded (None when none did). ``seconds`` is
        the restoration time alone (0 for ``none``), without file I/O.

    Raises
    ------
    OptionError
        Bad methods or option values (a :class:`~deblur.errors.UsageError`).
    DatasetError
        A dataset without pairs.
    WeightsError, DeviceError
        Unusable network weights or device (``net``, ``auto``), before any pair.
    """
    from deblur.api import restore_request
    from deblur.io import read_image
    from deblur.io.read import max_pixels_limit
    from deblur.metrics import psnr, ssim
    from deblur.psf import load_psf
    from deblur.request import EACH, PSF_METHODS, load_network, make_request

    methods = parse_methods(methods)
    limit = max_pixels_limit(max_pixels)
    shared = dict(iterations=iterations, nsr=nsr, weights=weights, device=device, guard=guard)
    requests = {}  # each method's request, built and checked once
    for m in methods:
        base = m.removesuffix("-auto")
        psf = "auto" if m.endswith("-auto") else EACH if base in PSF_METHODS else None
        if m != "none":
            requests[m] = make_request(base, psf, max_pixels=limit, **shared)
    pairs = list(find_pairs(root) if pairs is None else pairs)
    for request in requests.values():
        if request.network:
            load_network(request)  # fail early on bad weights
            break
    metric = dict(crop=crop, shift=shift, y_channel=y_channel)
    rows: list[dict[str, Any]] = []
    stopped: dict[str, str] = {}  # method -> an error that concerns every pair
    for done, pair in enumerate(pairs, 1):
        try:
            blurred = read_image(pair.blur, max_pixels=limit).color
            sharp = read_image(pair.sharp, max_pixels=limit).color
            if blurred.shape != sharp.shape:
                raise DatasetError(
                    f"{pair.key}: blurred image {blurred.shape} and sharp image "
                    f"{sharp.shape} differ in shape"
                )
            pair_error = None
        except (ValueError, OSError) as e:
            pair_error = one_line(e)
        kernel = None
        for method in methods:
            row: dict[str, Any] = dict(
                key=pair.key, method=method, psnr=None, ssim=None, seconds=None, error=pair_error
            )
            rows.append(row)
            if pair_error or method in stopped:
                row["error"] = pair_error or stopped[method]  # not tried again
                continue
            try:
                if method == "none":
                    out, seconds = blurred, 0.0
                else:
                    request = requests[method]
                    if request.psf.kind == "each":  # the pair's own kernel
                        if pair.psf is None:
                            raise DatasetError(
                                f"{pair.key}: no PSF for method {method} "
                                f"(expected {_expected_psf(pair)})"
                            )
                        if kernel is None:
                            kernel = load_psf(pair.psf)
                        request = request.with_kernel(kernel)
                    start = time.perf_counter()
                    out, report = restore_request(blurred, request, return_report=True)
                    seconds = time.perf_counter() - start
                    if report is not None and report.action != "kept":
                        row["guard"] = report.action
                    if report is not None and report.choice:  # method auto: which one ran
                        row["chosen"] = report.method
                row["psnr"] = float(psnr(out, sharp, **metric))
                row["ssim"] = float(ssim(out, sharp, **metric))
                row["seconds"] = seconds
            except (ValueError, OSError) as e:
                row["error"] = one_line(e)
                if concerns_every_file(e):  # no other pair can succeed with this method
                    stopped[method] = row["error"]
        if progress is not None:
            progress(done, len(pairs), pair.key)

    mean: dict[str, dict[str, Any]] = {}
    for method in methods:
        ok = [r for r in rows if r["method"] == method and r["error"] is None]
        mean[method] = dict(
            psnr=float(np.mean([r["psnr"] for r in ok])) if ok else None,
            ssim=float(np.mean([r["ssim"] for r in ok])) if ok else None,
            seconds=float(np.mean([r["seconds"] for r in ok])) if ok else None,
            count=len(ok),
            failed=len(pairs) - len(ok),
        )
    return dict(
        dataset=str(root),
        settings=dict(
            crop=crop,
            shift=shift,
            y_channel=y_channel,
            iterations=iterations,
            nsr=nsr,
            weights=None if weights is None else str(weights),
            device=device,
            guard=guard,
        ),
        methods=methods,
        pairs=len(pairs),
        images=rows,
        mean=mean,
    )


def metric_settings(results: dict[str, Any]) -> str:
    """A one-line description of how the scores were computed."""
    s = results["settings"]
    channels = "the Y (luma) channel" if s["y_channel"] else "all channels"
    return (
        f"PSNR (dB) and SSIM on {channels}, sRGB values in [0, 1], "
        f"{s['crop']} px border crop, alignment shift search +/-{s['shift']} px; SSIM with an"
        " 11x11 Gaussian window (sigma 1.5), population covariance, K1 0.01, K2 0.03, mean"
        " over channels (scikit-image's defaults give 0.01-0.08 different values)"
    )


def format_table(results: dict[str, Any]) -> str:
    """The mean results as a text table, headed by the dataset and metric settings."""

    def num(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    lines = [
        f"dataset: {results['dataset']} ({results['pairs']} pairs)",
        f"metrics: {metric_settings(results)}",
        "",
        f"{'method':<8} {'images':>7} {'failed':>7} {'PSNR':>8} {'SSIM':>7} {'s/image':>9}",
    ]
    for method in results["methods"]:
        m = results["mean"][method]
        lines.append(
            f"{method:<8} {m['count']:>7} {m['failed']:>7} {num(m['psnr'], '.2f'):>8} "
            f"{num(m['ssim'], '.4f'):>7} {num(m['seconds'], '.3f'):>9}"
        )
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: str | Path) -> Path:
    """Write the results as JSON (atomically); non-finite scores become null."""

    def clean(x: Any) -> Any:
        if isinstance(x, float):
            return _finite(x)
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return atomic_write(path, json.dumps(clean(results), indent=2, allow_nan=False) + "\n")


CSV_COLUMNS = ("key", "method", "psnr", "ssim", "seconds", "error")


def write_csv(results: dict[str, Any], path: str | Path) -> Path:
    """Write one row per image and method, then one ``MEAN`` row per method (atomically)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results["images"]:
        w.writerow(["" if r[c] is None else r[c] for c in CSV_COLUMNS])
    for method in results["methods"]:
        m = results["mean"][method]
        error = f"{m['failed']} failed" if m["failed"] else ""
        w.writerow(
            [
                "MEAN",
                method,
                *("" if m[c] is None else m[c] for c in ("psnr", "ssim", "seconds")),
                error,
            ]
        )
    return atomic_write(path, buf.getvalue())
