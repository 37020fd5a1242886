"""The kernel-free multiscale deblurring network.

An image pyramid of the blurred input (scales 1, 1/2, 1/4, ...) is processed coarse to
fine by ONE branch module whose weights are shared by every scale. At each scale the
branch sees the blurred image and the upsampled estimate of the coarser scale, works on
pixel-unshuffled features (reduced resolution keeps it fast on a CPU), runs residual
blocks, then a chain of iterative residual deconvolution (IRD) units, and predicts a
residual that corrects the coarser estimate. The per-scale estimates, brought to full
resolution, are concatenated and fused into the final estimate (a global residual to the
input). No blur kernel is estimated.

Three optional parts (off in the first shipped model; each starts as the identity, so
weights trained without it load into a network with it and compute the same result):

* ``context``: a descriptor of the blur pooled over the whole image from the coarsest
  pyramid level (:class:`~deblur.models.blocks.GlobalContext`), which scales and shifts the
  branch's features at every scale. It is the only part that depends on global image
  statistics: tiled inference computes it once on the whole image and hands it to every
  tile (``forward(..., context=...)``), so tiled output still matches untiled output.
* ``full_res``: a full-resolution refinement of the fused estimate from ``[y, estimate]``.
* ``ird_reach``: a second IRD chain in the branch with dilated operators (a longer reach
  for the same cost per unit).

And one part that changes what the branch sees (so weights trained without it do not load):

* ``fourier``: an image-dependent linear inverse (:class:`~deblur.models.blocks.FourierDeconv`,
  ``fourier`` large learned filters of ``fourier_support`` pixels mixed per pixel by weights
  predicted from the blurred image), applied to every pyramid level with the same weights;
  its result ``z`` is given to the branch beside the blurred level, and the coarsest
  estimate starts from it. The network never takes or produces a kernel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deblur.models.blocks import (
    FourierDeconv,
    FullResHead,
    GlobalContext,
    IRDChain,
    ResBlock,
    conv3x3,
)


@dataclass(frozen=True)
class NetConfig:
    """Hyper-parameters of :class:`MultiScaleNet`.

    Attributes
    ----------
    channels : colour channels of the images (3).
    width : feature channels of the shared branch.
    scales : pyramid levels (1 = full resolution only).
    unshuffle : pixel-unshuffle factor; features live at ``1/unshuffle`` of each scale.
    res_blocks : residual blocks per branch.
    ird_units : IRD units per branch.
    fuse_width : hidden channels of the full-resolution fusion of the scale outputs.
    context : hidden width of the global blur context (0 = none).
    full_res : width of the full-resolution refinement head (0 = none).
    ird_reach : dilation of each unit of a second, dilated IRD chain (empty = none).
    fourier : filters of the image-dependent Fourier inverse (0 = none).
    fourier_support : side in pixels of each of those filters (odd).
    fourier_spectral : window of the local spectra the Fourier inverse's weights are
        predicted from (a multiple of 4; 0 = from a small CNN on the pixels).
    """

    channels: int = 3
    width: int = 64
    scales: int = 3
    unshuffle: int = 4
    res_blocks: int = 4
    ird_units: int = 3
    fuse_width: int = 16
    context: int = 0
    full_res: int = 0
    ird_reach: tuple[int, ...] = ()
    fourier: int = 0
    fourier_support: int = 31
    fourier_spectral: int = 0

    def __post_init__(self) -> None:  # JSON gives lists
        object.__setattr__(self, "ird_reach", tuple(int(d) for d in self.ird_reach))

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this."""
        return self.unshuffle * 2 ** (self.scales - 1)

    def to_dict(self) -> dict:
        """Plain JSON-able dict; the optional parts are left out when off, so the config of
        a network without them reads exactly as before they existed."""
        d = asdict(self)
        d["ird_reach"] = list(self.ird_reach)
        for key in ("context", "full_res", "ird_reach", "fourier"):
            if not d[key]:
                del d[key]
        if not self.fourier:
            del d["fourier_support"]
        if not self.fourier_spectral:
            del d["fourier_spectral"]
        return d


class Branch(nn.Module):
    """The scale branch shared by all pyramid levels.

    ``forward(y, coarse, feat, mod, z)``: blurred image ``y``, coarser estimate ``coarse``
    and (with ``cfg.fourier``) the Fourier inverse ``z`` of ``y``, each ``(B, C, h, w)``
    (``h, w`` multiples of ``unshuffle``), coarser features ``feat``
    ``(B, width, h / (2 r), w / (2 r))`` or None, and the global modulation ``mod``
    ``(B, 2 * width)`` or None. Returns the estimate ``(B, C, h, w)`` and the features
    ``(B, width, h / r, w / r)`` for the next finer scale.
    """

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        r, c, w = cfg.unshuffle, cfg.channels, cfg.width
        self.r = r
        self.head = conv3x3((3 if cfg.fourier else 2) * c * r * r, w)
        self.body = nn.Sequential(*(ResBlock(w) for _ in range(cfg.res_blocks)))
        self.ird = IRDChain(w, cfg.ird_units)
        self.reach = (
            IRDChain(w, len(cfg.ird_reach), cfg.ird_reach, zero_fuse=True)
            if cfg.ird_reach
            else None
        )
        self.tail = conv3x3(w, c * r * r)

    def forward(
        self,
        y: torch.Tensor,
        coarse: torch.Tensor,
        feat: torch.Tensor | None,
        mod: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        seen = [y, coarse] if z is None else [y, z, coarse]
        f = self.head(F.pixel_unshuffle(torch.cat(seen, dim=1), self.r))
        if feat is not None:
            f = f + F.interpolate(feat, size=f.shape[-2:], mode="bilinear", align_corners=False)
        if mod is not None:
            scale, shift = mod[..., None, None].chunk(2, dim=1)
            f = f * (1 + scale) + shift
        f = self.ird(self.body(f))
        if self.reach is not None:
            f = self.reach(f)
        return coarse + F.pixel_shuffle(self.tail(f), self.r), f


class MultiScaleNet(nn.Module):
    """Multiscale network with a branch shared across scales and IRD units.

    ``forward(x)`` takes blurred images ``(B, C, H, W)`` in [0, 1] (any ``H, W``: inputs are
    reflect-padded to a multiple of ``cfg.multiple`` and cropped back) and returns the
    sharp estimate ``(B, C, H, W)`` (not clipped). With ``return_scales=True`` it also
    returns the per-scale estimates, finest first, each ``(B, C, Hp / 2**s, Wp / 2**s)``
    for the padded size ``(Hp, Wp)`` (equal to ``(H, W)`` when already a multiple).
    ``context`` is the global descriptor of :meth:`context` ``(B, 2 * width)``, computed
    from ``x`` itself when None (tiled inference passes the whole image's).
    """

    def __init__(self, cfg: NetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or NetConfig()
        self.branch = Branch(cfg)
        fw = cfg.fuse_width
        self.fuse = nn.Sequential(
            conv3x3(cfg.channels * cfg.scales, fw), nn.ReLU(inplace=True), conv3x3(fw, cfg.channels)
        )
        self.global_context = (
            GlobalContext(cfg.channels, cfg.context, cfg.width) if cfg.context else None
        )
        self.full_res = FullResHead(cfg.channels, cfg.full_res) if cfg.full_res else None
        self.fourier = (
            FourierDeconv(
                cfg.channels, cfg.fourier, cfg.fourier_support, spectral=cfg.fourier_spectral
            )
            if cfg.fourier
            else None
        )

    def _check_and_pad(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.cfg.channels:
            raise ValueError(
                f"expected input of shape (B, {self.cfg.channels}, H, W), got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        m = self.cfg.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        pyramid = [x]
        for _ in range(self.cfg.scales - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2))
        return pyramid

    def context(self, x: torch.Tensor) -> torch.Tensor | None:
        """The global blur descriptor ``(B, 2 * width)`` of images ``(B, C, H, W)`` in
        [0, 1], or None for a network without one. Tiled inference computes it once on the
        whole image and passes it to every tile."""
        if self.global_context is None:
            return None
        return self.global_context(self._pyramid(self._check_and_pad(x))[-1])

    def forward(
        self,
        x: torch.Tensor,
        return_scales: bool = False,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        h, w = x.shape[-2:]
        x = self._check_and_pad(x)
        pyramid = self._pyramid(x)
        if self.global_context is not None and context is None:
            context = self.global_context(pyramid[-1])
        estimates: list[torch.Tensor] = []
        zs = [None] * len(pyramid) if self.fourier is None else [self.fourier(y) for y in pyramid]
        est, feat = pyramid[-1] if zs[-1] is None else zs[-1], None
        for y, z in zip(reversed(pyramid), reversed(zs), strict=True):
            if est.shape[-2:] != y.shape[-2:]:
                est = F.interpolate(est, size=y.shape[-2:], mode="bilinear", align_corners=False)
            est, feat = self.branch(y, est, feat, context, z)
            estimates.insert(0, est)
        full = [
            e
            if e.shape[-2:] == x.shape[-2:]
            else F.interpolate(e, size=x.shape[-2:], mode="bilinear", align_corners=False)
            for e in estimates
        ]
        out = estimates[0] + self.fuse(torch.cat([e - x for e in full], dim=1))
        if self.full_res is not None:
            out = self.full_res(x, out)
        out = out[..., :h, :w]
        return (out, estimates) if return_scales else out
