"""The ``deblur`` command line's shared parts: the app, option types, errors, progress.

Heavy imports (torch, OpenCV, the network) happen inside the commands so that
``deblur --help`` stays fast. Every command reports bad input as one line
``error: ...`` on stderr and exits with status 1 (a file failed) or 2 (bad usage).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from deblur import __version__
from deblur.cli._help import _names_as_the_os_gives_them, _readable_help
from deblur.constants import (
    BOUNDARIES,
    DEVICES,
    MAX_ITERATIONS,
    METHODS,
    WIENER_REGS,
    RestoreOptions,
)
from deblur.errors import DeblurError, UsageError, one_line
from deblur.paths import refuse_overwrite

# click's exceptions as used by this typer (its own vendored copy since typer 0.2x).
_cx = sys.modules[typer.BadParameter.__module__]
_NoArgsIsHelp = getattr(_cx, "NoArgsIsHelpError", ())
_Abort = (getattr(_cx, "Abort", typer.Abort), typer.Abort)


_COMMAND_ORDER = tuple(
    "restore blur benchmark serve train export export-onnx convert-checkpoint".split()
)


class _OneLineErrors(TyperGroup):
    """Report click's own usage errors (unknown option, bad choice, missing argument) as
    one ``error:`` line with exit status 2, like every other error of the command line;
    and keep every command's help readable (:func:`_readable_help`)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _readable_help(command)
        return command

    def list_commands(self, ctx: Any) -> list[str]:
        """Commands in the order a user meets them (any others after, as registered)."""
        names = list(super().list_commands(ctx))
        first = [n for n in _COMMAND_ORDER if n in names]
        return first + [n for n in names if n not in first]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list with each command's first sentence whole (wrapped, not cut)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        _names_as_the_os_gives_them()
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


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A ``str`` enum of the library's own name list (the CLI never repeats it)."""
    return Enum(name, [(v, v) for v in values], type=str)  # type: ignore[return-value]


Method = _choices("Method", METHODS)
Boundary = _choices("Boundary", BOUNDARIES)
Device = _choices("Device", DEVICES)
WienerReg = _choices("WienerReg", WIENER_REGS)
_R = RestoreOptions()


# --- Options shared by several commands (declared once) ---------------------------------

Iterations = Annotated[
    int,
    typer.Option(
        "--iterations",
        min=1,
        max=MAX_ITERATIONS,
        metavar="N",
        help=f"Richardson-Lucy iterations (rl), at most {MAX_ITERATIONS:,}.",
    ),
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
        help="CPU threads to use (at most the CPUs this process may run on); default: all.",
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
MaxPixels = Annotated[
    int | None,
    typer.Option(
        "--max-pixels",
        min=1,
        metavar="N",
        show_default=False,
        help="Largest image accepted, in pixels; default: $DEBLUR_MAX_PIXELS or 25,000,000 "
        "(about 3 GB to restore).",
    ),
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


def _error(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _file_error(path: Path, e: BaseException | str) -> None:
    """Report a failure on one file as one line, naming the file once."""
    msg = e if isinstance(e, str) else one_line(e)
    if str(path) not in msg and path.name not in msg:
        msg = f"{path}: {msg}"
    typer.echo(f"error: {msg}", err=True)


def _cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn bad input at the command boundary into one ``error:`` line and an exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UsageError as e:  # the library names its parameters; the flags are shown
            _error(one_line(e, flag), 2)
        except (DeblurError, ValueError, OSError) as e:
            _error(one_line(e, flag), 1)

    return wrapper


def refuse_inputs(path: Path | None, inputs: Iterable[Any], what: str) -> None:
    """Refuse to write ``path`` (``what``: how the command names it, such as ``--json``)
    when it is the same file as one of ``inputs`` (hard and symbolic links included):
    inputs are never overwritten, and nothing has been written yet."""
    refuse_overwrite(path, inputs, option=what)


def flag(option: str) -> str:
    """The command line's name of a library parameter: ``tile_overlap`` is
    ``--tile-overlap``, ``report`` is ``--json``, ``output`` is ``-o``; a name that is not
    a parameter's (``--json``, ``WEIGHTS``) is kept."""
    if not option.isidentifier() or option.isupper():
        return option
    return _FLAGS.get(option, "--" + option.replace("_", "-"))


_FLAGS = {"report": "--json", "output": "-o", "methods": "--method"}


def _limit_pixels(max_pixels: int | None) -> None:
    """--max-pixels for ``train`` alone, whose loader workers read images with the library's
    default limit: the documented override ``$DEBLUR_MAX_PIXELS`` is the one way to reach
    them until the training settings take a pixel limit."""
    if max_pixels is not None:
        os.environ["DEBLUR_MAX_PIXELS"] = str(max_pixels)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _set_threads(threads: int | None) -> None:
    """``--threads N``: the thread pools of torch and OpenCV, clamped to the CPUs this process
    may use (more threads than CPUs only compete; tens of thousands crash the math
    libraries)."""
    if threads is not None:
        import cv2
        import torch

        threads = min(threads, available_cpus())
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


def outcome_error(outcome: Any) -> str | None:
    """A failed file's error as the command line words it (its flags for the parameters)."""
    if outcome.error is None or outcome.cause is None:
        return outcome.error
    from deblur.files import file_error

    return file_error(outcome.source, outcome.cause, flag)


def report(outcomes, total: int, verb: str) -> int:
    """Print each file's outcome (written paths on stdout, errors and notes on stderr) with
    a progress bar on a terminal, then a summary line for batches; returns the failures."""
    progress = _Progress(total)
    done_ok = failed = 0
    noted = 0
    for done, outcome in enumerate(outcomes, 1):
        progress.clear()
        for note in outcome.notes:
            typer.echo(f"{outcome.source}: {note}", err=True)
        noted += any("kept the input" in note for note in outcome.notes)
        if outcome.error:
            typer.echo(f"error: {outcome_error(outcome)}", err=True)
            failed += 1
        else:
            for path in outcome.written:
                typer.echo(str(path))
            done_ok += 1
        progress.update(done, outcome.source.name)
        if outcome.stopped:  # the error concerns every file: the rest were not tried
            break
    progress.clear()
    if total > 1:
        extra = f" ({noted} kept the input: see the notes above)" if noted else ""
        untried = total - done_ok - failed
        rest = f", {untried} not tried (the error above concerns every file)" if untried else ""
        typer.echo(f"{done_ok} {verb}{extra}, {failed} failed{rest}", err=True)
    return failed
