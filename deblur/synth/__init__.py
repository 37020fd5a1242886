"""Blur synthesis: the simple stated model of ``deblur blur`` and realistic training pairs,
in two forms side by side.

* :mod:`deblur.synth.draws`: what is drawn (numpy generators): :class:`BlurConfig`, the
  PSF mixture :func:`random_psf`, the camera-shake bank :func:`bank_shake`, a pair's
  parameters :func:`draw_pair_params` and the procedural sharp images :func:`dead_leaves`.
* :mod:`deblur.synth.numpy_forms`: per image, numpy ``(H, W, C)``: :func:`simple_blur`
  (the model of ``deblur blur``), :func:`synthesize_pair` (realistic training pairs, run in
  the loader workers), the sRGB transfer and 8-bit quantisation.
* :mod:`deblur.synth.torch_forms`: per batch, torch ``(B, C, H, W)`` on the training
  device: the twins of the numpy forms (same names) and
  :func:`~deblur.synth.torch_forms.synthesize_batch`; imported on its own (it loads torch).

Arrays are float32 in [0, 1] (sRGB values), PSFs ``(h, w)`` float32 summing to 1 in
convolution orientation. ``tests/test_synth.py`` checks that the two forms agree.
"""

from __future__ import annotations

from deblur.synth.draws import (
    BANK_SEED,  # noqa: F401 - importable here as before, outside __all__
    BlurConfig,
    PairParams,
    bank_shake,
    dead_leaves,
    draw_pair_params,
    random_psf,
)
from deblur.synth.numpy_forms import (
    _power,  # noqa: F401 - the stream's float32 power (tests/test_train_stream.py)
    linear_to_srgb,
    quantize8,  # noqa: F401 - importable here as before, outside __all__
    simple_blur,
    srgb_to_linear,
    synthesize_pair,
)

__all__ = [
    "BlurConfig",
    "PairParams",
    "bank_shake",
    "dead_leaves",
    "draw_pair_params",
    "linear_to_srgb",
    "random_psf",
    "simple_blur",
    "srgb_to_linear",
    "synthesize_pair",
]


def __getattr__(name: str):
    """``synth.psflib``: the PSF package, imported on first use (it loads torch)."""
    if name == "psflib":
        from deblur import psf

        return psf
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
