"""Design study of the network: one change per arm, fine-tuned from the shipped weights.

Every arm starts from ``weights/base.safetensors`` (the optional parts an arm adds start as
the identity, so every arm starts from the same function, val PSNR 23.555 dB) and trains
with the same recipe: the shipped model's second stage (lr 3e-4, warm-up 500, cosine over
``--steps``, batch 8, 128 px, 15% smooth crops, 10% pairs without blur), data seed 0, the
fixed validation set of ``benchmarks/splits/val.txt``, 1 thread. Arms:

``control``      the ``base`` network, the recipe's photos (``splits/train.txt`` + scikit-image)
``control-s1``   the same with data seed 1 (run-to-run noise)
``ctx``          ``base-ctx``: a global blur descriptor pooled over the image
``fr``           ``base-fr``: a full-resolution head that sees every input value
``reach``        ``base-reach``: a second, dilated IRD chain (more reach and capacity)
``v2``           ``base-v2``: all three
``v2-more``      ``base-v2`` on ``splits/train_more.txt`` (596 more photos)

    python -m benchmarks.study ARM RUN_DIR [--steps 3000] [--minutes 80] [--data DIR]
        [--resume]

Arms run side by side for equal wall-clock (``--minutes``); compare them on the
validation curves in ``RUN_DIR/log.csv`` (at equal steps and at the end).
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import torch

from benchmarks.common import BENCH, REPO
from deblur.synth import BlurConfig
from deblur.training import TrainConfig, train

ARMS = {
    "control": ("base", "train.txt", 0),
    "control-s1": ("base", "train.txt", 1),
    "ctx": ("base-ctx", "train.txt", 0),
    "fr": ("base-fr", "train.txt", 0),
    "reach": ("base-reach", "train.txt", 0),
    "v2": ("base-v2", "train.txt", 0),
    "v2-more": ("base-v2", "train_more.txt", 0),
}


def config(arm: str, out: str, steps: int, data: str) -> TrainConfig:
    variant, photos, seed = ARMS[arm]
    splits = os.path.relpath(BENCH / "splits")
    return TrainConfig(
        out=out,
        sharp=(f"{splits}/{photos}",),
        val_sharp=(f"{splits}/val.txt",),
        data_root=data,
        skimage_data=True,
        smooth=0.15,
        blur=dataclasses.replace(BlurConfig(), p_sharp=0.1),
        variant=variant,
        steps=steps,
        lr=3e-4,
        seed=seed,
        init=os.path.relpath(REPO / "weights" / "base.safetensors"),
        workers=0,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("arm", choices=sorted(ARMS))
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=80.0)
    ap.add_argument("--data", default=os.environ.get("DEBLUR_DATA", "../shared/data"))
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    cfg = config(args.arm, args.out, args.steps, args.data)

    def progress(line: str) -> None:
        print(line, flush=True)

    row = train(cfg, resume=args.resume, progress=progress, time_limit=60 * args.minutes)
    print(f"{args.arm}: {row}", flush=True)


if __name__ == "__main__":
    main()
