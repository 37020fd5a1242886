"""The training stream is pinned: runs started before a refactor resume to the same result.

The digests below were computed with the code of commit 5f0239a (before the training code
became a package and the blur operator was unified); sample ``i`` of a run is a pure
function of ``(seed, i)``, so any change to what the stream yields changes them.

They hash float32 arithmetic quantised to 8 bits, so one ulp anywhere can move a pixel by a
level: the stream must not depend on the machine. It does not on the CPU's float32 power
(deblur.synth._power, see below); it still assumes that numpy's complex64 multiply (inside
scipy's fftconvolve, deblur.psf.blur_valid) fuses multiply-adds, as numpy does on every
x86-64 CPU with AVX2/FMA3 and on every ARM64 one (``NPY_DISABLE_CPU_FEATURES=X86_V3``
changes the ``default`` digest).
"""

from __future__ import annotations

import dataclasses
import hashlib

import cv2
import numpy as np
import pytest

from deblur.synth import BlurConfig
from deblur.training import TrainConfig, TrainStream

# "default" was a6657a87...07dfa10ea2c1b until 2026-12-03: the present value but for one
# pixel of sample 17 (row 31, column 15, channel 1), 114/255 there instead of 115/255; its
# value before quantisation is one float32 ulp above the tie 114.5 here. Samples 0, 1 and 5
# and all of "robust" are unchanged; 1 and 5 take the sRGB path (the blur alone), and what
# the linear-light path of 17 adds to it is exactly rounded float32 arithmetic and two
# float32 powers: the machine that made the old value had another float32 power (numpy
# uses SVML's on AVX-512 CPUs, the C library's elsewhere). No supported library version
# gives it on an AVX2 machine (one at a time: numpy 1.26.4, 2.0.2, 2.2.6, 2.3.5, 2.4.0 and
# 2.4.6, scipy 1.15.3, 1.16.3 and 1.17.1, opencv-python-headless 4.14.0.94, 5.0.0.93 and
# 5.1.0.95 all give the value below), and since synth._power rounds a float64 power no
# machine makes it any more.
PINNED = {
    "default": "b07ac0fac0ec7106a894f0b483ee08416480c29f656cc84ed3d58126906955f3",
    "robust": "43e5065fd0eea6575a2294c5b427992918fb34d1fb1eae9f83e6bef66b545f39",
}
CONFIGS = {
    "default": TrainConfig(out="unused"),
    "robust": TrainConfig(
        out="unused", smooth=0.15, blur=dataclasses.replace(BlurConfig(), p_sharp=0.1), seed=3
    ),
}


def _photos() -> list[np.ndarray]:
    rng = np.random.default_rng(123)
    out = []
    for h, w in ((200, 230), (256, 190)):
        base = rng.random((h // 8, w // 8, 3)).astype(np.float32)
        im = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
        im = np.clip(im + 0.1 * rng.standard_normal(im.shape).astype(np.float32), 0, 1)
        out.append(im.astype(np.float32))
    return out


@pytest.mark.parametrize("name", sorted(PINNED))
def test_stream_samples_are_pinned(name):
    stream = TrainStream(CONFIGS[name], _photos(), [])
    h = hashlib.sha256()
    for i in (0, 1, 5, 17):
        blurred, sharp = stream[i]
        h.update(blurred.numpy().tobytes())
        h.update(sharp.numpy().tobytes())
    assert h.hexdigest() == PINNED[name]
