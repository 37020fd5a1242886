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
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deblur.errors import DeblurError, UsageError, one_line

__all__ = ["FileOutcome", "blur_files", "plan_outputs", "restore_files"]


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input file.

    Attributes
    ----------
    source : the input file.
    written : the files written for it (empty when it failed).
    error : one-line reason when it failed, else None.
    notes : one-line remarks on a success (e.g. the result check's verdict).
    info : figures about the result (e.g. the check's report as a dict), for ``--json``.
    """

    source: Path
    written: tuple[Path, ...] = ()
    error: str | None = None
    notes: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)


def _file_error(path: Path, e: BaseException) -> str:
    msg = one_line(e)
    return msg if (str(path) in msg or path.name in msg) else f"{path}: {msg}"


_NAME_MAX = 255  # bytes in a file name (Linux, macOS, Windows)


STDIO = Path("-")
"""An input or output of ``-``: standard input or standard output (one image)."""


def plan_outputs(
    inputs: list[str],
    files: list[tuple[Path, Path]],
    output: str | Path | None,
    suffix: str | None,
    ext: str | None = None,
) -> list[tuple[Path, Path]]:
    """``(input, output)`` for each input file.

    ``output`` is one file (for a single input, with an image extension), ``-`` (standard
    output, for a single input) or a folder (an existing one, one named without an
    extension, or one given with a trailing ``/``; the inputs' relative layout is kept);
    None writes ``STEM_deblurred.EXT`` beside each input (``suffix`` replaces
    ``_deblurred``), and standard input to standard output. ``ext`` (``.png``, ...) replaces
    each input's extension. Raises UsageError when two inputs would be written to one
    output, ``output`` has an extension that is not an image format's, names a file where
    a folder is needed, or disagrees with ``ext``.
    """
    from deblur.io import IMAGE_EXTENSIONS

    if suffix is not None and (set(suffix) & {"/", "\\", "\0"} or suffix in (".", "..")):
        raise UsageError(f"--suffix {suffix!r}: a suffix is part of a file name (no / or \\)")
    folder = isinstance(output, str) and output.endswith(("/", os.sep))
    output = None if output is None else Path(output)
    single = len(inputs) == 1 and (inputs[0] == "-" or Path(inputs[0]).is_file())
    plan: list[tuple[Path, Path]] = []
    if output == STDIO or (output is None and files[0][0] == STDIO):
        if not single:
            raise UsageError("-o - (standard output) takes one input image")
        plan = [(files[0][0], STDIO)]
    elif output is not None and not folder and output.suffix and not output.is_dir():
        if output.suffix.lower() not in IMAGE_EXTENSIONS:
            known = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise UsageError(
                f"{output}: '{output.suffix}' is not an image extension ({known}); for a"
                " folder of that name, end it with /"
            )
        if not single:
            raise UsageError(f"{output}: several inputs need a folder, not an image file")
        if ext is not None and output.suffix.lower() != ext:
            raise UsageError(f"-o {output} and --ext {ext[1:]} disagree: give one of them")
        plan = [(files[0][0], output)]
    elif output is not None:
        if output.exists() and not output.is_dir():
            raise UsageError(f"{output}: exists and is not a folder (several inputs need a folder)")
        if files[0][0] == STDIO:
            raise UsageError("standard input needs -o FILE with an image extension, or -o -")
        sfx = "" if suffix is None else suffix
        for path, base in files:
            rel = path.relative_to(base)
            plan.append((path, output / rel.parent / f"{path.stem}{sfx}{ext or path.suffix}"))
    else:
        sfx = "_deblurred" if suffix is None else suffix
        plan = [(p, p.with_name(f"{p.stem}{sfx}{ext or p.suffix}")) for p, _ in files]
    seen: dict[Path, Path] = {}
    for src, dst in plan:
        if len(os.fsencode(dst.name)) > _NAME_MAX:
            raise UsageError(
                f"{src}: its output name {dst.name[:40]}...{dst.suffix} would be"
                f" {len(os.fsencode(dst.name))} bytes, more than the {_NAME_MAX} a file name"
                " may have; give a shorter --suffix, or -o NAME for one file"
            )
        key = Path(os.path.abspath(dst))
        if key in seen:
            raise UsageError(f"{seen[key]} and {src} would both be written to {dst}")
        seen[key] = src
    return plan


def _expand(inputs: list[str], recursive: bool) -> list[tuple[Path, Path]]:
    from deblur.datasets import expand_inputs

    try:
        return expand_inputs(inputs, recursive)
    except ValueError as e:
        raise UsageError(one_line(e)) from None


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
    files = [(STDIO, Path("."))] if inputs == ["-"] else _expand(inputs, recursive)
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
                yield FileOutcome(src, error=_file_error(src, e))
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


_LAYOUT = (("sharp", ".png"), ("blur", ".png"), ("psf", ".npy"))
MAX_NOISE = 1.0
"""Largest noise standard deviation ``blur_files`` takes (on [0, 1]: more is all noise)."""


def _parse_shake(spec: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in spec.split(","))
    except ValueError:
        raise UsageError(f"--shake {spec}: expected MIN,MAX kernel sizes such as 11,31") from None
    if not 3 <= lo <= hi:
        raise UsageError(f"--shake {spec}: expected 3 <= MIN <= MAX")
    return lo, hi


def blur_files(
    inputs: list[str],
    output: Path,
    *,
    psf: str | None = None,
    shake: str | None = None,
    noise: float = 0.01,
    seed: int = 0,
    per_image: int = 1,
    recursive: bool = False,
    overwrite: bool = False,
    max_pixels: int | None = None,
) -> tuple[list[tuple[str, Path]], Iterator[FileOutcome]]:
    """Make a blurred/sharp dataset from sharp photos; the loop of ``deblur blur``.

    Each input ``NAME`` gives ``output/sharp/NAME.png`` (the 8-bit sharp image the blur is
    applied to), ``output/blur/NAME.png`` (``quantize8(clip(k * x + n))``, reflect boundary,
    Gaussian noise of std ``noise`` on [0, 1]) and ``output/psf/NAME.npy`` (the float32
    kernel), reproducibly for a given ``seed`` (``per_image > 1`` makes ``NAME_k``).

    Parameters
    ----------
    psf : one kernel for every image (spec or file); else ``shake`` ``"MIN,MAX"``: a random
        camera shake per image of a size drawn from MIN..MAX (default 11,31).

    Returns
    -------
    names : ``(NAME, input)`` pairs, in order.
    outcomes : an iterator doing the work, one :class:`FileOutcome` per input.

    Raises
    ------
    UsageError
        Both ``psf`` and ``shake``, a bad spec, bad inputs or two inputs with one NAME.
    """
    if psf is not None and shake is not None:
        raise UsageError("give either --psf or --shake, not both")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)):
        raise UsageError(f"--noise {noise!r}: expected a number")
    if not 0 <= noise <= MAX_NOISE:  # NaN and the infinities fail too
        raise UsageError(f"--noise {noise}: the noise std must be in [0, {MAX_NOISE}] (on [0, 1])")
    if psf is not None and psf.strip().lower().startswith("auto"):
        raise UsageError("--psf auto estimates a kernel for restoring; blur needs a known PSF")
    from deblur.io.read import max_pixels_limit

    limit = max_pixels_limit(max_pixels)
    files = _expand(inputs, recursive)
    from deblur import psf as psflib

    kernel = shake_range = None
    if psf is not None:
        try:
            kernel = psflib.parse_psf(psf)
        except (ValueError, OSError) as e:
            raise UsageError(f"--psf {psf}: {one_line(e)}") from None
    else:
        shake_range = _parse_shake(shake or "11,31")
    names: dict[str, Path] = {}
    for src, base in files:
        name = src.relative_to(base).with_suffix("").as_posix()
        if name in names:
            raise UsageError(f"{names[name]} and {src} would both be named {name}")
        names[name] = src
    if psf is not None and Path(psf).is_file():
        from deblur.paths import first_same_file

        variants = [n if per_image == 1 else f"{n}_{k}" for n in names for k in range(per_image)]
        planned = [output / sub / f"{v}{ext}" for v in variants for sub, ext in _LAYOUT]
        clash = first_same_file(psf, planned)
        if clash is not None:
            raise UsageError(f"--psf {psf}: is the output {clash}; refusing to overwrite it")

    def run() -> Iterator[FileOutcome]:
        import io

        import numpy as np

        from deblur.atomic import atomic_write
        from deblur.io import read_image, write_image
        from deblur.synth import simple_blur

        protect = tuple(src for src, _ in files)
        for name, src in names.items():
            try:
                image = read_image(src, max_pixels=limit)
                sharp = (np.round(np.clip(image.color, 0, 1) * 255) / 255).astype(np.float32)
                written = []
                for k in range(per_image):
                    variant = name if per_image == 1 else f"{name}_{k}"
                    rng = np.random.default_rng([seed, zlib.crc32(os.fsencode(name)), k])
                    kernel_k = kernel
                    if shake_range is not None:
                        size = int(rng.integers(shake_range[0], shake_range[1] + 1))
                        kernel_k = psflib.camera_shake(size, rng)
                    psflib.check_psf_fits(kernel_k, sharp.shape[:2])
                    blurred = simple_blur(sharp, kernel_k, noise, rng)
                    for folder, data in (("sharp", sharp), ("blur", blurred)):
                        write_image(output / folder / f"{variant}.png", data, bit_depth=8,
                                    overwrite=overwrite, protect=protect)  # fmt: skip
                    buf = io.BytesIO()
                    np.save(buf, kernel_k)
                    atomic_write(output / "psf" / f"{variant}.npy", buf.getvalue(),
                                 overwrite=overwrite)  # fmt: skip
                    written.append(output / "blur" / f"{variant}.png")
            except (DeblurError, ValueError, OSError) as e:
                yield FileOutcome(src, error=_file_error(src, e))
                continue
            yield FileOutcome(src, written=tuple(written))

    return list(names.items()), run()
