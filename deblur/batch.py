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
from typing import TYPE_CHECKING, Any

from deblur.blurset import blur_files
from deblur.errors import ARG, DeblurError, OptionError, UsageError, concerns_every_file
from deblur.files import STDIO, FileOutcome, expand, failed, plan_outputs
from deblur.paths import refuse_overwrite

if TYPE_CHECKING:
    from deblur.request import RestoreRequest

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
    request: RestoreRequest | None = None,
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
    method : one of :data:`deblur.constants.METHODS` (see :func:`deblur.restore`).
    psf : for ``hqs``/``rl``/``wiener`` (optional for ``auto``): a spec or file (one PSF
        for all), a folder holding ``<relative path>/STEM.npy`` per input (or ``STEM.npy``
        flat), or ``auto`` / ``auto:SIZE`` (estimated from each image).
    save_psf : with ``psf="auto"``: a folder to write each estimate to, as
        ``<relative path>/STEM.npy`` (the layout ``psf=FOLDER`` reads back) plus a preview
        ``STEM_psf.png``.
    max_pixels : largest image accepted (None: ``DEBLUR_MAX_PIXELS`` or the default).
    report : a file the caller will write a report of the batch to: refused when it is one
        of the files read (images, PSF, weights) or written.
    request : the method, PSF and options as one request built already
        (:func:`deblur.request.make_request` with ``folders=True``), in place of
        ``method``, ``psf``, ``max_pixels`` and ``options``.
    **options : the other options of :func:`deblur.restore` (``iterations``, ``nsr``,
        ``weights``, ...).

    Returns
    -------
    plan : ``(input, output)`` pairs, in order.
    outcomes : an iterator doing the work, one :class:`FileOutcome` per input.

    Raises
    ------
    UsageError
        Bad inputs or output clashes (:class:`~deblur.errors.OptionError`: a bad option,
        a PSF where none is needed or none where needed, a bad PSF spec), raised before any
        file is read.
    WeightsError, DeviceError
        (``net`` and ``auto``) The network cannot be loaded on its device: raised once,
        here, not for each file.
    """
    from deblur.io.read import max_pixels_limit
    from deblur.request import load_network, make_request

    if request is None:
        request = make_request(method, psf, folders=True, max_pixels=max_pixels, **options)
    elif options or psf is not None or max_pixels is not None or method != "net":
        raise UsageError(f"give a {ARG.request} or its method, {ARG.psf} and options, not both")
    arg = request.psf
    limit = max_pixels_limit(request.options.max_pixels)  # the environment read once
    request = dataclasses.replace(
        request, options=dataclasses.replace(request.options, max_pixels=limit)
    )
    if "-" in inputs and len(inputs) > 1:
        raise UsageError("- (standard input) must be the only input")
    files = [(STDIO, Path("."))] if inputs == ["-"] else expand(inputs, recursive)
    if ext is not None:
        from deblur.io.results import output_ext

        ext = output_ext(ext)
    if save_psf is not None and arg.kind != "auto":
        raise OptionError("save_psf", f"writes estimated kernels: give it with {ARG.psf} auto")
    plan = plan_outputs(inputs, files, output, suffix, ext)
    bases = {path: base for path, base in files}
    # other files read, never to be written either: a PSF file and the network's weights
    weights = request.options.weights
    psf_file = arg.source if arg.kind == "kernel" else None
    read_too = tuple(Path(f) for f in (psf_file, weights) if _is_file(f))
    if report is not None:
        read = [src for src, _ in plan if src != STDIO] + list(read_too)
        read += _other_inputs(report, arg.folder, request.network, weights)
        refuse_overwrite(report, read, [d for _, d in plan if d != STDIO], option="report")
    if request.network:  # weights and device concern every file: checked once
        load_network(request)
    protect = tuple(src for src, _ in plan) + read_too
    job = _Job(request, bases, overwrite, save_psf, protect, ext, quality)
    return plan, (job.outcome(src, dst) for src, dst in plan if not job.stopped)


@dataclasses.dataclass
class _Job:
    """The work of :func:`restore_files` on each file."""

    request: RestoreRequest
    bases: dict[Path, Path]
    overwrite: bool
    save_psf: Path | None
    protect: tuple[Path, ...]
    ext: str | None
    quality: int | None
    stopped: bool = False

    def outcome(self, src: Path, dst: Path) -> FileOutcome:
        try:
            written, notes, info = self._restore(src, dst)
        except (DeblurError, ValueError, OSError) as e:
            self.stopped = concerns_every_file(e)  # then the files after it are not tried
            return failed(src, e)
        return FileOutcome(src, written=written, notes=notes, info=info)

    def _kernel(self, src: Path, rel: Path, colour: Any) -> RestoreRequest:
        """The request for one file: its own kernel from the PSF folder, or its estimate."""
        request, arg = self.request, self.request.psf
        if arg.kind == "each":
            from deblur.psf import load_psf

            psf_file = arg.folder / rel / f"{src.stem}.npy"
            if not psf_file.is_file():
                psf_file = arg.folder / f"{src.stem}.npy"
            if not psf_file.is_file():
                raise DeblurError(f"{src}: no PSF file {psf_file}")
            return request.with_kernel(load_psf(psf_file))
        if arg.kind == "auto" and (request.method != "auto" or self.save_psf is not None):
            from deblur.restoration.blind import estimate_psf

            k = estimate_psf(colour.working, arg.size)
            if self.save_psf is not None:
                _save_kernel(self.save_psf / rel, src.stem, k, self.overwrite, self.protect)
            return request.with_kernel(k)
        return request  # (auto estimates it itself, and says so)

    def _restore(self, src: Path, dst: Path) -> tuple[tuple[Path, ...], tuple, dict]:
        from deblur.api import restore_request
        from deblur.io.colour import plan_colour
        from deblur.io.results import FORMAT_EXTENSIONS, read_input, write_result
        from deblur.restoration.auto import is_delta
        from deblur.restoration.verdict import mark_sharp_input

        protected = {Path(os.path.abspath(p)) for p in self.protect}
        if dst != STDIO and Path(os.path.abspath(dst)) in protected:
            raise DeblurError(f"{dst}: is an input file; refusing to overwrite it")
        if dst != STDIO and dst.exists() and not self.overwrite:
            raise DeblurError(f"{dst}: exists (use {ARG.overwrite} to replace it)")
        opts = self.request.options
        stdin = sys.stdin.buffer if src == STDIO else None
        image, original = read_input(src, opts.max_pixels, stdin)
        colour = plan_colour(image.color, image.icc_profile)  # sRGB to work on
        request = self._kernel(src, src.relative_to(self.bases[src]).parent, colour)
        result, report = restore_request(colour.working, request, return_report=True)
        estimated = self.request.psf.kind == "auto" and request.psf.kind == "kernel"
        if estimated and report and is_delta(request.psf.kernel):
            report = mark_sharp_input(report)  # the input's own estimate is a delta
        kept = opts.strength == 0 or (report is not None and report.action != "kept")
        out_ext = self.ext or (dst if dst != STDIO else src).suffix
        if dst == STDIO and src == STDIO and self.ext is None:
            out_ext = FORMAT_EXTENSIONS[image.format]
        written, more = write_result(
            None if dst == STDIO else dst,
            image,
            colour,
            result,
            kept_input=kept,
            ext=out_ext,
            quality=self.quality,
            overwrite=self.overwrite,
            protect=self.protect,
            original=original,
            stream=sys.stdout.buffer if dst == STDIO else None,
        )
        notes, info = (), {}
        if report is not None:
            info = dataclasses.asdict(report)
            if report.choice:
                notes = (f"auto: used {report.method}, {report.choice}",)
            if report.note:
                notes += (report.note,)
        return (() if written is None else (written,)), notes + more, info


def _other_inputs(path: Path, psf_dir: Path | None, network: bool, weights: Any) -> list[Path]:
    """Files read that ``path`` may be besides the images and a PSF file: ``path`` itself
    when it is a file of the PSF folder, the default weights and the model card."""
    found = []
    if psf_dir is not None and path.is_file() and psf_dir.resolve() in path.resolve().parents:
        found.append(path)
    if network:
        if weights is None:
            from deblur.models import default_weights_path

            weights = default_weights_path()
        if weights is not None:
            found += [Path(weights), Path(weights).with_suffix(".json")]
    return found


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
