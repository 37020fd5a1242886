"""Names the library and the command line share (no heavy imports: ``deblur --help`` reads
them). Each list is written here once; the CLI's choices are derived from them."""

from dataclasses import dataclass

METHODS = ("net", "rl", "wiener", "hqs", "auto")
"""Restoration methods: the network, Richardson-Lucy, Wiener, total-variation
deconvolution by half-quadratic splitting (``hqs``), and ``auto`` (the photo's own blur
estimate with ``hqs`` when the result check trusts it, the network otherwise)."""

BOUNDARIES = ("reflect", "periodic", "zero")
"""Boundary models of the blur operator (rl, wiener): mirror, wrap around, zeros."""

WIENER_REGS = ("identity", "laplacian")
"""Wiener regularisers: flat (``nsr`` alone) or the Laplacian's power (skimage's default)."""

DEVICES = ("auto", "cpu", "cuda", "mps")
"""Devices the network can run on; ``auto`` picks CUDA, then MPS, then the CPU."""


MAX_ITERATIONS = 10_000
"""Most Richardson-Lucy iterations a restore runs (each costs a few FFTs of the image;
results stop changing long before)."""


@dataclass(frozen=True)
class RestoreOptions:
    """The options of :func:`deblur.restore` besides the method and the PSF, with their
    defaults, declared once: the library, the batches and the command line take them from
    here, and :mod:`deblur.request` checks their values (one rule each)."""

    weights: str | None = None  # a path; None: the shipped weights
    iterations: int = 30
    nsr: float = 1e-2
    wiener_reg: str = "identity"
    boundary: str = "reflect"
    accelerate: bool = False
    tile: int | None = None
    tile_overlap: int | None = None
    device: str = "auto"
    guard: bool = True
    max_pixels: int | None = None  # None: $DEBLUR_MAX_PIXELS or deblur.io.read.MAX_PIXELS
    strength: float = 1.0
