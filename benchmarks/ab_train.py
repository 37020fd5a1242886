"""Short A/B training runs: one change against the shipped recipe, same data stream.

Every run uses the recipe of ``train_base.sh`` (base variant, batch 8, 128 px, lr 1e-3,
cosine schedule laid out for 16,000 steps, data seed 0, the fixed validation set) and stops
after ``--stop`` steps, so its validation PSNR at steps 500, 1000, ... is directly comparable
with the first steps of the shipped run (``results/training/base/log.csv``) and of every other
A/B run. Exactly one thing changes per run:

    python -m benchmarks.ab_train RUN_DIR [--stop 1500] [--lr 2e-3] [--block gated]
        [--patch 192 --batch 4] [--variant large] [--shake-max 25]

``--block gated`` swaps the residual blocks' ReLU for a SimpleGate (NAFNet): the first
convolution doubles its output channels and the two halves are multiplied. ``--block
norm`` puts a layer norm over channels (NAFNet's LayerNorm2d) in front of each residual
block's first convolution. Both exist only here, as experiments; the product's network
is untouched.
Uses the committed split lists (``benchmarks/splits``) under the data folder ``--data``
(default ``DEBLUR_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
from pathlib import Path

import torch
from torch import nn

import deblur.models as models
import deblur.models.net as net
from deblur.models.blocks import conv3x3
from deblur.synth import BlurConfig
from deblur.training import TrainConfig, train

SPLITS = Path(__file__).resolve().parent / "splits"


class GatedBlock(nn.Module):
    """``f -> f + beta * conv2(a * b)`` with ``(a, b) = split(conv1(f))``; ``beta`` starts at 0."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(width, 2 * width)
        self.conv2 = conv3x3(width, width)
        self.beta = nn.Parameter(torch.zeros(1, width, 1, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1(f).chunk(2, dim=1)
        return f + self.beta * self.conv2(a * b)


class NormBlock(nn.Module):
    """``f -> f + beta * conv2(relu(conv1(LN(f))))``, LN over channels per pixel."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(width, width)
        self.conv2 = conv3x3(width, width)
        self.weight = nn.Parameter(torch.ones(1, width, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, width, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, width, 1, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        mu = f.mean(1, keepdim=True)
        var = (f - mu).pow(2).mean(1, keepdim=True)
        x = (f - mu) / torch.sqrt(var + 1e-6) * self.weight + self.bias
        return f + self.beta * self.conv2(torch.relu(self.conv1(x)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--stop", type=int, default=1500)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--block", choices=["plain", "gated", "norm"], default="plain")
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--variant", choices=sorted(models.VARIANTS), default="base")
    p.add_argument("--shake-max", type=int, default=None, help="largest camera shake, px")
    p.add_argument("--data", default=os.environ.get("DEBLUR_DATA", "../shared/data"))
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    if args.block != "plain":  # the Branch looks ResBlock up in net's namespace
        net.ResBlock = {"gated": GatedBlock, "norm": NormBlock}[args.block]
    blur = BlurConfig()
    if args.shake_max is not None:
        blur = dataclasses.replace(blur, shake_size=(blur.shake_size[0], args.shake_max))
    cfg = TrainConfig(
        out=args.out, sharp=(str(SPLITS / "train.txt"),), skimage_data=True, data_root=args.data,
        val_sharp=(str(SPLITS / "val.txt"),), variant=args.variant, steps=16000, batch=args.batch,
        patch=args.patch, lr=args.lr, workers=1, blur=blur,
    )  # fmt: skip
    params = sum(t.numel() for t in models.build_model(args.variant).parameters())
    print(f"{cfg.out}: block={args.block} params={params}", flush=True)

    def progress(line: str) -> None:
        print(line, flush=True)
        step = int(line.split()[1].split("/")[0]) if line.startswith("step ") else 0
        if step >= args.stop:
            os.kill(os.getpid(), signal.SIGINT)  # train() stops cleanly at the next step

    try:
        train(cfg, progress=progress)
    except KeyboardInterrupt as e:
        print(e)


if __name__ == "__main__":
    main()
