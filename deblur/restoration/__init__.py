"""Restoration methods: classical deconvolution (``classical``) and the network runner
(``network``: padding, tiling and blending around the model)."""

from deblur.restoration.classical import richardson_lucy, wiener

__all__ = ["richardson_lucy", "wiener"]
