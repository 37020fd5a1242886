"""Blur synthesis on the training device (``TrainConfig.synth_device == "device"``): the
stream that only draws, and the move of its batches to the device.

:class:`DeviceSynthStream` yields, for sample ``i``, the sharp crop with its margin, the
PSF padded to a common size and the pair's random parameters, drawn with the same
per-sample numpy generator ``default_rng([seed, i])`` and in the same order as the numpy
pipeline (so the same crops, PSFs and parameters); the torch forms of
:mod:`deblur.synth.torch_forms` (re-exported here: :func:`synthesize_batch`,
:func:`blur_valid_batch`, :func:`pad_psf`, ...) then make the pairs on the device.
"""

from __future__ import annotations

import numpy as np
import torch

from deblur import synth
from deblur.synth.torch_forms import (
    PARAM_FIELDS,
    blur_valid_batch,
    linear_to_srgb,
    pad_psf,
    psf_side,
    quantize8,
    sample_noise,
    sample_seed,
    srgb_to_linear,
    synthesize_batch,
)
from deblur.training.config import SYNTH_DEVICES
from deblur.training.data import TrainStream, _chw

__all__ = [
    "PARAM_FIELDS",
    "SYNTH_DEVICES",
    "DeviceSynthStream",
    "batch_to",
    "blur_valid_batch",
    "linear_to_srgb",
    "pad_psf",
    "psf_side",
    "quantize8",
    "sample_noise",
    "sample_seed",
    "srgb_to_linear",
    "synthesize_batch",
]


class DeviceSynthStream(TrainStream):
    """Sample ``i`` -> the ingredients of a pair, a pure function of ``(seed, i)``.

    Draws what :class:`~deblur.training.data.TrainStream` draws for sample ``i`` (same
    generator, same order) but leaves the blur and noise to :func:`synthesize_batch`.

    ``__getitem__(i)`` returns a dict of tensors:

    * ``crop``: float32 ``(3, S, S)`` in [0, 1], ``S = patch + 2 m``: the sharp crop with
      its margin ``m = cfg.blur.margin`` (a real pair: its sharp patch in the centre, zeros
      around);
    * ``psf``: float32 ``(K, K)``, ``K = 2 m + 1`` (:func:`pad_psf`); a real pair: the
      identity;
    * ``params``: float32 ``(5,)``, the columns of :data:`PARAM_FIELDS`;
    * ``index``: int64 scalar, ``i``;
    * ``blurred``: float32 ``(3, patch, patch)``, only when the run has real pairs: the
      pair's blurred patch (zeros for a synthetic sample).
    """

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:  # type: ignore[override]
        cfg, p, m = self.cfg, self.cfg.patch, self.margin
        side, k_side = p + 2 * m, psf_side(cfg.blur)
        rng = np.random.default_rng([cfg.seed, int(i)])
        use_pairs = self.pairs and (not self.sharp or rng.uniform() < 0.5)
        if use_pairs:
            b, s = self._pair_crop(rng)
            crop = np.zeros((side, side, 3), np.float32)
            crop[m : m + p, m : m + p] = s
            psf = pad_psf(np.ones((1, 1), np.float32), k_side)
            params = [0.0, 0.0, 1.0, 0.0, 0.0]
        else:
            crop = self._sharp_crop(rng)
            d = synth.draw_pair_params(rng, cfg.blur)
            psf = pad_psf(d.psf, k_side)
            params = [1.0, float(d.linear), d.boost, d.sigma, d.gain]
            b = None
        out = {
            "crop": _chw(crop),
            "psf": torch.from_numpy(psf),
            "params": torch.tensor(params, dtype=torch.float32),
            "index": torch.tensor(int(i), dtype=torch.int64),
        }
        if self.pairs:
            out["blurred"] = _chw(b) if b is not None else torch.zeros(3, p, p)
        return out


def batch_to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A collated batch of :class:`DeviceSynthStream` samples moved to ``device`` (without
    waiting, from pinned memory); ``index`` stays on the CPU, where the noise seeds are
    computed (reading it back from a GPU would wait for the GPU)."""
    nb = device.type == "cuda"
    return {k: v if k == "index" else v.to(device, non_blocking=nb) for k, v in batch.items()}
