"""Building blocks of the multiscale network: residual blocks and IRD units.

All blocks map features ``(B, width, h, w)`` to the same shape. Residual branches are
scaled by learnable per-channel factors that start at zero, so every block starts as the
identity (as in NAFNet) and training grows the residuals.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution (optionally dilated) with zero padding that keeps the spatial size."""
    return nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)


class ResBlock(nn.Module):
    """``f -> f + beta * conv(relu(conv(f)))`` with ``beta`` initialised to zero."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(width, width)
        self.conv2 = conv3x3(width, width)
        self.act = nn.ReLU(inplace=True)
        self.beta = nn.Parameter(torch.zeros(1, width, 1, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f + self.beta * self.conv2(self.act(self.conv1(f)))


class IRDUnit(nn.Module):
    """One step of an unrolled, learned residual deconvolution.

    ``f -> f - gamma * T(act(H(f)))``: ``H`` plays the blur, ``T`` its learned transpose,
    so a chain of units expands the Neumann series ``sum_k (I - T H)^k`` that inverts
    the blur (the iterative residual deconvolution of CRCNet, Li Si-Yao et al. 2018).
    ``gamma`` is per channel and starts at zero. ``dilation`` widens the reach of ``H`` and
    ``T`` (a 3x3 kernel dilated by ``d`` spans ``2 d + 1`` feature pixels).
    """

    def __init__(self, width: int, dilation: int = 1) -> None:
        super().__init__()
        self.H = conv3x3(width, width, dilation)
        self.T = conv3x3(width, width, dilation)
        self.act = nn.ReLU(inplace=True)
        self.gamma = nn.Parameter(torch.zeros(1, width, 1, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f - self.gamma * self.T(self.act(self.H(f)))


class IRDChain(nn.Module):
    """A chain of IRD units whose outputs are concatenated and fused by a 1x1 convolution.

    Input and output ``(B, width, h, w)``; the fused result is added to the input.
    ``dilations`` gives each unit's dilation (all 1 by default). With ``zero_fuse`` the
    fusion starts at zero, so the chain starts as the identity (used for chains added to a
    trained network, whose weights then load unchanged).
    """

    def __init__(
        self,
        width: int,
        units: int,
        dilations: tuple[int, ...] | None = None,
        zero_fuse: bool = False,
    ) -> None:
        super().__init__()
        dilations = dilations or (1,) * units
        self.units = nn.ModuleList(IRDUnit(width, d) for d in dilations)
        self.fuse = nn.Conv2d(width * units, width, 1)
        if zero_fuse:
            nn.init.zeros_(self.fuse.weight)
            nn.init.zeros_(self.fuse.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        outs = []
        g = f
        for unit in self.units:
            g = unit(g)
            outs.append(g)
        return f + self.fuse(torch.cat(outs, dim=1))


class GlobalContext(nn.Module):
    """A descriptor of the blur pooled over the whole image, as per-channel modulation.

    ``forward(y)``: the coarsest pyramid level ``(B, C, h, w)`` (``h, w`` even) ->
    ``(B, 2 * width)``: a scale and a shift for each feature channel of the branch. Two
    convolutions at half the level's resolution, then the mean and the standard deviation of
    each feature over all pixels (global pooling: one figure per image, whatever its size),
    then a two-layer MLP whose last layer starts at zero, so a network with a fresh context
    module computes exactly what it computed without one.
    """

    def __init__(self, channels: int, hidden: int, width: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            conv3x3(4 * channels, hidden),
            nn.ReLU(inplace=True),
            conv3x3(hidden, hidden),
            nn.ReLU(inplace=True),
        )
        self.mlp = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2 * width)
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        f = self.convs(torch.nn.functional.pixel_unshuffle(y, 2))
        mean = f.mean(dim=(2, 3))
        std = (f - mean[..., None, None]).pow(2).mean(dim=(2, 3)).add(1e-6).sqrt()
        return self.mlp(torch.cat([mean, std], dim=1))


class FullResHead(nn.Module):
    """A full-resolution refinement that sees every input value.

    ``forward(x, est)``: blurred input and estimate ``(B, C, H, W)`` -> ``est`` plus a
    residual computed at full resolution from ``[x, est]`` (no pixel unshuffle, so no
    squeeze of detail into few channels). Its last convolution starts at zero.
    """

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(2 * channels, width),
            nn.ReLU(inplace=True),
            conv3x3(width, width),
            nn.ReLU(inplace=True),
            conv3x3(width, channels),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
        return est + self.body(torch.cat([x, est], dim=1))


class FourierDeconv(nn.Module):
    """An image-dependent linear inverse: a learned basis of large filters, mixed per pixel.

    ``forward(y)``: blurred image ``(B, C, H, W)`` -> ``z`` of the
    same shape, ``z = y + sum_j a_j(y) * (D_j ** y)``: ``D_j`` are ``basis`` learned filters
    of ``support x support`` pixels (the same for every colour channel), applied by FFT
    (reflect padding, so no wrap-around at the image's border), and ``a_j(y)`` are smooth
    per-pixel weights predicted from ``y`` by a small CNN at 1/4 resolution whose features
    are averaged over a ``window``-pixel neighbourhood (of the 1/4-resolution grid: the
    blur is inferred from a local region, never from statistics of the whole photo, so
    tiled and untiled inference see the same thing up to the tiles' overlap).

    With ``spectral = S > 0`` the weights are predicted instead from local spectra: the log
    power spectrum of the luminance in an ``S x S`` Hann window centred on every point of the
    1/4-resolution grid (normalised to zero mean over frequency, so that contrast does not
    matter, and binned 2x2), mapped by 1x1 convolutions. A blur multiplies the spectrum by
    the PSF's, so the blur is an additive pattern in these features, easy to read off.

    For fixed weights ``a`` this is a linear, shift-variant operator on ``y``; the weights
    depend on the image, so the network can apply the inverse of the blur it sees without
    ever taking or producing a kernel. The filters start at zero, so the block starts as
    the identity.
    """

    def __init__(
        self,
        channels: int,
        basis: int,
        support: int,
        hidden: int = 32,
        window: int = 9,
        spectral: int = 0,
    ) -> None:
        super().__init__()
        if support % 2 == 0:
            raise ValueError("support must be odd")
        if spectral % 4:
            raise ValueError("spectral window must be a multiple of 4")
        self.support, self.window, self.spectral = support, window, spectral
        self.filters = nn.Parameter(torch.zeros(basis, 1, support, support))
        if spectral:
            bins = (spectral // 2) * (spectral // 4 + 1)
            self.features = nn.Sequential(
                nn.Conv2d(bins, hidden, 1),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden, hidden, 1),
                nn.ReLU(inplace=True),
            )
            self.register_buffer(
                "hann",
                torch.hann_window(spectral, periodic=False).outer(
                    torch.hann_window(spectral, periodic=False)
                ),
                persistent=False,
            )
        else:
            self.features = nn.Sequential(
                conv3x3(16 * channels, hidden),
                nn.ReLU(inplace=True),
                conv3x3(hidden, hidden),
                nn.ReLU(inplace=True),
            )
        self.mix = nn.Conv2d(hidden, basis, 1)
        nn.init.normal_(self.mix.weight, std=0.01)
        nn.init.constant_(self.mix.bias, 1.0 / basis)

    def weights(self, y: torch.Tensor) -> torch.Tensor:
        """Per-pixel weights ``(B, basis, ceil(H / 4), ceil(W / 4))`` of the filters for ``y``
        (``y`` is replicate-padded at the bottom and right to a multiple of 4)."""
        F = torch.nn.functional
        h, w = y.shape[-2:]
        y = F.pad(y, (0, -w % 4, 0, -h % 4), mode="replicate")
        f = self.features(self.local_spectra(y) if self.spectral else F.pixel_unshuffle(y, 4))
        w = self.window
        f = torch.nn.functional.avg_pool2d(f, w, stride=1, padding=w // 2, count_include_pad=False)
        return self.mix(f)

    def local_spectra(self, y: torch.Tensor) -> torch.Tensor:
        """Binned local log power spectra ``(B, bins, H / 4, W / 4)`` of the luminance of
        ``y`` ``(B, C, H, W)`` (``H, W`` multiples of 4), one per point of the 1/4 grid."""
        F = torch.nn.functional
        s, (h, w) = self.spectral, y.shape[-2:]
        lum = y.mean(dim=1, keepdim=True)
        mode = "reflect" if s // 2 < min(h, w) else "replicate"
        lum = F.pad(lum, (s // 2, s // 2 - 1, s // 2, s // 2 - 1), mode=mode)
        patches = F.unfold(lum, s, stride=4)  # (B, s * s, h / 4 * w / 4)
        n = patches.shape[-1]
        patches = patches.transpose(1, 2).reshape(-1, s, s)
        patches = patches - patches.mean(dim=(1, 2), keepdim=True)
        patches = patches / (patches.std(dim=(1, 2), keepdim=True) + 1e-3)
        power = torch.fft.rfft2(patches * self.hann).abs().pow(2)
        logp = torch.log(power + 1e-4)
        logp = logp - logp.mean(dim=(1, 2), keepdim=True)
        binned = F.avg_pool2d(logp[:, None], 2, ceil_mode=True)  # (B * n, 1, s/2, s/4 + 1)
        return (
            binned.reshape(y.shape[0], n, -1)
            .transpose(1, 2)
            .reshape(y.shape[0], -1, h // 4, w // 4)
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        from deblur.psf.fourier import fft_shape, psf_to_otf

        F = torch.nn.functional
        h, w = y.shape[-2:]
        a = self.weights(y)
        a = F.interpolate(
            a, size=(4 * a.shape[-2], 4 * a.shape[-1]), mode="bilinear", align_corners=False
        )[..., :h, :w]
        p = self.support // 2
        yp = F.pad(y, (p, p, p, p), mode="reflect" if p < min(h, w) else "replicate")
        shape = fft_shape(tuple(yp.shape[-2:]))
        Y = torch.fft.rfft2(yp, s=shape)
        otf = psf_to_otf(self.filters, shape)  # (basis, 1, L1, L2 // 2 + 1)
        z = y
        for j in range(self.filters.shape[0]):  # one filtered plane at a time: low memory
            dj = torch.fft.irfft2(Y * otf[j], s=shape)[..., p : p + h, p : p + w]
            z = z + a[:, j : j + 1] * dj
        return z
