"""Batches of files: what happened to each input (:class:`FileOutcome`), where outputs go
(:func:`plan_outputs`), and the inputs a batch takes (:func:`expand`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deblur.errors import ARG, DeblurError, OptionError, UsageError, concerns_every_file, one_line

__all__ = ["STDIO", "FileOutcome", "expand", "failed", "file_error", "plan_outputs"]


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
    stopped : the error concerns every file (bad weights, a full or read-only disk): it is
        the batch's last outcome, and the files after it were not tried.
    cause : the error itself (traceback dropped), for a front end to word it its own way
        (:func:`file_error` with ``name``).
    """

    source: Path
    written: tuple[Path, ...] = ()
    error: str | None = None
    notes: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    cause: BaseException | None = field(default=None, repr=False, compare=False)


def failed(src: Path, e: BaseException) -> FileOutcome:
    """The outcome of ``src`` failing with ``e``."""
    e.__traceback__ = e.__context__ = e.__cause__ = None  # frames hold images
    return FileOutcome(src, error=file_error(src, e), stopped=concerns_every_file(e), cause=e)


def file_error(path: Path, e: BaseException, name: Callable[[str], str] | None = None) -> str:
    """``e`` as one line that names ``path`` once (``name``: see :func:`one_line`)."""
    msg = one_line(e, name)
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
        raise OptionError("suffix", f"{suffix!r}: a suffix is part of a file name (no / or \\)")
    folder = isinstance(output, str) and output.endswith(("/", os.sep))
    output = None if output is None else Path(output)
    single = len(inputs) == 1 and (inputs[0] == "-" or Path(inputs[0]).is_file())
    plan: list[tuple[Path, Path]] = []
    if output == STDIO or (output is None and files[0][0] == STDIO):
        if not single:
            raise OptionError("output", "- (standard output) takes one input image")
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
            raise OptionError(
                "output", f"{output} and {ARG.ext} {ext[1:]} disagree: give one of them"
            )
        plan = [(files[0][0], output)]
    elif output is not None:
        if output.exists() and not output.is_dir():
            raise UsageError(f"{output}: exists and is not a folder (several inputs need a folder)")
        if files[0][0] == STDIO:
            raise UsageError(
                f"standard input needs {ARG.output} FILE with an image extension, or {ARG.output} -"
            )
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
                f" may have; give a shorter {ARG.suffix}, or {ARG.output} NAME for one file"
            )
        key = Path(os.path.abspath(dst))
        if key in seen:
            raise UsageError(f"{seen[key]} and {src} would both be written to {dst}")
        seen[key] = src
    return plan


def expand(inputs: list[str], recursive: bool) -> list[tuple[Path, Path]]:
    from deblur.datasets import expand_inputs

    try:
        return expand_inputs(inputs, recursive)
    except ValueError as e:
        raise UsageError(e.template if isinstance(e, DeblurError) else one_line(e)) from None
