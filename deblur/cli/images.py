"""``deblur restore`` and ``deblur blur``: thin commands over :mod:`deblur.batch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deblur.cli._common import (
    _R,
    Boundary,
    Device,
    DeviceOpt,
    Iterations,
    MaxPixels,
    Method,
    Nsr,
    Overwrite,
    Recursive,
    Threads,
    UsageError,
    Weights,
    WienerReg,
    _cli_errors,
    _set_threads,
    app,
    outcome_error,
    report,
)


@app.command()
@_cli_errors
def restore(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT",
            help="Image files, folders of images, glob patterns such as 'photos/*.jpg', or - "
            "for one image on standard input.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="OUT",
            help="Output file (for one input: OUT with an image extension), - for standard "
            "output, or a folder (existing, without an extension, or ending in /); default: "
            "beside each input as STEM_deblurred.EXT, standard output for standard input.",
            show_default=False,
        ),
    ] = None,
    ext: Annotated[
        str | None,
        typer.Option(
            "--ext",
            metavar="FORMAT",
            help="Format of the outputs: png, jpg, tif, webp or bmp; default: each input's "
            "own (or OUT's extension).",
            show_default=False,
        ),
    ] = None,
    quality: Annotated[
        int | None,
        typer.Option(
            "--quality",
            min=1,
            max=100,
            metavar="Q",
            help="JPEG quality, 1 to 100 (default 95); for WebP, lossy at Q (default: "
            "lossless). Other formats are lossless.",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        Method,
        typer.Option(
            "--method",
            "-m",
            help="net: blind network; rl: Richardson-Lucy; wiener: Wiener; hqs: TV prior "
            "(hqs/rl/wiener need --psf; with --psf auto, hqs measured best); auto: each "
            "photo's own blur estimate with hqs when the check trusts it, else net.",
        ),
    ] = Method("net"),
    psf: Annotated[
        str | None,
        typer.Option(
            "--psf",
            metavar="SPEC|FILE|DIR",
            help="Blur kernel for hqs/rl/wiener (optional for auto): gaussian:SIGMA, "
            "disk:RADIUS, motion:LENGTH,ANGLE, shake:SIZE,SEED, a .npy/image file, a folder "
            "holding STEM.npy per input, or auto / auto:SIZE (estimated from each image).",
            show_default=False,
        ),
    ] = None,
    iterations: Iterations = _R.iterations,
    nsr: Nsr = _R.nsr,
    wiener_reg: Annotated[
        WienerReg, typer.Option("--wiener-reg", help="Wiener regulariser (wiener).")
    ] = WienerReg(_R.wiener_reg),
    boundary: Annotated[
        Boundary, typer.Option("--boundary", help="Image boundary model (rl/wiener).")
    ] = Boundary(_R.boundary),
    accelerate: Annotated[
        bool, typer.Option("--accelerate", help="Accelerated Richardson-Lucy (rl).")
    ] = _R.accelerate,
    suffix: Annotated[
        str | None,
        typer.Option(
            "--suffix",
            metavar="S",
            help="Added to output file stems; default: '' with -o, '_deblurred' without.",
            show_default=False,
        ),
    ] = None,
    recursive: Recursive = False,
    overwrite: Overwrite = False,
    weights: Weights = None,
    tile: Annotated[
        int | None,
        typer.Option(
            "--tile",
            min=0,
            metavar="PX",
            help="Run the network on tiles of PX pixels to bound memory (net); 0: never; "
            "default: only very large images.",
            show_default=False,
        ),
    ] = None,
    tile_overlap: Annotated[
        int | None,
        typer.Option(
            "--tile-overlap",
            min=0,
            metavar="PX",
            help="Overlap between tiles (net); default: the network runner's.",
            show_default=False,
        ),
    ] = None,
    guard: Annotated[
        bool,
        typer.Option(
            "--guard/--no-guard",
            help="Check each result; a doubtful one, or one that changed little, keeps the input.",
        ),
    ] = _R.guard,
    strength: Annotated[
        float,
        typer.Option(
            "--strength",
            min=0.0,
            max=1.0,
            metavar="S",
            help="Blend between the input (0) and the result (1).",
        ),
    ] = _R.strength,
    save_psf: Annotated[
        Path | None,
        typer.Option(
            "--save-psf",
            metavar="DIR",
            show_default=False,
            help="With --psf auto: write each estimate as DIR/<relative path>/STEM.npy "
            "(what --psf DIR reads) and a preview STEM_psf.png.",
        ),
    ] = None,
    max_pixels: MaxPixels = None,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="FILE",
            show_default=False,
            help="Write each file's outcome (output, error, the check's figures) as JSON.",
        ),
    ] = None,
    device: DeviceOpt = Device(_R.device),
    threads: Threads = None,
) -> None:
    """Restore blurred photos, keeping their channels, bit depth, ICC profile and EXIF.

    EXIF orientation is applied and reset to 1. A photo with a profile other than sRGB is
    restored in sRGB and written back in its own colours with its profile; a photo the
    check keeps (or --strength 0) is copied unchanged."""
    from deblur.batch import restore_files
    from deblur.request import OPTION_NAMES, make_request

    given = locals()  # the options of the request, as the library names them
    options = {name: getattr(given[name], "value", given[name]) for name in OPTION_NAMES}
    target = (ext or ("" if output in (None, "-") else Path(output).suffix)).lower().lstrip(".")
    if quality is not None and target in ("png", "tif", "tiff", "bmp"):
        raise UsageError(f"--quality is for JPEG and WebP outputs; {target} is lossless")
    request = make_request(Method(method).value, psf, folders=True, **options)
    where = dict(output=output, suffix=suffix, recursive=recursive, overwrite=overwrite, ext=ext)
    plan, outcomes = restore_files(
        inputs, request=request, save_psf=save_psf, quality=quality, report=json_file, **where
    )
    _set_threads(threads)
    records: list = []
    if json_file is not None:
        outcomes = _recorded(outcomes, records)
    failed = report(outcomes, len(plan), "restored")
    if json_file is not None:
        import json

        from deblur.atomic import atomic_write

        atomic_write(json_file, json.dumps({"files": records}, indent=2) + "\n")
    if failed:
        raise typer.Exit(1)


def _recorded(outcomes, records: list):
    """Pass outcomes through, keeping a JSON-able record of each."""
    for o in outcomes:
        written = [str(p) for p in o.written]
        record = {"input": str(o.source), "output": written, "error": outcome_error(o)}
        records.append({**record, "notes": list(o.notes), "check": o.info or None})
        yield o


@app.command()
@_cli_errors
def blur(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="SHARP",
            help="Sharp images: files, folders or glob patterns.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="DATASET",
            help="Dataset folder to fill with sharp/NAME.png, blur/NAME.png, psf/NAME.npy.",
            show_default=False,
        ),
    ],
    psf: Annotated[
        str | None,
        typer.Option(
            "--psf",
            metavar="SPEC|FILE",
            help="One kernel for every image: gaussian:SIGMA, disk:RADIUS, "
            "motion:LENGTH,ANGLE, shake:SIZE,SEED or a .npy/image file.",
            show_default=False,
        ),
    ] = None,
    shake: Annotated[
        str | None,
        typer.Option(
            "--shake",
            metavar="MIN,MAX",
            help="A random camera-shake kernel per image, of a size drawn from MIN..MAX "
            "pixels; the default (11,31) when --psf is not given.",
            show_default=False,
        ),
    ] = None,
    noise: Annotated[
        float,
        typer.Option("--noise", min=0.0, metavar="SIGMA", help="Gaussian noise std on [0, 1]."),
    ] = 0.01,
    seed: Annotated[int, typer.Option("--seed", min=0, metavar="S", help="Random seed.")] = 0,
    per_image: Annotated[
        int,
        typer.Option("--per-image", min=1, metavar="K", help="Blurred variants NAME_k per image."),
    ] = 1,
    recursive: Recursive = False,
    overwrite: Overwrite = False,
    max_pixels: MaxPixels = None,
) -> None:
    """Make a blurred/sharp dataset from sharp photos.

    Each blurred image is y = quantize8(clip(k * x + noise)). Sharp copies are written
    as 8-bit PNG (the blur is applied to exactly those values), blurred images as 8-bit
    PNG and kernels as float32 .npy, all reproducible for a given --seed. Alpha is dropped.
    """
    from deblur.batch import blur_files

    blur = dict(psf=psf, shake=shake, noise=noise, seed=seed, per_image=per_image)
    where = dict(recursive=recursive, overwrite=overwrite, max_pixels=max_pixels)
    names, outcomes = blur_files(inputs, output, **blur, **where)
    if report(outcomes, len(names), "blurred"):
        raise typer.Exit(1)
