"""Building blocks of the multiscale network: residual blocks and IRD units.

All blocks map features ``(B, width, h, w)`` to the same shape. Residual branches are
scaled by learnable per-channel factors that start at zero, so every block starts as the
identity (as in NAFNet) and training grows the residuals.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    """3x3 convolution with zero padding 1 (keeps the spatial size)."""
    return nn.Conv2d(cin, cout, 3, padding=1)


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
    ``gamma`` is per channel and starts at zero.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.H = conv3x3(width, width)
        self.T = conv3x3(width, width)
        self.act = nn.ReLU(inplace=True)
        self.gamma = nn.Parameter(torch.zeros(1, width, 1, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f - self.gamma * self.T(self.act(self.H(f)))


class IRDChain(nn.Module):
    """A chain of IRD units whose outputs are concatenated and fused by a 1x1 convolution.

    Input and output ``(B, width, h, w)``; the fused result is added to the input.
    """

    def __init__(self, width: int, units: int) -> None:
        super().__init__()
        self.units = nn.ModuleList(IRDUnit(width) for _ in range(units))
        self.fuse = nn.Conv2d(width * units, width, 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        outs = []
        g = f
        for unit in self.units:
            g = unit(g)
            outs.append(g)
        return f + self.fuse(torch.cat(outs, dim=1))
