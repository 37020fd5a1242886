"""Make a blurred/sharp dataset from sharp photos: :func:`blur_files`, the loop of
``deblur blur`` (usable from Python; see :mod:`deblur.batch` for how batches behave)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deblur.errors import ARG, DeblurError, OptionError, UsageError, concerns_every_file
from deblur.files import FileOutcome, expand, failed

__all__ = ["MAX_NOISE", "blur_files"]


_LAYOUT = (("sharp", ".png"), ("blur", ".png"), ("psf", ".npy"))
MAX_NOISE = 1.0
"""Largest noise standard deviation ``blur_files`` takes (on [0, 1]: more is all noise)."""


def _parse_shake(spec: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in spec.split(","))
    except ValueError:
        raise OptionError("shake", f"{spec}: expected MIN,MAX kernel sizes such as 11,31") from None
    if not 3 <= lo <= hi:
        raise OptionError("shake", f"{spec}: expected 3 <= MIN <= MAX")
    return lo, hi


def blur_files(
    inputs: list[str],
    output: Path,
    *,
    psf: str | None = None,
    shake: str | None = None,
    noise: float = 0.01,
    seed: int = 0,
    per_image: int = 1,
    recursive: bool = False,
    overwrite: bool = False,
    max_pixels: int | None = None,
) -> tuple[list[tuple[str, Path]], Iterator[FileOutcome]]:
    """Make a blurred/sharp dataset from sharp photos; the loop of ``deblur blur``.

    Each input ``NAME`` gives ``output/sharp/NAME.png`` (the 8-bit sharp image the blur is
    applied to), ``output/blur/NAME.png`` (``quantize8(clip(k * x + n))``, reflect boundary,
    Gaussian noise of std ``noise`` on [0, 1]) and ``output/psf/NAME.npy`` (the float32
    kernel), reproducibly for a given ``seed`` (``per_image > 1`` makes ``NAME_k``).

    Parameters
    ----------
    psf : one kernel for every image (spec or file); else ``shake`` ``"MIN,MAX"``: a random
        camera shake per image of a size drawn from MIN..MAX (default 11,31).

    Returns
    -------
    names : ``(NAME, input)`` pairs, in order.
    outcomes : an iterator doing the work, one :class:`FileOutcome` per input.

    Raises
    ------
    UsageError
        Both ``psf`` and ``shake``, a bad spec, bad inputs or two inputs with one NAME.
    """
    from deblur.request import number, parse_psf_arg, whole_number

    if psf is not None and shake is not None:
        raise UsageError(f"give either {ARG.psf} or {ARG.shake}, not both")
    if not 0 <= number("noise", noise) <= MAX_NOISE:  # NaN and the infinities fail too
        raise OptionError(
            "noise", f"{noise}: the noise std must be in [0, {MAX_NOISE}] (on [0, 1])"
        )
    whole_number("seed", seed, 0)
    whole_number("per_image", per_image, 1)
    if isinstance(psf, str) and psf.strip().lower().startswith("auto"):
        raise OptionError("psf", f"{psf}: auto estimates a kernel for restoring; blur needs one")
    from deblur.io.read import max_pixels_limit

    limit = max_pixels_limit(max_pixels)
    files = expand(inputs, recursive)

    kernel = parse_psf_arg(psf).kernel
    shake_range = None if psf is not None else _parse_shake(shake or "11,31")
    names: dict[str, Path] = {}
    for src, base in files:
        name = src.relative_to(base).with_suffix("").as_posix()
        if name in names:
            raise UsageError(f"{names[name]} and {src} would both be named {name}")
        names[name] = src
    if psf is not None and Path(psf).is_file():
        from deblur.paths import first_same_file

        variants = [n if per_image == 1 else f"{n}_{k}" for n in names for k in range(per_image)]
        planned = [output / sub / f"{v}{ext}" for v in variants for sub, ext in _LAYOUT]
        clash = first_same_file(psf, planned)
        if clash is not None:
            raise OptionError("psf", f"{psf}: is the output {clash}; refusing to overwrite it")

    job = _BlurJob(
        output,
        kernel,
        shake_range,
        noise,
        seed,
        per_image,
        overwrite,
        limit,
        protect=tuple(src for src, _ in files),
    )

    def run() -> Iterator[FileOutcome]:
        for name, src in names.items():
            try:
                written = job.blur(src, name)
            except (DeblurError, ValueError, OSError) as e:
                yield failed(src, e)
                if concerns_every_file(e):
                    return
                continue
            yield FileOutcome(src, written=written)

    return list(names.items()), run()


@dataclass(frozen=True)
class _BlurJob:
    """What :func:`blur_files` does to each sharp photo."""

    output: Path
    kernel: Any  # one kernel for all, or None: a camera shake of a size in shake_range
    shake_range: tuple[int, int] | None
    noise: float
    seed: int
    per_image: int
    overwrite: bool
    limit: int
    protect: tuple[Path, ...]

    def blur(self, src: Path, name: str) -> tuple[Path, ...]:
        """Blur one sharp photo ``per_image`` times; the blurred files written."""
        import io

        import numpy as np

        from deblur import psf as psflib
        from deblur.atomic import atomic_write
        from deblur.io import read_image, write_image
        from deblur.synth import simple_blur

        image = read_image(src, max_pixels=self.limit)
        sharp = (np.round(np.clip(image.color, 0, 1) * 255) / 255).astype(np.float32)
        written = []
        for k in range(self.per_image):
            variant = name if self.per_image == 1 else f"{name}_{k}"
            rng = np.random.default_rng([self.seed, zlib.crc32(os.fsencode(name)), k])
            kernel = self.kernel
            if self.shake_range is not None:
                size = int(rng.integers(self.shake_range[0], self.shake_range[1] + 1))
                kernel = psflib.camera_shake(size, rng)
            psflib.check_psf_fits(kernel, sharp.shape[:2])
            blurred = simple_blur(sharp, kernel, self.noise, rng)
            for folder, data in (("sharp", sharp), ("blur", blurred)):
                path = self.output / folder / f"{variant}.png"
                write_image(path, data, bit_depth=8, overwrite=self.overwrite, protect=self.protect)
            buf = io.BytesIO()
            np.save(buf, kernel)
            npy = self.output / "psf" / f"{variant}.npy"
            atomic_write(npy, buf.getvalue(), overwrite=self.overwrite)
            written.append(self.output / "blur" / f"{variant}.png")
        return tuple(written)
