"""Batches of files: restore many photos, or make a blurred/sharp dataset from sharp ones.

These are the library functions behind ``deblur restore`` and ``deblur blur`` (usable from
Python). Each checks its arguments up front (bad usage raises
:class:`~deblur.errors.UsageError` before any file is touched), then returns an iterator
that handles one input file per step and yields a :class:`FileOutcome`: a file that fails
is reported and the batch goes on. Outputs are written atomically, input files are never
overwritten, and an existing output is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deblur.blurset import blur_files
from deblur.errors import DeblurError, DeviceError, UsageError, concerns_every_file, one_line
from deblur.files import STDIO, FileOutcome, expand, failed, plan_outputs
from deblur.paths import refuse_overwrite

__all__ = ["STDIO", "FileOutcome", "blur_files", "plan_outputs", "restore_files"]


def restore_files(
    inputs: list[str],
    *,
    output: Path | None = None,
    suffix: str | None = None,
    recursive: bool = False,
    overwrite: bool = False,
    method: str = "net",
    psf: str | None = None,
    save_psf: Path | None = None,
    max_pixels: int | None = None,
    ext: str | None = None,
    quality: int | None = None,
    report: Path | None = None,
    **options: Any,
) -> tuple[list[tuple[Path, Path]], Iterator[FileOutcome]]:
    """Restore image files; the batch loop of ``deblur restore``.

    Parameters
    ----------
    inputs : files, folders or glob patterns (see :func:`deblur.datasets.expand_inputs`), or
        ``["-"]``: one image on standard input.
    output, suffix, ext : where results go and their format (see :func:`plan_outputs`);
        ``ext`` as ``"png"`` or ``".png"``.
    quality : 1..100, JPEG and lossy WebP outputs (see :func:`deblur.io.write_image`).
    recursive : take images in subfolders of folder inputs.
    overwrite : replace existing outputs (inputs are never replaced).
    method : ``net``, ``rl`` or ``wiener`` (see :func:`deblur.restore`).
    psf : for ``rl``/``wiener``: a spec or file (one PSF for all), a folder holding
        ``<relative path>/STEM.npy`` per input (or ``STEM.npy`` flat), or ``auto`` /
        ``auto:SIZE`` (estimated from each image, :func:`deblur.estimate_psf`).
    save_psf : with ``psf="auto"``: a folder to write each estimate to, as
        ``<relative path>/STEM.npy`` (the layout ``psf=FOLDER`` reads back) plus a preview
        ``STEM_psf.png``.
    max_pixels : largest image accepted (None: ``DEBLUR_MAX_PIXELS`` or the default).
    report : a file the caller will write a report of the batch to: refused when it is one
        of the files read (images, PSF, weights) or written.
    **options : passed to :func:`deblur.restore` (``iterations``, ``nsr``, ``weights``, ...).

    Returns
    -------
    plan : ``(input, output)`` pairs, in order.
    outcomes : an iterator doing the work, one :class:`FileOutcome` per input.

    Raises
    ------
    UsageError
        Bad inputs, output clashes, a PSF where none is needed (or none where needed), or a
        bad PSF spec, raised before any file is read.
    WeightsError, DeviceError
        (``net`` and ``auto``) The network cannot be loaded on ``device``: raised once, here,
        not for each file.
    """
    from deblur.api import METHODS

    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method not in ("net", "auto") and psf is None:
        raise UsageError(f"--method {method} needs --psf (a spec, file or folder)")
    if method == "net" and psf is not None:
        raise UsageError("--psf is for --method hqs, rl or wiener; the network needs no PSF")
    from deblur.io.read import max_pixels_limit

    limit = max_pixels_limit(max_pixels)  # a bad value is bad usage, before any file
    if "-" in inputs and len(inputs) > 1:
        raise UsageError("- (standard input) must be the only input")
    files = [(STDIO, Path("."))] if inputs == ["-"] else expand(inputs, recursive)
    if ext is not None:
        from deblur.io.results import output_ext

        ext = output_ext(ext)
    from deblur.api import auto_psf_size

    kernel = psf_dir = None
    try:
        auto = auto_psf_size(psf)
    except ValueError as e:
        raise UsageError(f"--psf {psf}: {one_line(e)}") from None
    if save_psf is not None and auto is False:
        raise UsageError("--save-psf writes estimated kernels: use it with --psf auto")
    if auto is not False:
        if auto is not None and not (3 <= auto <= 101 and auto % 2):
            raise UsageError(f"--psf {psf}: SIZE must be odd, 3 to 101")
    elif psf is not None:
        if Path(psf).is_dir():
            psf_dir = Path(psf)
        else:
            from deblur.psf import parse_psf

            try:
                kernel = parse_psf(psf)
            except (ValueError, OSError) as e:
                raise UsageError(f"--psf {psf}: {one_line(e)}") from None
    plan = plan_outputs(inputs, files, output, suffix, ext)
    bases = {path: base for path, base in files}
    # other files read, never to be written either: a PSF file and the network's weights
    read_too = tuple(Path(f) for f in (psf, options.get("weights")) if _is_file(f))
    if report is not None:
        read = [src for src, _ in plan if src != STDIO] + list(read_too)
        read += _other_inputs(report, psf_dir, method, options.get("weights"))
        refuse_overwrite(report, read, [d for _, d in plan if d != STDIO], option="report")
    if method in ("net", "auto"):  # weights and device concern every file: checked once
        _load_network(options.get("weights"), options.get("device", "auto"))

    def run() -> Iterator[FileOutcome]:
        from deblur.api import restore
        from deblur.io.colour import plan_colour
        from deblur.io.results import FORMAT_EXTENSIONS, read_input, write_result
        from deblur.psf import load_psf
        from deblur.restoration.auto import is_delta
        from deblur.restoration.verdict import mark_sharp_input

        protect = tuple(src for src, _ in plan) + read_too
        protected = {Path(os.path.abspath(p)) for p in protect}
        for src, dst in plan:
            rel = src.relative_to(bases[src]).parent
            try:
                if dst != STDIO and Path(os.path.abspath(dst)) in protected:
                    raise DeblurError(f"{dst}: is an input file; refusing to overwrite it")
                if dst != STDIO and dst.exists() and not overwrite:
                    raise DeblurError(f"{dst}: exists (use --overwrite to replace it)")
                image, original = read_input(src, limit, sys.stdin.buffer if src == STDIO else None)
                colour = plan_colour(image.color, image.icc_profile)  # sRGB to work on
                k = kernel
                if psf_dir is not None:
                    psf_file = psf_dir / rel / f"{src.stem}.npy"
                    if not psf_file.is_file():
                        psf_file = psf_dir / f"{src.stem}.npy"
                    if not psf_file.is_file():
                        raise DeblurError(f"{src}: no PSF file {psf_file}")
                    k = load_psf(psf_file)
                if auto is not False and method == "auto" and save_psf is None:
                    k = psf  # restore estimates it (and says so)
                elif auto is not False:
                    from deblur.restoration.blind import estimate_psf

                    k = estimate_psf(colour.working, auto)
                    if save_psf is not None:
                        _save_kernel(save_psf / rel, src.stem, k, overwrite, protect)
                result, report = restore(colour.working, method, psf=k, return_report=True,
                                         max_pixels=limit, **options)  # fmt: skip
                if auto is not False and method != "auto" and report and is_delta(k):
                    report = mark_sharp_input(report)  # the input's own estimate is a delta
                kept = options.get("strength", 1.0) == 0
                kept = kept or (report is not None and report.action != "kept")
                out_ext = ext or (dst if dst != STDIO else src).suffix
                if dst == STDIO and src == STDIO and ext is None:
                    out_ext = FORMAT_EXTENSIONS[image.format]
                written, more = write_result(
                    None if dst == STDIO else dst, image, colour, result, kept_input=kept,
                    ext=out_ext, quality=quality, overwrite=overwrite, protect=protect,
                    original=original, stream=sys.stdout.buffer if dst == STDIO else None,
                )  # fmt: skip
            except (DeblurError, ValueError, OSError) as e:
                yield failed(src, e)
                if concerns_every_file(e):
                    return
                continue
            notes, info = (), {}
            if report is not None:
                info = dataclasses.asdict(report)
                if report.choice:
                    notes = (f"auto: used {report.method}, {report.choice}",)
                if report.note:
                    notes += (report.note,)
            written_files = () if written is None else (written,)
            yield FileOutcome(src, written=written_files, notes=notes + more, info=info)

    return plan, run()


def _other_inputs(path: Path, psf_dir: Path | None, method: str, weights: Any) -> list[Path]:
    """Files read that ``path`` may be besides the images and a PSF file: ``path`` itself
    when it is a file of the PSF folder, the default weights and the model card."""
    found = []
    if psf_dir is not None and path.is_file() and psf_dir.resolve() in path.resolve().parents:
        found.append(path)
    if method in ("net", "auto"):
        if weights is None:
            from deblur.models import default_weights_path

            weights = default_weights_path()
        if weights is not None:
            found += [Path(weights), Path(weights).with_suffix(".json")]
    return found


def _load_network(weights: Any, device: str) -> None:
    from deblur.models import load_model

    try:
        load_model(weights, device=device)
    except ValueError as e:  # an unknown or unavailable device
        if isinstance(e, DeblurError):
            raise
        raise DeviceError(one_line(e)) from None


def _is_file(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and Path(path).is_file()


def _save_kernel(folder: Path, stem: str, k: Any, overwrite: bool, protect: tuple) -> None:
    """``folder/STEM.npy`` (float32 kernel) and a preview ``folder/STEM_psf.png`` (scaled to
    its peak, enlarged 8x without interpolation); neither may be one of the ``protect``
    files (the inputs)."""
    import io

    import numpy as np

    from deblur.atomic import atomic_write
    from deblur.io import write_image
    from deblur.paths import first_same_file

    npy, png = folder / f"{stem}.npy", folder / f"{stem}_psf.png"
    for path in (npy, png):
        if first_same_file(path, protect) is not None:
            raise DeblurError(f"{path}: is an input file; refusing to overwrite it")
    buf = io.BytesIO()
    np.save(buf, np.asarray(k, np.float32))
    atomic_write(npy, buf.getvalue(), overwrite=overwrite)
    preview = np.kron(k / max(float(k.max()), 1e-12), np.ones((8, 8), np.float32))
    write_image(png, preview.astype(np.float32), overwrite=overwrite, protect=protect)
