"""Image restoration: classical deconvolution baselines."""

from deblur.restore.classical import richardson_lucy, wiener

__all__ = ["richardson_lucy", "wiener"]
