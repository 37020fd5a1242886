"""Point spread functions (PSFs) and the blur they model.

A PSF is a float32 array ``(h, w)`` (or a tensor ``(B, 1, h, w)``, one per image),
non-negative, summing to 1, in convolution orientation with its centre at
``(h // 2, w // 2)`` (even sizes included).

* :mod:`~deblur.psf.kernels`: builders (Gaussian, disk, motion, camera shake) and validation;
* :mod:`~deblur.psf.spec`: reading PSF files and text specs (``motion:21,45``);
* :mod:`~deblur.psf.operator`: the blur operator and its adjoint (torch and numpy);
* :mod:`~deblur.psf.fourier`: fast FFT sizes, FFT workers and transfer functions;
* :mod:`~deblur.psf.fit`: least-squares kernel fits and their clean-up (the result check and
  the blind estimator), and the luminance they work on.
"""

from deblur.psf.fourier import fft_shape, psf_to_otf
from deblur.psf.kernels import MAX_PSF_SIDE, camera_shake, disk, gaussian, motion, validate_psf
from deblur.psf.operator import (
    BOUNDARIES,
    FFTBlur,
    blur,
    blur_adjoint,
    blur_valid,
    check_psf_fits,
    fold_pad,
    pad_for_psf,
    psf_pad_widths,
)
from deblur.psf.spec import load_psf, parse_psf

__all__ = [
    "BOUNDARIES",
    "MAX_PSF_SIDE",
    "FFTBlur",
    "blur",
    "blur_adjoint",
    "blur_valid",
    "camera_shake",
    "check_psf_fits",
    "disk",
    "fft_shape",
    "fold_pad",
    "gaussian",
    "load_psf",
    "motion",
    "pad_for_psf",
    "parse_psf",
    "psf_pad_widths",
    "psf_to_otf",
    "validate_psf",
]
