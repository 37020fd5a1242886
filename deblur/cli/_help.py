"""Readable ``--help`` for the command line (plain placeholders, no raw type labels) and
file names printed as the OS gives them."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any


def _names_as_the_os_gives_them() -> None:
    """Let standard output carry file names that are not valid UTF-8: Python holds their
    bytes as lone surrogates, which a strict UTF-8 stream (a UTF-8 locale) refuses to write
    after the work is done; ``surrogateescape`` writes the name's own bytes back."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="surrogateescape")


def _plain_metavar(param: Any) -> str:
    """A readable placeholder for an option declared without one: N, X, PATH, a|b, TEXT."""
    desc = getattr(param, "type_descriptor", None)  # typer >= 0.2x; click's types before
    if desc is not None:
        if desc.is_choice:
            return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
        if desc.is_path:
            return "PATH"
        kind = desc.annotation
        if desc.is_list and getattr(kind, "__args__", None):
            kind = kind.__args__[0]
        kind = getattr(kind, "__name__", "")
    else:
        kind = type(getattr(param, "type", None)).__name__
        if kind == "Choice":
            return "|".join(str(getattr(c, "value", c)) for c in param.type.choices)
    if kind in ("int", "IntRange", "IntParamType"):
        return "N"
    if kind in ("float", "FloatRange", "FloatParamType"):
        return "X"
    return "PATH" if kind in ("Path", "PosixPath") else "TEXT"


def _readable_help(command: Any) -> None:
    """Help without typer's raw type labels (``<int range>``, ``<list[str]>``, ``{INPUT}``):
    options get a plain placeholder, arguments show their name only (``INPUT...``)."""
    for param in getattr(command, "params", ()):
        if getattr(param, "_readable", False):
            continue
        param._readable = True
        if param.param_type_name == "option":
            if param.metavar is None and not param.is_flag and not param.count:
                param.metavar = _plain_metavar(param)
            if "{variants}" in (param.help or ""):
                param.get_help_record = _with_variants(param, param.get_help_record)
        elif param.param_type_name == "argument":
            name = param.metavar or (param.name or "").upper()
            shown = name + ("..." if param.nargs != 1 else "")
            param.display_type_rich = lambda ctx: ""
            param._usage_display_name = lambda shown=shown, p=param: (
                shown if p.required else f"[{shown}]"
            )


def _with_variants(param: Any, help_record: Callable[..., Any]) -> Callable[..., Any]:
    """An option's help with ``{variants}`` replaced by the network variants' names, looked
    up only when the help is shown (the network's package imports torch)."""

    def record(ctx: Any) -> Any:
        if "{variants}" in (param.help or ""):
            from deblur.models import VARIANTS

            param.help = param.help.replace("{variants}", ", ".join(VARIANTS))
        return help_record(ctx)

    return record
