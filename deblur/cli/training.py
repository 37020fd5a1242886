"""``deblur train``, ``deblur export`` and ``deblur convert-checkpoint``: thin commands over
:mod:`deblur.training`. Defaults and bounds come from the fields of
:class:`~deblur.training.config.TrainConfig` and :class:`~deblur.synth.BlurConfig`."""

from __future__ import annotations

import dataclasses
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from deblur.cli._common import (
    Device,
    DeviceOpt,
    MaxPixels,
    Overwrite,
    Threads,
    UsageError,
    _cli_errors,
    _limit_pixels,
    _set_threads,
    app,
    refuse_inputs,
)
from deblur.synth import BlurConfig
from deblur.training.config import BLUR_OPTIONS, DIST_TIMEOUT_S, TrainConfig, option_bounds

_T = TrainConfig(out="")
_B = BlurConfig()
#: Parameters of ``train`` that are settings of the run (the rest only say how to run it).
_SETTINGS = {f.name for f in dataclasses.fields(TrainConfig)} | set(BLUR_OPTIONS)


def _opt(flag: str, help: str, **kw: Any) -> Any:
    """A ``typer.Option`` whose bounds are those of the field it sets (declared once, in the
    schema): the field named like the flag, or the blur field of :data:`BLUR_OPTIONS`."""
    name = flag.removeprefix("--").replace("-", "_")
    if name in BLUR_OPTIONS:
        kw = {**option_bounds(BLUR_OPTIONS[name], BlurConfig), **kw}
    elif name in _SETTINGS:
        kw = {**option_bounds(name), **kw}
    return typer.Option(flag, help=help, **kw)


def _setting(value: Any) -> Any:
    """An option's value as a setting: paths as text, lists as lists, choices by value."""
    if isinstance(value, (list, tuple)):
        return [_setting(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return str(value) if isinstance(value, Path) else value


_Paths = list[Path] | None


@app.command()
@_cli_errors
def train(
    ctx: typer.Context,
    datasets: Annotated[
        _Paths,
        typer.Argument(
            metavar="DATASET",
            help="Pair datasets (blur/, sharp/; GoPro works as is).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="JSON file of training settings (options given here override it).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="RUN_DIR", help="Run folder (checkpoints, log)."),
    ] = None,
    pairs: Annotated[
        _Paths, _opt("--pairs", "RealBlur-style list: 'sharp blur' lines.", metavar="LIST")
    ] = None,
    pairs_root: Annotated[
        Path | None, _opt("--pairs-root", "Root of --pairs paths [list's folder].", metavar="DIR")
    ] = None,
    sharp: Annotated[
        list[str] | None,
        _opt("--sharp", "Sharp photos to blur on the fly (folder/file/glob).", metavar="PATH"),
    ] = None,
    skimage_data: Annotated[
        bool, _opt("--skimage-data", "Add scikit-image's bundled photos.")
    ] = _T.skimage_data,
    dead_leaves: Annotated[
        float, _opt("--dead-leaves", "Share of dead-leaves images.", metavar="P")
    ] = _T.dead_leaves,
    smooth: Annotated[
        float, _opt("--smooth", "Share of smooth (enlarged) crops.", metavar="P")
    ] = _T.smooth,
    p_sharp: Annotated[float, _opt("--p-sharp", "Share of pairs with no blur at all.")] = (
        _B.p_sharp
    ),
    init: Annotated[
        Path | None,
        _opt("--init", "Start from these weights (.safetensors/.ckpt).", metavar="WEIGHTS"),
    ] = None,
    val: Annotated[_Paths, _opt("--val", "Validation pair dataset.", metavar="DATASET")] = None,
    val_sharp: Annotated[
        list[str] | None, _opt("--val-sharp", "Validation photos (seeded blur).", metavar="PATH")
    ] = None,
    variant: Annotated[
        str,
        _opt("--variant", "Network variant: {variants} (see docs/network.md).", metavar="NAME"),
    ] = _T.variant,
    steps: Annotated[int, _opt("--steps", "Optimizer steps in all.")] = _T.steps,
    batch: Annotated[int, _opt("--batch", "Global batch size.")] = _T.batch,
    patch: Annotated[int, _opt("--patch", "Training patch side (px).")] = _T.patch,
    lr: Annotated[float, _opt("--lr", "Peak learning rate (AdamW), > 0.")] = _T.lr,
    ema: Annotated[float, _opt("--ema", "EMA decay of weights (0: off), < 1.")] = _T.ema,
    fft_loss: Annotated[float, _opt("--fft-loss", "Weight of FFT L1 loss.")] = _T.fft_loss,
    max_shake: Annotated[
        int, _opt("--max-shake", "Largest camera-shake PSF (px).", min=_B.shake_size[0])
    ] = _B.shake_size[1],
    max_noise: Annotated[
        float, _opt("--max-noise", "Largest noise std ([0, 1] scale).")
    ] = _B.noise[1],
    p_linear: Annotated[
        float, _opt("--p-linear", "Share of pairs blurred in linear light.")
    ] = _B.p_linear,
    val_patch: Annotated[int, _opt("--val-patch", "Side of validation crops (px).")] = _T.val_patch,
    val_every: Annotated[int, _opt("--val-every", "Validate every N.")] = _T.val_every,
    ckpt_every: Annotated[
        int, _opt("--ckpt-every", "Write last.ckpt every N steps.")
    ] = _T.ckpt_every,
    resume: Annotated[bool, typer.Option("--resume", help="Continue RUN_DIR/last.ckpt.")] = False,
    seed: Annotated[int, _opt("--seed", "Seed of the data stream.")] = _T.seed,
    workers: Annotated[int, _opt("--workers", "Loader processes.")] = _T.workers,
    dist_timeout: Annotated[
        float, _opt("--dist-timeout", "Process-group timeout (s), torchrun.", min=1)
    ] = DIST_TIMEOUT_S,
    time_limit: Annotated[
        float | None,
        _opt(
            "--time-limit",
            "Stop cleanly before this many seconds (checkpoint written, exit 0).",
            min=1,
        ),
    ] = None,
    data_root: Annotated[
        Path | None, _opt("--data-root", "Folder that .txt photo lists are relative to.")
    ] = None,
    synth_device: Annotated[
        str,
        _opt(
            "--synth-device",
            "Blur synthesis in the loader workers (cpu) or batched on the device.",
            metavar="cpu|device",
        ),
    ] = _T.synth_device,
    precision: Annotated[
        str, _opt("--precision", "Forward precision on CUDA.", metavar="fp32|bf16")
    ] = _T.precision,
    channels_last: Annotated[
        bool, _opt("--channels-last", "Channels-last layout on CUDA.")
    ] = _T.channels_last,
    warmup: Annotated[
        int, _opt("--warmup", "Linear warm-up steps of the learning rate.")
    ] = _T.warmup,
    device: DeviceOpt = Device(_T.device),
    max_pixels: MaxPixels = None,
    threads: Threads = None,
) -> None:
    """Train the network on blur/sharp pairs and/or sharp photos blurred on the fly."""
    _limit_pixels(max_pixels)
    from deblur.training import merge_settings, read_config_file
    from deblur.training import train as run

    def given(name: str) -> bool:
        src = ctx.get_parameter_source(name)
        return src is not None and src.name in ("COMMANDLINE", "ENVIRONMENT")

    # options given here, over the --config file's settings, over the fields' defaults
    options = {k: _setting(v) for k, v in ctx.params.items() if k in _SETTINGS and given(k)}
    file_settings = read_config_file(config) if config is not None else {}
    if out is None and not file_settings.get("out"):
        raise UsageError("give the run folder: --out RUN_DIR (or 'out' in the --config file)")
    cfg = TrainConfig(**merge_settings(options, file_settings))
    _set_threads(threads)
    rank = int(os.environ.get("RANK", "0"))
    try:
        row = run(
            cfg,
            resume=resume,
            progress=_progress if rank == 0 else None,
            dist_timeout=dist_timeout,
            time_limit=time_limit,
        )
    except KeyboardInterrupt as e:
        typer.echo(f"\n{e}; continue with --resume", err=True)
        raise typer.Exit(130) from None
    if rank == 0:
        _report(row, cfg.out)


def _progress(line: str) -> None:
    """A progress line on stderr: redrawn in place on a terminal, one line each elsewhere."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K" + line)
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _report(row: dict, out: str) -> None:
    """The closing line of ``train``: the steps trained, or where the time limit stopped."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    best = row.get("val_psnr")
    tail = f", last val PSNR {best:.2f} dB" if best is not None else ""
    if row.get("stopped") == "time limit":
        typer.echo(
            f"stopped at step {row['step']} (time limit){tail}; continue with the same"
            " command and --resume"
        )
    else:
        typer.echo(f"trained {row['step']} steps into {out}{tail}")


@app.command()
@_cli_errors
def export(
    checkpoint: Annotated[
        Path, typer.Argument(metavar="CHECKPOINT", help="RUN_DIR/best.ckpt or last.ckpt.")
    ],
    weights: Annotated[
        Path,
        typer.Argument(metavar="WEIGHTS", help="Output .safetensors (a NAME.json card beside it)."),
    ],
    description: Annotated[
        str | None,
        typer.Option("--description", metavar="TEXT", help="Free text for the model card."),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Write a checkpoint's weights as a self-describing .safetensors file and a model card."""
    from deblur.training import export_checkpoint

    if not checkpoint.is_file():
        raise UsageError(f"{checkpoint}: no such checkpoint")
    if weights.suffix != ".safetensors":
        raise UsageError(f"{weights}: the weights file must end in .safetensors")
    refuse_inputs(weights, [checkpoint], "WEIGHTS")
    refuse_inputs(weights.with_suffix(".json"), [checkpoint], "WEIGHTS' model card")
    if weights.exists() and not overwrite:
        raise UsageError(f"{weights}: exists (use --overwrite to replace it)")
    card = export_checkpoint(checkpoint, weights, description=description)
    typer.echo(f"wrote {weights} ({card['training']['steps']} steps, sha256 {card['sha256'][:12]})")


@app.command("convert-checkpoint")
@_cli_errors
def convert_checkpoint(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="Checkpoint of an earlier version.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="Where to write it (must not exist).")],
    trust: Annotated[
        bool,
        typer.Option("--trust", help="You trust OLD: reading it unpickles it, which can run code."),
    ] = False,
) -> None:
    """Rewrite an earlier version's checkpoint in the current format (which loads safely)."""
    from deblur.training import convert_checkpoint as convert

    if not trust:
        raise UsageError(
            f"{old}: converting unpickles the file, which can run code; add --trust if you trust it"
        )
    refuse_inputs(new, [old], "NEW")
    convert(old, new, trust=True)
    typer.echo(f"wrote {new}; resume with it as RUN_DIR/last.ckpt")
