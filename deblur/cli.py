"""The ``deblur`` command line: a thin layer over the library.

Heavy imports (torch, OpenCV, the network) happen inside the commands so that
``deblur --help`` stays fast. Every command reports bad input as one line
``error: ...`` on stderr and exits with status 1 (a file failed) or 2 (bad usage).
"""

from __future__ import annotations

import functools
import os
import sys
import zlib
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from deblur import __version__

# click's exceptions as used by this typer (its own vendored copy since typer 0.2x).
_cx = sys.modules[typer.BadParameter.__module__]
_NoArgsIsHelp = getattr(_cx, "NoArgsIsHelpError", ())
_Abort = (getattr(_cx, "Abort", typer.Abort), typer.Abort)


class _OneLineErrors(TyperGroup):
    """Report click's own usage errors (unknown option, bad choice, missing argument) as
    one ``error:`` line with exit status 2, like every other error of the command line."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _NoArgsIsHelp as e:
            e.show()
            sys.exit(e.exit_code)
        except _cx.UsageError as e:
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            typer.echo(f"error: {' '.join(e.format_message().split())}{hint}", err=True)
            sys.exit(e.exit_code)
        except _cx.ClickException as e:
            typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)
            sys.exit(e.exit_code)
        except _Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="deblur",
    help="Remove blur from photographs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Method(str, Enum):
    net = "net"
    rl = "rl"
    wiener = "wiener"


class Boundary(str, Enum):
    reflect = "reflect"
    periodic = "periodic"
    zero = "zero"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


# --- Options shared by several commands (declared once) ---------------------------------

Iterations = Annotated[
    int, typer.Option("--iterations", min=1, metavar="N", help="Richardson-Lucy iterations (rl).")
]
Nsr = Annotated[
    float,
    typer.Option("--nsr", metavar="X", help="Wiener noise-to-signal ratio (wiener), > 0."),
]
Weights = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        metavar="PATH",
        help="Network weights file (net); default: the shipped weights.",
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    Device, typer.Option("--device", help="Where the network runs (net); auto picks a GPU.")
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        metavar="N",
        help="CPU threads to use; default: all.",
        show_default=False,
    ),
]
Recursive = Annotated[
    bool, typer.Option("--recursive", "-r", help="Take images in subfolders of folder inputs.")
]
Overwrite = Annotated[
    bool,
    typer.Option("--overwrite", help="Replace existing outputs (input files are never replaced)."),
]
Inputs = Annotated[
    list[str],
    typer.Argument(
        metavar="INPUT",
        help="Image files, folders of images, or glob patterns such as 'photos/*.jpg'.",
        show_default=False,
    ),
]


# --- Error handling ----------------------------------------------------------------------


class UsageError(Exception):
    """Bad usage: reported as one line, exit status 2."""


def _message(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.filename}: {e.strerror}"
    return " ".join(str(e).split()) or type(e).__name__


def _error(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _file_error(path: Path, e: BaseException | str) -> None:
    """Report a failure on one file as one line, naming the file once."""
    msg = e if isinstance(e, str) else _message(e)
    if str(path) not in msg and path.name not in msg:
        msg = f"{path}: {msg}"
    typer.echo(f"error: {msg}", err=True)


def _cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn bad input at the command boundary into one ``error:`` line and an exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UsageError as e:
            _error(_message(e), 2)
        except (ValueError, OSError) as e:
            _error(_message(e), 1)

    return wrapper


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import cv2
        import torch

        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)


class _Progress:
    """A one-line progress bar on stderr, drawn only for batches on a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.enabled = total > 1 and sys.stderr.isatty()

    def update(self, done: int, label: str = "") -> None:
        if self.enabled:
            width = 30
            filled = width * done // self.total
            bar = "#" * filled + "-" * (width - filled)
            sys.stderr.write(f"\r\x1b[K[{bar}] {done}/{self.total} {label}"[:200])
            sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deblur {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Remove blur from photographs, make blurred test sets, and benchmark methods."""


# --- restore -----------------------------------------------------------------------------


def _plan_outputs(
    inputs: list[str],
    files: list[tuple[Path, Path]],
    output: Path | None,
    suffix: str | None,
) -> list[tuple[Path, Path]]:
    """(input, output) for each input file; raises UsageError on clashes."""
    from deblur.datasets import is_image_file

    single_file = len(inputs) == 1 and Path(inputs[0]).is_file()
    plan: list[tuple[Path, Path]] = []
    if output is not None and single_file and is_image_file(output) and not output.is_dir():
        plan = [(files[0][0], output)]
    elif output is not None:
        if output.exists() and not output.is_dir():
            raise UsageError(f"{output}: exists and is not a folder (several inputs need a folder)")
        sfx = "" if suffix is None else suffix
        for path, base in files:
            rel = path.relative_to(base)
            plan.append((path, output / rel.parent / f"{path.stem}{sfx}{path.suffix}"))
    else:
        sfx = "_deblurred" if suffix is None else suffix
        plan = [(path, path.with_name(f"{path.stem}{sfx}{path.suffix}")) for path, _ in files]
    seen: dict[Path, Path] = {}
    for src, dst in plan:
        key = Path(os.path.abspath(dst))
        if key in seen:
            raise UsageError(f"{seen[key]} and {src} would both be written to {dst}")
        seen[key] = src
    return plan


@app.command()
@_cli_errors
def restore(
    inputs: Inputs,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="OUT",
            help="Output file (one input file, OUT with an image extension) or folder; "
            "default: beside each input as STEM_deblurred.EXT.",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        Method,
        typer.Option(
            "--method",
            "-m",
            help="net: blind network; rl: Richardson-Lucy; wiener: Wiener (rl/wiener need --psf).",
        ),
    ] = Method.net,
    psf: Annotated[
        str | None,
        typer.Option(
            "--psf",
            metavar="SPEC|FILE|DIR",
            help="Blur kernel for rl/wiener: gaussian:SIGMA, disk:RADIUS, motion:LENGTH,ANGLE, "
            "shake:SIZE,SEED, a .npy/image file, or a folder holding STEM.npy per input.",
            show_default=False,
        ),
    ] = None,
    iterations: Iterations = 30,
    nsr: Nsr = 1e-2,
    boundary: Annotated[
        Boundary, typer.Option("--boundary", help="Image boundary model (rl/wiener).")
    ] = Boundary.reflect,
    accelerate: Annotated[
        bool, typer.Option("--accelerate", help="Accelerated Richardson-Lucy (rl).")
    ] = False,
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
    device: DeviceOpt = Device.auto,
    threads: Threads = None,
) -> None:
    """Restore blurred photos; writes images keeping their channels and bit depth."""
    from deblur.datasets import expand_inputs

    method_name = Method(method).value
    if not nsr > 0:
        raise UsageError(f"--nsr must be > 0, got {nsr}")
    if method_name in ("rl", "wiener") and psf is None:
        raise UsageError(f"--method {method_name} needs --psf (a spec, file or folder)")
    if method_name == "net" and psf is not None:
        raise UsageError("--psf is for --method rl or wiener; the network needs no PSF")
    try:
        files = expand_inputs(inputs, recursive)
    except ValueError as e:
        raise UsageError(_message(e)) from e

    from deblur.psf import load_psf, parse_psf

    kernel = psf_dir = None
    if psf is not None:
        if Path(psf).is_dir():
            psf_dir = Path(psf)
        else:
            try:
                kernel = parse_psf(psf)
            except (ValueError, OSError) as e:
                raise UsageError(f"--psf {psf}: {_message(e)}") from e

    plan = _plan_outputs(inputs, files, output, suffix)

    from deblur.api import restore as restore_image
    from deblur.io import read_image, write_image

    _set_threads(threads)
    if method_name == "net":
        from deblur.models import load_model

        load_model(weights, device=device.value)  # one clear error before any work
    options = dict(
        weights=weights,
        iterations=iterations,
        nsr=nsr,
        boundary=Boundary(boundary).value,
        accelerate=accelerate,
        tile=tile,
        tile_overlap=tile_overlap,
        device=Device(device).value,
    )
    protect = tuple(src for src, _ in plan)
    protected = {Path(os.path.abspath(p)) for p in protect}
    progress = _Progress(len(plan))
    restored = failed = 0
    for done, (src, dst) in enumerate(plan, 1):
        progress.update(done - 1, src.name)
        try:
            if Path(os.path.abspath(dst)) in protected:
                raise ValueError(f"{dst}: is an input file; refusing to overwrite it")
            if dst.exists() and not overwrite:
                raise ValueError(f"{dst}: exists (use --overwrite to replace it)")
            image = read_image(src)
            k = kernel
            if psf_dir is not None:
                psf_file = psf_dir / f"{src.stem}.npy"
                if not psf_file.is_file():
                    raise ValueError(f"{src}: no PSF file {psf_file}")
                k = load_psf(psf_file)
            result = restore_image(image.color, method_name, psf=k, **options)
            dst.parent.mkdir(parents=True, exist_ok=True)
            written = write_image(
                dst,
                result,
                alpha=image.alpha,
                bit_depth=image.bit_depth,
                overwrite=overwrite,
                protect=protect,
            )
        except (ValueError, OSError) as e:
            progress.clear()
            _file_error(src, e)
            failed += 1
            continue
        progress.clear()
        typer.echo(str(written))
        restored += 1
    progress.clear()
    if len(plan) > 1:
        typer.echo(f"{restored} restored, {failed} failed", err=True)
    if failed:
        raise typer.Exit(1)


# --- blur --------------------------------------------------------------------------------


def _parse_shake(spec: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in spec.split(","))
    except ValueError:
        raise UsageError(f"--shake {spec}: expected MIN,MAX kernel sizes such as 11,31") from None
    if not 3 <= lo <= hi:
        raise UsageError(f"--shake {spec}: expected 3 <= MIN <= MAX")
    return lo, hi


def _save_npy(path: Path, array: Any, overwrite: bool) -> None:
    import tempfile

    import numpy as np

    if path.exists() and not overwrite:
        raise ValueError(f"{path}: exists (use --overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
) -> None:
    """Make a blurred/sharp dataset from sharp photos: y = quantize8(clip(k * x + noise)).

    Sharp copies are written as 8-bit PNG (the blur is applied to exactly those
    values), blurred images as 8-bit PNG and kernels as float32 .npy, all reproducible
    for a given --seed. Alpha is dropped.
    """
    import numpy as np

    from deblur.datasets import expand_inputs

    if psf is not None and shake is not None:
        raise UsageError("give either --psf or --shake, not both")
    try:
        files = expand_inputs(inputs, recursive)
    except ValueError as e:
        raise UsageError(_message(e)) from e

    from deblur import psf as psflib

    kernel = None
    shake_range = None
    if psf is not None:
        try:
            kernel = psflib.parse_psf(psf)
        except (ValueError, OSError) as e:
            raise UsageError(f"--psf {psf}: {_message(e)}") from e
    else:
        shake_range = _parse_shake(shake or "11,31")

    names: dict[str, Path] = {}
    for src, base in files:
        name = src.relative_to(base).with_suffix("").as_posix()
        if name in names:
            raise UsageError(f"{names[name]} and {src} would both be named {name}")
        names[name] = src

    from deblur.io import read_image, write_image
    from deblur.synth import simple_blur

    protect = tuple(src for src, _ in files)
    progress = _Progress(len(files))
    made = failed = 0
    for done, (name, src) in enumerate(names.items(), 1):
        progress.update(done - 1, src.name)
        try:
            image = read_image(src)
            sharp = (np.round(np.clip(image.color, 0, 1) * 255) / 255).astype(np.float32)
            written = []
            for k in range(per_image):
                variant = name if per_image == 1 else f"{name}_{k}"
                rng = np.random.default_rng([seed, zlib.crc32(name.encode()), k])
                if shake_range is not None:
                    size = int(rng.integers(shake_range[0], shake_range[1] + 1))
                    kernel_k = psflib.camera_shake(size, rng)
                else:
                    kernel_k = kernel
                psflib.check_psf_fits(kernel_k, sharp.shape[:2])
                blurred = simple_blur(sharp, kernel_k, noise, rng)
                for folder, data in (("sharp", sharp), ("blur", blurred)):
                    path = output / folder / f"{variant}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_image(path, data, bit_depth=8, overwrite=overwrite, protect=protect)
                _save_npy(output / "psf" / f"{variant}.npy", kernel_k, overwrite)
                written.append(output / "blur" / f"{variant}.png")
        except (ValueError, OSError) as e:
            progress.clear()
            _file_error(src, e)
            failed += 1
            continue
        progress.clear()
        for path in written:
            typer.echo(str(path))
        made += 1
    progress.clear()
    if len(files) > 1:
        typer.echo(f"{made} blurred, {failed} failed", err=True)
    if failed:
        raise typer.Exit(1)


# --- benchmark ---------------------------------------------------------------------------


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
            help="Comma-separated methods among none,rl,wiener,net (none: the blurred "
            "input). Default: none, plus rl,wiener when every pair has a PSF, plus net "
            "when weights are available.",
            show_default=False,
        ),
    ] = None,
    iterations: Iterations = 30,
    nsr: Nsr = 1e-2,
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
    device: DeviceOpt = Device.auto,
    threads: Threads = None,
) -> None:
    """Score methods on a dataset: mean PSNR, SSIM and seconds per image."""
    from deblur import evaluate as bench
    from deblur.datasets import find_pairs

    if not nsr > 0:
        raise UsageError(f"--nsr must be > 0, got {nsr}")
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
        try:
            methods = bench.parse_methods(method)
        except ValueError as e:
            raise UsageError(f"--method: {_message(e)}") from e
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
        progress=lambda done, total, key: progress.update(done, key),
        pairs=pairs,
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


# --- train / export ----------------------------------------------------------------------


@app.command()
@_cli_errors
def train(
    datasets: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="DATASET",
            help="Pair datasets (blur/, sharp/; GoPro works as is).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="RUN_DIR", help="Run folder (checkpoints, log).")
    ] = ...,  # type: ignore[assignment]
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
            "--dead-leaves", min=0, max=1, metavar="P", help="Share of dead-leaves images."
        ),
    ] = 0.0,
    smooth: Annotated[
        float,
        typer.Option(
            "--smooth", min=0, max=1, metavar="P", help="Share of smooth (enlarged) crops."
        ),
    ] = 0.0,
    p_sharp: Annotated[
        float,
        typer.Option("--p-sharp", min=0, max=1, help="Share of pairs with no blur at all."),
    ] = 0.0,
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
    variant: Annotated[str, typer.Option("--variant", help="Network variant.")] = "base",
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimizer steps in all.")] = 20000,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Global batch size.")] = 8,
    patch: Annotated[int, typer.Option("--patch", min=16, help="Training patch side (px).")] = 128,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW).")] = 1e-3,
    ema: Annotated[float, typer.Option("--ema", help="EMA decay of weights (0: off).")] = 0.999,
    fft_loss: Annotated[float, typer.Option("--fft-loss", help="Weight of FFT L1 loss.")] = 0.05,
    max_shake: Annotated[
        int, typer.Option("--max-shake", min=7, help="Largest camera-shake PSF (px).")
    ] = 41,
    max_noise: Annotated[
        float, typer.Option("--max-noise", min=0, help="Largest noise std ([0, 1] scale).")
    ] = 0.02,
    p_linear: Annotated[
        float,
        typer.Option("--p-linear", min=0, max=1, help="Share of pairs blurred in linear light."),
    ] = 0.5,
    val_patch: Annotated[
        int, typer.Option("--val-patch", min=16, help="Side of validation crops (px).")
    ] = 256,
    val_every: Annotated[int, typer.Option("--val-every", min=1, help="Validate every N.")] = 500,
    ckpt_every: Annotated[
        int, typer.Option("--ckpt-every", min=1, help="Write last.ckpt every N steps.")
    ] = 200,
    resume: Annotated[bool, typer.Option("--resume", help="Continue RUN_DIR/last.ckpt.")] = False,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the data stream.")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Loader processes.")] = 1,
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
    device: DeviceOpt = Device.auto,
    threads: Threads = None,
) -> None:
    """Train the network on blur/sharp pairs and/or sharp photos blurred on the fly."""
    import dataclasses

    from deblur import synth
    from deblur.training import TrainConfig
    from deblur.training import train as run

    blur = dataclasses.replace(
        synth.BlurConfig(),
        shake_size=(7, max_shake),
        noise=(0.0, max_noise),
        p_linear=p_linear,
        p_sharp=p_sharp,
    )
    cfg = TrainConfig(
        out=str(out),
        datasets=tuple(str(d) for d in datasets or ()),
        pairs=tuple(str(p) for p in pairs or ()),
        pairs_root=str(pairs_root) if pairs_root else None,
        sharp=tuple(sharp or ()),
        data_root=str(data_root) if data_root else None,
        skimage_data=skimage_data,
        dead_leaves=dead_leaves,
        smooth=smooth,
        val=tuple(str(v) for v in val or ()),
        val_sharp=tuple(val_sharp or ()),
        variant=variant,
        steps=steps,
        batch=batch,
        patch=patch,
        lr=lr,
        ema=ema,
        fft_loss=fft_loss,
        blur=blur,
        val_patch=val_patch,
        val_every=val_every,
        ckpt_every=ckpt_every,
        seed=seed,
        init=str(init) if init else None,
        workers=workers,
        device=Device(device).value,
    )
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
    if weights.exists() and not overwrite:
        raise UsageError(f"{weights}: exists (use --overwrite to replace it)")
    card = export_checkpoint(checkpoint, weights, description=description)
    typer.echo(f"wrote {weights} ({card['training']['steps']} steps, sha256 {card['sha256'][:12]})")


def main() -> None:
    """Run the command line (``python -m deblur`` and the ``deblur`` script)."""
    app(prog_name="deblur")
