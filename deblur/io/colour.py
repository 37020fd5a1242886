"""Colour management of a restore: work in sRGB, give the result back in the file's colours.

The network and the result check were made for sRGB. An RGB photo whose ICC profile is not
sRGB (Adobe RGB, Display P3, ProPhoto, ...) is converted to sRGB for processing with
littleCMS (:mod:`PIL.ImageCms`, relative colorimetric), and the result is written **with the
original profile**: the restoration's change is converted back and added to the original
pixels, ``out = x + T^-1(restored) - T^-1(T(x))`` where ``T`` is the conversion to sRGB. So
pixels the restoration leaves alone keep their exact values, colours outside sRGB
included (a plain round trip through sRGB would clip them). Pillow's littleCMS binding
converts 8-bit RGB only, so ``T`` runs on 8-bit values; for 16-bit files the change is
carried at 8-bit precision (the pixels it does not touch keep all 16 bits).

When the output format cannot hold a profile (BMP), the sRGB result is written without one
(an untagged file is read as sRGB), with a note. A profile that already is sRGB
(its conversion to sRGB moves no 8-bit colour by more than one level), and the profile of a
gray image, are written back as they are and nothing is converted. A profile of another
colour space than the image's (a CMYK profile on an RGB file, say) is dropped with a note.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np

__all__ = ["ColourPlan", "plan_colour"]


@functools.lru_cache(maxsize=8)
def _transforms(icc: bytes):
    """(to sRGB, from sRGB) 8-bit RGB transforms of a profile, and whether it is sRGB."""
    from PIL import Image, ImageCms

    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    intent = ImageCms.Intent.RELATIVE_COLORIMETRIC
    to_srgb = ImageCms.buildTransform(source, srgb, "RGB", "RGB", renderingIntent=intent)
    from_srgb = ImageCms.buildTransform(srgb, source, "RGB", "RGB", renderingIntent=intent)
    grid = np.linspace(0, 255, 16).round().astype(np.uint8)
    cube = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(64, 64, 3)
    moved = np.asarray(ImageCms.applyTransform(Image.fromarray(cube), to_srgb), np.int16)
    is_srgb = int(np.abs(moved - cube).max()) <= 1
    return to_srgb, from_srgb, is_srgb


def _space(icc: bytes) -> str:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()


def _apply(transform, color: np.ndarray) -> np.ndarray:
    """An 8-bit RGB transform on float ``(H, W, 3)`` in [0, 1] (rounded to 8 bits first)."""
    from PIL import Image, ImageCms

    q = np.rint(np.clip(color, 0, 1) * 255).astype(np.uint8)
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(q), transform))
    return out.astype(np.float32) / np.float32(255)


@dataclass(frozen=True, eq=False)
class ColourPlan:
    """How one image's colours go through a restore (from :func:`plan_colour`).

    Attributes
    ----------
    working : np.ndarray
        float32 ``(H, W, C)`` in [0, 1]: the pixels to restore (sRGB for RGB images).
    icc_profile : bytes or None
        The profile to write with the result (None: none to write).
    notes : tuple of str
        One line for each thing dropped or converted.
    """

    working: np.ndarray
    icc_profile: bytes | None
    notes: tuple[str, ...] = ()
    _original: np.ndarray | None = None
    _back: object | None = None

    @property
    def converted(self) -> bool:
        """True when ``working`` was converted to sRGB from the file's own colours."""
        return self._back is not None

    def finish(self, restored: np.ndarray, keeps_profile: bool = True) -> ColourPlan:
        """The result in the colours it is written in.

        Parameters
        ----------
        restored : np.ndarray
            float ``(H, W, C)`` in [0, 1]: the restoration of :attr:`working`.
        keeps_profile : bool
            Whether the output format can hold an ICC profile.

        Returns
        -------
        ColourPlan
            ``working`` holds the pixels to write, ``icc_profile`` the profile to write with
            them (None for an output that cannot hold one; the pixels are sRGB then) and
            ``notes`` what was done.
        """
        restored = np.asarray(restored, np.float32)
        if self._back is None or self._original is None:
            icc = self.icc_profile if keeps_profile else None
            dropped = icc is None and self.icc_profile is not None
            note = ("the output format holds no ICC profile; dropped",) if dropped else ()
            return ColourPlan(restored, icc, self.notes + note)
        if not keeps_profile:
            note = "the output format holds no ICC profile: written in sRGB"
            return ColourPlan(restored, None, self.notes + (note,))
        change = _apply(self._back, restored) - _apply(self._back, self.working)
        out = np.clip(self._original + change, 0, 1).astype(np.float32)
        return ColourPlan(out, self.icc_profile, self.notes)


def plan_colour(color: np.ndarray, icc_profile: bytes | None) -> ColourPlan:
    """Decide how to restore ``color`` given its file's ICC profile (module docstring).

    Parameters
    ----------
    color : np.ndarray
        float32 ``(H, W, 1)`` or ``(H, W, 3)`` RGB in [0, 1], as read.
    icc_profile : bytes or None
        The file's profile (already parsed once by :func:`~deblur.io.metadata.read_metadata`).

    Returns
    -------
    ColourPlan
        Never raises on a bad profile: it is dropped with a note.
    """
    if icc_profile is None:
        return ColourPlan(color, None)
    channels = color.shape[2] if color.ndim == 3 else 1
    try:
        space = _space(icc_profile)
        if space != ("GRAY" if channels == 1 else "RGB"):
            note = f"ICC profile of a {space or 'unknown'} colour space on a"
            note += f" {'gray' if channels == 1 else 'RGB'} image; dropped"
            return ColourPlan(color, None, (note,))
        if channels == 1:
            return ColourPlan(color, icc_profile)
        to_srgb, from_srgb, is_srgb = _transforms(icc_profile)
    except Exception as e:  # littleCMS cannot build a transform for it
        text = " ".join(str(e).split())[:120] or type(e).__name__
        return ColourPlan(color, None, (f"ICC profile unusable ({text}); dropped",))
    if is_srgb:
        return ColourPlan(color, icc_profile)
    working = _apply(to_srgb, color)
    return ColourPlan(working, icc_profile, (), color, from_srgb)
