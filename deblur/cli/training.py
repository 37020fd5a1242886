"""``deblur train``, ``deblur export`` and ``deblur convert-checkpoint``: thin commands over
:mod:`deblur.training`. Defaults come from :class:`~deblur.training.config.TrainConfig`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

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
)
from deblur.synth import BlurConfig
from deblur.training.config import TrainConfig, option_bounds

_T = TrainConfig(out="")
_B = BlurConfig()


def _b(name: str) -> dict:
    """A TrainConfig field's bounds as option keywords (declared once, in the schema)."""
    return option_bounds(name)


def _bb(name: str) -> dict:
    """A BlurConfig field's bounds as option keywords."""
    return option_bounds(name, BlurConfig)


@app.command()
@_cli_errors
def train(
    ctx: typer.Context,
    datasets: Annotated[
        list[Path] | None,
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
    ] = None,  # type: ignore[assignment]
    pairs: Annotated[
        list[Path] | None,
        typer.Option("--pairs", metavar="LIST", help="RealBlur-style list: 'sharp blur' lines."),
    ] = None,
    pairs_root: Annotated[
        Path | None,
        typer.Option("--pairs-root", metavar="DIR", help="Root of --pairs paths [list's folder]."),
    ] = None,
    sharp: Annotated[
        list[str] | None,
        typer.Option(
            "--sharp", metavar="PATH", help="Sharp photos to blur on the fly (folder/file/glob)."
        ),
    ] = None,
    skimage_data: Annotated[
        bool, typer.Option("--skimage-data", help="Add scikit-image's bundled photos.")
    ] = False,
    dead_leaves: Annotated[
        float,
        typer.Option(
            "--dead-leaves", **_b("dead_leaves"), metavar="P", help="Share of dead-leaves images."
        ),
    ] = _T.dead_leaves,
    smooth: Annotated[
        float,
        typer.Option(
            "--smooth", **_b("smooth"), metavar="P", help="Share of smooth (enlarged) crops."
        ),
    ] = _T.smooth,
    p_sharp: Annotated[
        float,
        typer.Option("--p-sharp", **_bb("p_sharp"), help="Share of pairs with no blur at all."),
    ] = _B.p_sharp,
    init: Annotated[
        Path | None,
        typer.Option(
            "--init", metavar="WEIGHTS", help="Start from these weights (.safetensors/.ckpt)."
        ),
    ] = None,
    val: Annotated[
        list[Path] | None,
        typer.Option("--val", metavar="DATASET", help="Validation pair dataset."),
    ] = None,
    val_sharp: Annotated[
        list[str] | None,
        typer.Option("--val-sharp", metavar="PATH", help="Validation photos (seeded blur)."),
    ] = None,
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            metavar="NAME",
            help="Network variant: {variants} (see the README's table).",
        ),
    ] = _T.variant,
    steps: Annotated[
        int, typer.Option("--steps", **_b("steps"), help="Optimizer steps in all.")
    ] = _T.steps,
    batch: Annotated[
        int, typer.Option("--batch", **_b("batch"), help="Global batch size.")
    ] = _T.batch,
    patch: Annotated[
        int, typer.Option("--patch", **_b("patch"), help="Training patch side (px).")
    ] = _T.patch,
    lr: Annotated[
        float, typer.Option("--lr", **_b("lr"), help="Peak learning rate (AdamW), > 0.")
    ] = _T.lr,
    ema: Annotated[
        float, typer.Option("--ema", **_b("ema"), help="EMA decay of weights (0: off), < 1.")
    ] = _T.ema,
    fft_loss: Annotated[
        float, typer.Option("--fft-loss", **_b("fft_loss"), help="Weight of FFT L1 loss.")
    ] = _T.fft_loss,
    max_shake: Annotated[
        int,
        typer.Option(
            "--max-shake",
            min=_B.shake_size[0],
            max=_bb("shake_size")["max"],
            help="Largest camera-shake PSF (px).",
        ),
    ] = _B.shake_size[1],
    max_noise: Annotated[
        float,
        typer.Option("--max-noise", **_bb("noise"), help="Largest noise std ([0, 1] scale)."),
    ] = _B.noise[1],
    p_linear: Annotated[
        float,
        typer.Option(
            "--p-linear", **_bb("p_linear"), help="Share of pairs blurred in linear light."
        ),
    ] = _B.p_linear,
    val_patch: Annotated[
        int, typer.Option("--val-patch", **_b("val_patch"), help="Side of validation crops (px).")
    ] = _T.val_patch,
    val_every: Annotated[
        int, typer.Option("--val-every", **_b("val_every"), help="Validate every N.")
    ] = _T.val_every,
    ckpt_every: Annotated[
        int, typer.Option("--ckpt-every", **_b("ckpt_every"), help="Write last.ckpt every N steps.")
    ] = _T.ckpt_every,
    resume: Annotated[bool, typer.Option("--resume", help="Continue RUN_DIR/last.ckpt.")] = False,
    seed: Annotated[
        int, typer.Option("--seed", **_b("seed"), help="Seed of the data stream.")
    ] = _T.seed,
    workers: Annotated[
        int, typer.Option("--workers", **_b("workers"), help="Loader processes.")
    ] = _T.workers,
    dist_timeout: Annotated[
        float, typer.Option("--dist-timeout", min=1, help="Process-group timeout (s), torchrun.")
    ] = 1800.0,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            min=1,
            help="Stop cleanly before this many seconds (checkpoint written, exit 0).",
        ),
    ] = None,
    data_root: Annotated[
        Path | None,
        typer.Option("--data-root", help="Folder that .txt photo lists are relative to."),
    ] = None,
    synth_device: Annotated[
        str,
        typer.Option(
            "--synth-device",
            metavar="cpu|device",
            help="Blur synthesis in the loader workers (cpu) or batched on the device.",
        ),
    ] = _T.synth_device,
    precision: Annotated[
        str, typer.Option("--precision", metavar="fp32|bf16", help="Forward precision on CUDA.")
    ] = _T.precision,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="Channels-last layout on CUDA.")
    ] = _T.channels_last,
    warmup: Annotated[
        int,
        typer.Option("--warmup", **_b("warmup"), help="Linear warm-up steps of the learning rate."),
    ] = _T.warmup,
    device: DeviceOpt = Device("auto"),
    max_pixels: MaxPixels = None,
    threads: Threads = None,
) -> None:
    """Train the network on blur/sharp pairs and/or sharp photos blurred on the fly."""
    _limit_pixels(max_pixels)
    import dataclasses

    from deblur import synth
    from deblur.training import TrainConfig, read_config_file
    from deblur.training import train as run

    # option -> TrainConfig field; blur options -> BlurConfig fields
    values = dict(
        datasets=tuple(str(d) for d in datasets or ()), pairs=tuple(str(p) for p in pairs or ()),
        pairs_root=str(pairs_root) if pairs_root else None, sharp=tuple(sharp or ()),
        data_root=str(data_root) if data_root else None, skimage_data=skimage_data,
        dead_leaves=dead_leaves, smooth=smooth, val=tuple(str(v) for v in val or ()),
        val_sharp=tuple(val_sharp or ()), variant=variant, steps=steps, batch=batch,
        patch=patch, lr=lr, ema=ema, fft_loss=fft_loss, val_patch=val_patch,
        val_every=val_every, ckpt_every=ckpt_every, seed=seed, warmup=warmup,
        init=str(init) if init else None, workers=workers, device=Device(device).value,
        synth_device=synth_device, precision=precision, channels_last=channels_last,
    )  # fmt: skip
    blur_values = dict(
        shake_size=(_B.shake_size[0], max_shake), noise=(_B.noise[0], max_noise),
        p_linear=p_linear, p_sharp=p_sharp,
    )  # fmt: skip
    blur_options = {"max_shake": "shake_size", "max_noise": "noise", "p_linear": "p_linear",
                    "p_sharp": "p_sharp"}  # fmt: skip

    def given(name: str) -> bool:
        src = ctx.get_parameter_source(name)
        return src is not None and src.name in ("COMMANDLINE", "ENVIRONMENT")

    settings = read_config_file(config) if config is not None else {}
    for name, value in values.items():
        if given(name) or name not in settings:
            settings[name] = value
    blur = settings.get("blur", synth.BlurConfig())
    changed = {f: blur_values[f] for o, f in blur_options.items() if given(o) or not config}
    settings["blur"] = dataclasses.replace(blur, **changed)
    if out is not None:
        settings["out"] = str(out)
    if not settings.get("out"):
        raise UsageError("give the run folder: --out RUN_DIR (or 'out' in the --config file)")
    cfg = TrainConfig(**settings)
    _set_threads(threads)
    rank = int(os.environ.get("RANK", "0"))

    def progress(line: str) -> None:
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    try:
        row = run(cfg, resume=resume, progress=progress if rank == 0 else None,
                  dist_timeout=dist_timeout, time_limit=time_limit)  # fmt: skip
    except KeyboardInterrupt as e:
        typer.echo(f"\n{e}; continue with --resume", err=True)
        raise typer.Exit(130) from None
    if rank == 0:
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
            typer.echo(f"trained {row['step']} steps into {cfg.out}{tail}")


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
    convert(old, new, trust=True)
    typer.echo(f"wrote {new}; resume with it as RUN_DIR/last.ckpt")
