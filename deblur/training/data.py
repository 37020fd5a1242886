"""Training data: the sample stream (a pure function of ``(seed, index)``) and the fixed
validation set.

Sample ``i`` of a run is drawn with ``numpy.random.default_rng([seed, i])``, so a resumed
run sees exactly the samples an uninterrupted run would, whatever the number of loader
workers, and distributed ranks take disjoint slices of each global batch
(:class:`StepSampler`). Images are float32 ``(3, P, P)`` tensors in [0, 1].
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from deblur import synth
from deblur.datasets import find_pairs, list_photos, read_pair_list
from deblur.errors import TrainError
from deblur.io import read_image
from deblur.training.config import TrainConfig

__all__ = [
    "SKIMAGE_IMAGES",
    "VAL_SEED",
    "StepSampler",
    "TrainStream",
    "load_pairs",
    "load_sharp_images",
    "make_val_set",
]

VAL_SEED = 20261125
#: scikit-image's bundled natural images used with ``--skimage-data`` (``clock`` is kept
#: out: it is the real blurred photo of the README's demo).
SKIMAGE_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "brick", "grass", "gravel")


def _image_files(spec: str, data_root: str | None = None) -> list[Path]:
    try:
        return list_photos(spec, data_root)
    except ValueError as e:
        raise TrainError(str(e)) from None


def _read_rgb(path: Path) -> np.ndarray:
    img = read_image(path).color
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def load_sharp_images(cfg: TrainConfig) -> list[np.ndarray]:
    """The sharp photos (``(H, W, 3)`` float32) that training pairs are synthesised from."""
    images = [_read_rgb(f) for spec in cfg.sharp for f in _image_files(spec, cfg.data_root)]
    if cfg.skimage_data:
        import skimage.data

        for name in SKIMAGE_IMAGES:
            im = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
            images.append(np.repeat(im[..., None], 3, 2) if im.ndim == 2 else im[..., :3])
    return images


def load_pairs(cfg: TrainConfig) -> list[tuple[Path, Path]]:
    """(blurred, sharp) file pairs from the pair datasets and RealBlur-style lists."""
    pairs = []
    for root in cfg.datasets:
        pairs += [(p.blur, p.sharp) for p in find_pairs(root)]
    for lst in cfg.pairs:
        pairs += [(p.blur, p.sharp) for p in read_pair_list(lst, cfg.pairs_root)]
    return pairs


class TrainStream(torch.utils.data.Dataset):
    """Sample ``i`` -> (blurred, sharp) patches ``(3, P, P)``, a pure function of ``(seed, i)``."""

    def __init__(
        self,
        cfg: TrainConfig,
        sharp_images: Sequence[np.ndarray],
        pairs: Sequence[tuple[Path, Path]],
    ) -> None:
        self.cfg = cfg
        self.sharp = list(sharp_images)
        self.pairs = list(pairs)
        self.margin = cfg.blur.margin
        side = cfg.patch + 2 * self.margin
        small = [i for i, im in enumerate(self.sharp) if min(im.shape[:2]) < side]
        if small:
            raise TrainError(f"sharp image {small[0]} is smaller than the crop {side} px")

    def __len__(self) -> int:
        return 2**62

    def _sharp_crop(self, rng: np.random.Generator) -> np.ndarray:
        side = self.cfg.patch + 2 * self.margin
        # Only dead leaves when there are no photos (a share of them otherwise).
        if not self.sharp or (self.cfg.dead_leaves > 0 and rng.uniform() < self.cfg.dead_leaves):
            return synth.dead_leaves(side, rng)
        im = self.sharp[int(rng.integers(len(self.sharp)))]
        # drawn only when used, so that runs without smooth crops keep their data stream
        if self.cfg.smooth > 0 and rng.uniform() < self.cfg.smooth:
            src = math.ceil(side / rng.uniform(2.0, 8.0))
            y = int(rng.integers(im.shape[0] - src + 1))
            x = int(rng.integers(im.shape[1] - src + 1))
            crop = cv2.resize(
                im[y : y + src, x : x + src], (side, side), interpolation=cv2.INTER_LINEAR
            )
            return _augment(np.clip(crop, 0.0, 1.0), rng)
        y = int(rng.integers(im.shape[0] - side + 1))
        x = int(rng.integers(im.shape[1] - side + 1))
        return _augment(im[y : y + side, x : x + side], rng)

    def _pair_crop(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        bpath, spath = self.pairs[int(rng.integers(len(self.pairs)))]
        b, s = _read_rgb(bpath), _read_rgb(spath)
        if b.shape != s.shape:
            raise TrainError(f"{bpath}: size {b.shape[:2]} differs from its sharp partner's")
        p = self.cfg.patch
        if min(b.shape[:2]) < p:
            raise TrainError(f"{bpath}: smaller than the patch size {p}")
        y = int(rng.integers(b.shape[0] - p + 1))
        x = int(rng.integers(b.shape[1] - p + 1))
        both = _augment(np.concatenate([b, s], 2)[y : y + p, x : x + p], rng)
        return both[..., :3], both[..., 3:]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.cfg.seed, int(i)])
        use_pairs = self.pairs and (not self.sharp or rng.uniform() < 0.5)
        if use_pairs:
            b, s = self._pair_crop(rng)
        else:
            b, s = synth.synthesize_pair(self._sharp_crop(rng), self.cfg.patch, rng, self.cfg.blur)
        return _chw(b), _chw(s)


def _augment(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    a = np.rot90(a, int(rng.integers(4)))
    if rng.uniform() < 0.5:
        a = a[:, ::-1]
    return np.ascontiguousarray(a, dtype=np.float32)


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))


class StepSampler(torch.utils.data.Sampler):
    """Indices of this rank's slice of every global batch from ``start_step`` on."""

    def __init__(self, start_step: int, steps: int, batch: int, rank: int, world: int) -> None:
        self.start, self.steps = start_step, steps
        self.batch, self.rank, self.world = batch, rank, world
        self.local = batch // world

    def __iter__(self):
        for step in range(self.start, self.steps):
            base = step * self.batch + self.rank * self.local
            yield from range(base, base + self.local)

    def __len__(self) -> int:
        return (self.steps - self.start) * self.local


def make_val_set(cfg: TrainConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed, seeded validation pairs ``(1, 3, H, W)``.

    From ``--val`` pair datasets (whole images), and from each ``--val-sharp`` photo: the
    central ``val_patch`` crop blurred four ways with the simple sRGB model and 1% noise
    (camera shake 11-31 px, Gaussian sigma 1-3, disk radius 2-5, motion 9-25 px), seeded
    independently of the training seed, so runs are compared on the same pairs.
    """
    out = []
    for blur_path, sharp_path in load_pairs(dataclasses.replace(cfg, datasets=cfg.val, pairs=())):
        out.append((_chw(_read_rgb(blur_path))[None], _chw(_read_rgb(sharp_path))[None]))
    files = [f for spec in cfg.val_sharp for f in _image_files(spec, cfg.data_root)]
    simple = dataclasses.replace(cfg.blur, p_linear=0.0, noise=(0.01, 0.01))
    p = cfg.val_patch
    for n, f in enumerate(files):
        im = _read_rgb(f)
        m = simple.margin
        side = p + 2 * m
        if min(im.shape[:2]) < side:
            raise TrainError(f"{f}: validation photo smaller than {side} px")
        y0, x0 = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
        crop = im[y0 : y0 + side, x0 : x0 + side]
        for j in range(4):
            rng = np.random.default_rng([VAL_SEED, n, j])
            psf = _val_psf(j, rng)
            b, s = synth.synthesize_pair(crop, p, rng, simple, psf=psf)
            out.append((_chw(b)[None], _chw(s)[None]))
    return out


def _val_psf(kind: int, rng: np.random.Generator) -> np.ndarray:
    psflib = synth.psflib
    if kind == 0:
        return psflib.camera_shake(int(rng.integers(11, 32)), rng)
    if kind == 1:
        return psflib.gaussian(float(rng.uniform(1, 3)))
    if kind == 2:
        return psflib.disk(float(rng.uniform(2, 5)))
    return psflib.motion(float(rng.uniform(9, 25)), float(rng.uniform(0, 180)))
