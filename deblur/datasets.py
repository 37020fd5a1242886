"""Finding images on disk: paired datasets and command-line inputs.

Dataset layout
--------------
A dataset is a folder holding blurred images under ``blur/`` and their sharp
partners under a sibling ``sharp/``, with optional point spread functions under a
sibling ``psf/``::

    ROOT/blur/NAME.png      ROOT/sharp/NAME.png      ROOT/psf/NAME.npy   (optional)

Partners are matched by their path relative to ``blur/`` and ``sharp/`` and their
stem, so the extensions may differ (``blur/a.jpg`` pairs with ``sharp/a.png``).
Subfolders inside ``blur/`` are followed. Any folder named ``blur`` with a sibling
``sharp`` anywhere under ROOT counts, so GoPro's ``GOPRxxxx/blur`` and
``GOPRxxxx/sharp`` folders work as they are (``blur_gamma`` folders are ignored).

A pair's key is the blurred image's path relative to ROOT in POSIX form, without a
leading ``blur/``: ``NAME.png`` for the flat layout, ``GOPR0001/blur/000001.png`` for
GoPro.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from deblur.errors import ARG, DatasetError, one_line

__all__ = [
    "Pair",
    "expand_inputs",
    "find_pairs",
    "image_files",
    "list_photos",
    "read_pair_list",
]


def _read_list(path: Path) -> list[str]:
    """Lines of a text list; a file that is not UTF-8 text is a DatasetError."""
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text list") from None


def _guarded(func):
    """Decorator: file-system errors of a lookup (a name too long, a folder without
    permission, a loop of links) become one-line DatasetErrors."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DatasetError:
            raise
        except (OSError, RuntimeError) as e:
            raise DatasetError(one_line(e)) from None

    return wrapper


_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Pair:
    """A blurred image, its sharp partner and optionally its PSF.

    Attributes
    ----------
    key : str
        Unique name of the pair: a POSIX relative path such as ``"NAME.png"`` or
        ``"GOPR0001/blur/000001.png"``.
    blur, sharp : Path
        The blurred and sharp image files.
    psf : Path or None
        A ``.npy`` PSF for the blurred image, if the dataset has one.
    """

    key: str
    blur: Path
    sharp: Path
    psf: Path | None = None


def _image_extensions() -> frozenset[str]:
    from deblur.io import IMAGE_EXTENSIONS

    return frozenset(e.lower() if e.startswith(".") else "." + e.lower() for e in IMAGE_EXTENSIONS)


def is_image_file(path: Path) -> bool:
    """Whether ``path`` names a file with a supported image extension (not hidden)."""
    return path.suffix.lower() in _image_extensions() and not path.name.startswith(".")


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (and its subfolders with ``recursive``), sorted."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and is_image_file(p))


def _by_stem(files: list[Path], base: Path) -> dict[tuple[str, ...], list[Path]]:
    """Group files by (relative parent parts..., stem)."""
    out: dict[tuple[str, ...], list[Path]] = {}
    for f in files:
        rel = f.relative_to(base)
        out.setdefault((*rel.parent.parts, rel.stem), []).append(f)
    return out


def _pairs_in(blur_dir: Path, root: Path) -> list[Pair]:
    sharp_dir = blur_dir.parent / "sharp"
    psf_dir = blur_dir.parent / "psf"
    sharp = _by_stem(image_files(sharp_dir, recursive=True), sharp_dir)
    pairs = []
    for b in image_files(blur_dir, recursive=True):
        rel = b.relative_to(blur_dir)
        matches = sharp.get((*rel.parent.parts, rel.stem), [])
        if not matches:
            raise DatasetError(
                f"{b}: blurred image has no sharp partner "
                f"(expected {sharp_dir / rel.parent / rel.stem}.<ext>)"
            )
        if len(matches) > 1:
            names = ", ".join(str(m) for m in matches)
            raise DatasetError(f"{b}: several sharp partners match: {names}")
        psf = psf_dir / rel.parent / f"{rel.stem}.npy"
        key_path = b.relative_to(root)
        if key_path.parts[0] == "blur":
            key_path = key_path.relative_to("blur")
        pairs.append(Pair(key_path.as_posix(), b, matches[0], psf if psf.is_file() else None))
    return pairs


@_guarded
def find_pairs(root: str | Path) -> list[Pair]:
    """Find every blurred/sharp pair under ``root`` (see the module docstring).

    Returns
    -------
    list of Pair, sorted by key; keys are unique.

    Raises
    ------
    ValueError
        If ``root`` is not a folder, holds no pairs, a ``blur`` folder has no
        sibling ``sharp`` folder, or a blurred image has no (or an ambiguous) sharp
        partner. The message names the offending path.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    pairs: list[Pair] = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        if "blur" not in dirnames:
            continue
        here = Path(dirpath)
        if "sharp" not in dirnames:
            raise DatasetError(f"{here / 'blur'}: no sibling 'sharp' folder with the sharp images")
        pairs.extend(_pairs_in(here / "blur", root))
        # Do not look for datasets inside a dataset's own folders.
        dirnames[:] = [d for d in dirnames if d not in ("blur", "sharp", "psf")]
    if not pairs:
        raise DatasetError(
            f"{root}: no image pairs found (expected {root / 'blur'}/NAME.png "
            f"with {root / 'sharp'}/NAME.png, or such blur/sharp folders below it)"
        )
    pairs.sort(key=lambda p: p.key)
    seen: set[str] = set()
    for p in pairs:
        if p.key in seen:
            raise DatasetError(f"{p.blur}: duplicate pair key {p.key!r}")
        seen.add(p.key)
    return pairs


@_guarded
def read_pair_list(list_file: str | Path, root: str | Path | None = None) -> list[Pair]:
    """Read a RealBlur-style pair list.

    Each non-blank line holds ``SHARP_PATH BLUR_PATH`` separated by white space,
    relative to ``root`` (default: the list file's folder); lines starting with ``#``
    are comments. The key of each pair is its blurred path as written (POSIX form).

    Returns
    -------
    list of Pair in file order, ``psf`` None.

    Raises
    ------
    ValueError
        On a malformed line, a listed file that does not exist, a repeated blurred
        path or an empty list; the message names the list file and line.
    OSError
        If the list file cannot be read.
    """
    list_file = Path(list_file)
    base = Path(root) if root is not None else list_file.parent
    pairs: list[Pair] = []
    seen: set[str] = set()
    for n, line in enumerate(_read_list(list_file), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise DatasetError(
                f"{list_file}:{n}: expected 'SHARP_PATH BLUR_PATH', got {len(fields)} fields"
            )
        sharp, blur = (base / f for f in fields)
        for path in (sharp, blur):
            if not path.is_file():
                raise DatasetError(f"{list_file}:{n}: no such file: {path}")
        key = Path(fields[1]).as_posix()
        if key in seen:
            raise DatasetError(f"{list_file}:{n}: blurred image {key} listed twice")
        seen.add(key)
        pairs.append(Pair(key, blur, sharp, None))
    if not pairs:
        raise DatasetError(f"{list_file}: the pair list is empty")
    return pairs


def _folders_below(top: str) -> list[str]:
    """``top`` and every folder below it, symbolic links to folders followed but each real
    folder visited once (a loop of links ends), hidden names skipped as ``glob`` does."""
    found, seen, stack = [], set(), [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder or os.curdir)
            entries = sorted(os.scandir(folder or os.curdir), key=lambda e: e.name)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        found.append(folder)
        for entry in reversed(entries):
            with contextlib.suppress(OSError):
                if not entry.name.startswith(".") and entry.is_dir():
                    stack.append(os.path.join(folder, entry.name))
    return found


def glob_files(pattern: str) -> list[str]:
    """What ``glob.glob(pattern, recursive=True)`` matches, but ``**`` never loops.

    ``**`` (a whole path component) matches zero or more folders; a folder reached twice
    through symbolic links (a link to an ancestor, two links to one place) is searched
    once, so a loop of links ends. Other components are matched by :func:`glob.glob`.

    Parameters
    ----------
    pattern : a glob pattern (``*``, ``?``, ``[...]``, ``**``), as the OS gives names.

    Returns
    -------
    The matching paths (unsorted; a path may appear more than once).
    """
    parts = pattern.split(os.sep)
    if "**" not in parts:
        return glob.glob(pattern)
    i = parts.index("**")
    head, rest = os.sep.join(parts[:i]), parts[i + 1 :]
    if head == "" and i > 0:
        head = os.sep  # an absolute pattern such as /**/x.png
    if _GLOB_CHARS & set(head):
        tops = glob.glob(head)
    else:
        tops = [head] if i == 0 or os.path.isdir(head) else []
    found: list[str] = []
    for top in tops:
        for folder in _folders_below(top):
            if rest and rest != [""]:
                found += glob_files(os.path.join(glob.escape(folder), *rest))
            else:  # a trailing **: the folders themselves and the files in them
                found.append(folder or os.curdir)
                found += glob.glob(os.path.join(glob.escape(folder), "*"))
    return found


@_guarded
def expand_inputs(inputs: list[str | Path], recursive: bool = False) -> list[tuple[Path, Path]]:
    """Turn command-line inputs into image files, each with its base folder.

    Parameters
    ----------
    inputs : list of str or Path
        Files (taken whatever their extension), folders (their images; those in
        subfolders too with ``recursive``) or glob patterns (``*``, ``?``, ``[...]``,
        ``**``; matched image files, and matched folders as above, those without
        images passed over).
    recursive : bool
        Descend into subfolders of folder inputs.

    Returns
    -------
    list of (path, base)
        Each image file and the folder its output path is made relative to: the
        folder given for folder inputs, the file's own folder otherwise. In input
        order, sorted within each folder or glob, without repeats.

    Raises
    ------
    ValueError
        If an input does not exist, a glob matches nothing, a folder holds no
        images, or there are no inputs at all.
    """
    out: list[tuple[Path, Path]] = []
    seen: set[Path] = set()

    def add(path: Path, base: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append((path, base))

    def add_folder(folder: Path, named: bool = True) -> int:
        files = image_files(folder, recursive)
        if not files and named:
            more = "" if recursive else f" (use {ARG.recursive} for subfolders)"
            raise DatasetError(f"{folder}: no images in this folder{more}")
        for f in files:
            add(f, folder)
        return len(files)

    for item in inputs:
        path = Path(item)
        if path.is_file():
            add(path, path.parent)
        elif path.is_dir():
            add_folder(path)
        elif _GLOB_CHARS & set(str(item)):
            matches = sorted(Path(m) for m in glob_files(str(item)))
            images = [m for m in matches if m.is_file() and is_image_file(m)]
            folders = [m for m in matches if m.is_dir()]
            for m in images:
                add(m, m.parent)
            # a folder a pattern matches (``photos/**`` matches every folder below) is not
            # one the user named: one without images of its own is passed over
            found = len(images) + sum([add_folder(m, named=False) for m in folders])
            if not found:
                raise DatasetError(f"{item}: no image files match this pattern")
        else:
            raise DatasetError(f"{item}: no such file or folder")
    if not out:
        raise DatasetError("no input images given")
    return out


@_guarded
def list_photos(spec: str | Path, data_root: str | Path | None = None) -> list[Path]:
    """Image files named by a training-data spec.

    Parameters
    ----------
    spec : a folder (its images, recursively), an image file, a glob pattern, or a list
        file (``.txt``: one image path per line, ``#`` starts a comment).
    data_root : the folder the entries of a list file are relative to (default: the list
        file's own folder).

    Returns
    -------
    The files, in a fixed order (sorted within a folder or glob; list order for a list).

    Raises
    ------
    ValueError
        Nothing found, a listed file missing, or an empty list.
    """
    p = Path(spec)
    if p.suffix.lower() == ".txt" and p.is_file():
        root = Path(data_root) if data_root else p.parent
        names = [ln.split("#")[0].strip() for ln in _read_list(p)]
        files = [root / n for n in names if n]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DatasetError(
                f"{spec}: listed image {missing[0]} not found ({len(missing)} missing)"
            )
        if not files:
            raise DatasetError(f"{spec}: the list names no images")
        return files
    return [path for path, _ in expand_inputs([spec], recursive=True)]
