"""``deblur export-onnx``: the network as an ONNX file (:mod:`deblur.models.onnx_export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deblur.cli._common import Overwrite, _cli_errors, app, refuse_inputs


@app.command("export-onnx")
@_cli_errors
def export_onnx(
    weights: Annotated[
        Path,
        typer.Argument(
            metavar="WEIGHTS", help="Weights file (.safetensors), e.g. weights/base.safetensors."
        ),
    ],
    out: Annotated[Path, typer.Argument(metavar="OUT.onnx", help="The ONNX file to write.")],
    overwrite: Overwrite = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Compare the file with PyTorch through onnxruntime on random inputs of odd "
            "sizes (skipped with a note when onnxruntime is not installed).",
        ),
    ] = True,
) -> None:
    """Export the network as an ONNX file, for other runtimes.

    Input 'image' and output 'sharp' are float32 (N, 3, H, W), RGB in [0, 1], with N, H
    and W dynamic (H and W at least 16 for base).

    The model is the network's untiled output, clipped to [0, 1] (the result check is not
    part of it). Needs the onnx package: pip install 'deblur[onnx]'.
    """
    from deblur.models.onnx_export import CHECK_SIZES, check_onnx
    from deblur.models.onnx_export import export_onnx as export

    refuse_inputs(out, [weights, weights.with_suffix(".json")], "OUT.onnx")
    written = export(weights, out, overwrite=overwrite)
    typer.echo(str(written))
    if not check:
        return
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        note = "not checked: onnxruntime is not installed (pip install 'deblur[onnx]')"
        typer.echo(note, err=True)
        return
    diff = check_onnx(weights, written)
    sizes = ", ".join(f"{h}x{w}" for h, w in CHECK_SIZES)
    typer.echo(f"checked with onnxruntime on {sizes}: max abs difference {diff:.2e}", err=True)
    if not diff < 1e-4:
        message = f"{written}: differs from PyTorch by {diff:.2e} (more than 1e-4)"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1)
