"""``deblur benchmark``: a thin command over :mod:`deblur.evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deblur.cli._common import (
    _R,
    Device,
    DeviceOpt,
    Iterations,
    MaxPixels,
    Nsr,
    Threads,
    UsageError,
    Weights,
    _cli_errors,
    _Progress,
    _set_threads,
    app,
    refuse_inputs,
)
from deblur.paths import same_file


@app.command()
@_cli_errors
def benchmark(
    dataset: Annotated[
        Path,
        typer.Argument(
            metavar="DATASET",
            help="Dataset folder: blur/NAME.png, sharp/NAME.png, optional psf/NAME.npy "
            "(any folder named blur with a sibling sharp, e.g. GoPro).",
            show_default=False,
        ),
    ],
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            "-m",
            metavar="LIST",
            help="Comma-separated methods among none,rl,wiener,hqs,net,rl-auto,wiener-auto,"
            "hqs-auto (none: the blurred input; *-auto: a kernel estimated from the blurred "
            "image alone). Default: none, plus rl,wiener when every pair has a PSF, plus net "
            "when weights are available.",
            show_default=False,
        ),
    ] = None,
    iterations: Iterations = _R.iterations,
    nsr: Nsr = _R.nsr,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Write per-image and mean results as JSON.",
            show_default=False,
        ),
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            metavar="FILE",
            help="Write per-image and mean results as CSV.",
            show_default=False,
        ),
    ] = None,
    crop: Annotated[
        int, typer.Option("--crop", min=0, metavar="N", help="Pixels cropped from each border.")
    ] = 0,
    shift: Annotated[
        int,
        typer.Option(
            "--shift", min=0, metavar="N", help="Best alignment searched within +/-N pixels."
        ),
    ] = 0,
    y_channel: Annotated[
        bool, typer.Option("--y-channel", help="Score the luma (Y) channel only.")
    ] = False,
    weights: Weights = None,
    guard: Annotated[
        bool,
        typer.Option("--guard/--no-guard", help="Score checked results (as restore gives them)."),
    ] = _R.guard,
    device: DeviceOpt = Device(_R.device),
    max_pixels: MaxPixels = None,
    threads: Threads = None,
) -> None:
    """Score methods on a dataset: mean PSNR, SSIM and seconds per image."""
    from deblur import evaluate as bench
    from deblur.datasets import find_pairs

    if not dataset.is_dir():
        raise UsageError(f"{dataset}: no such folder")
    pairs = find_pairs(dataset)
    if method is None:
        net = weights is not None
        if not net:
            from deblur.models import default_weights_path

            net = default_weights_path() is not None
        methods = bench.default_methods(pairs, net)
    else:
        methods = bench.parse_methods(method)
    _refuse_inputs(json_file, csv_file, pairs, methods, weights)
    _set_threads(threads)
    progress = _Progress(len(pairs))
    results = bench.run_benchmark(
        dataset,
        methods,
        iterations=iterations,
        nsr=nsr,
        crop=crop,
        shift=shift,
        y_channel=y_channel,
        weights=weights,
        device=Device(device).value,
        guard=guard,
        progress=lambda done, total, key: progress.update(done, key),
        pairs=pairs,
        max_pixels=max_pixels,
    )
    progress.clear()
    typer.echo(bench.format_table(results))
    if json_file is not None:
        bench.write_json(results, json_file)
    if csv_file is not None:
        bench.write_csv(results, csv_file)
    failed = False
    for m in results["methods"]:
        errors = [r for r in results["images"] if r["method"] == m and r["error"]]
        if errors:
            failed = True
            typer.echo(
                f"error: {m} failed on {len(errors)} of {results['pairs']} images, "
                f"first: {errors[0]['error']}",
                err=True,
            )
    if failed:
        raise typer.Exit(1)


def _refuse_inputs(json_file, csv_file, pairs, methods: list[str], weights) -> None:
    """Refuse a report file that is a file of the dataset (a blurred or sharp image or a
    PSF), the network's weights or model card, or both reports at once."""
    if json_file is None and csv_file is None:
        return
    inputs = [f for p in pairs for f in (p.blur, p.sharp, p.psf) if f is not None]
    if "net" in methods or "auto" in methods:
        if weights is None:
            from deblur.models import default_weights_path

            weights = default_weights_path()
        if weights is not None:
            inputs += [Path(weights), Path(weights).with_suffix(".json")]
    refuse_inputs(json_file, inputs, "--json")
    refuse_inputs(csv_file, inputs, "--csv")
    if json_file is not None and csv_file is not None and same_file(json_file, csv_file):
        raise UsageError(f"--json and --csv are the same file ({csv_file}): give two names")
