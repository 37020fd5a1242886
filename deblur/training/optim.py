"""Optimisation pieces: the multiscale loss, the learning-rate schedule, the EMA of the
weights and the validation metric. Images are float32 ``(B, C, H, W)`` in [0, 1]."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deblur.metrics import psnr, ssim
from deblur.training.config import TrainConfig

__all__ = ["EMA", "evaluate", "lr_factor", "multiscale_loss"]


def multiscale_loss(
    out: torch.Tensor, scales: list[torch.Tensor], sharp: torch.Tensor, cfg: TrainConfig
) -> torch.Tensor:
    """L1 on the output and on every pyramid level, plus an optional FFT-domain L1.

    ``out``, ``sharp``: ``(B, C, H, W)``; ``scales``: per-scale estimates, finest first.
    """
    loss = F.l1_loss(out, sharp)
    target = sharp
    for s, est in enumerate(scales):
        if s:
            target = F.avg_pool2d(target, 2)
        loss = loss + cfg.scale_loss * F.l1_loss(est, target) / len(scales)
    if cfg.fft_loss > 0:
        d = torch.fft.rfft2(out - sharp, norm="ortho")
        loss = loss + cfg.fft_loss * d.abs().mean()
    return loss


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to ``min_lr``; a factor of ``cfg.lr``."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    floor = cfg.min_lr / cfg.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


class EMA:
    """Exponential moving average of the model's parameters (used for validation/export)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)


@torch.no_grad()
def evaluate(model: nn.Module, val: list, device: torch.device) -> dict[str, float]:
    """Mean PSNR/SSIM (``deblur.metrics``, RGB, no crop) of the model and of the input."""
    model.eval()
    ps, ss, pin = [], [], []
    for b, s in val:
        out = model(b.to(device)).clamp(0, 1).cpu()
        ps.append(psnr(out, s))
        ss.append(ssim(out, s))
        pin.append(psnr(b, s))
    model.train()
    return {
        "val_psnr": float(np.mean(ps)),
        "val_ssim": float(np.mean(ss)),
        "val_input_psnr": float(np.mean(pin)),
    }
