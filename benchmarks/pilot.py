"""Issue 18's pilot: can a network variant invert a KNOWN blur, trained from scratch?

One arm = one variant trained for a fixed wall-clock budget on crops of the training photos
(``benchmarks/splits/train.txt``) blurred by a fixed bank of camera-shake PSFs (``--kernels
1``: one 25 px shake, arm A/B; ``--kernels 16``: 16 shakes of 11-31 px, arm C) with the
simple sRGB model and 1% noise. The learning rate follows a cosine over the *time* budget,
so arms of equal budget are compared at equal wall-clock. Every ``--eval-every`` steps it
logs the validation gain (the 8 validation photos' central 256 px crops, blurred by the
bank's kernels: 8 pairs for one kernel, 16 for 16) and the inversion index on two kernels
of the bank (for one kernel: the bank's and a second 25 px shake), next to the per-kernel
Wiener filter (the linear ceiling) on the same pairs.

Run: ``python -m benchmarks.pilot --variant base --kernels 1 --minutes 10 --out DIR``
Writes ``DIR/log.csv`` and ``DIR/summary.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deblur import psf as psflib
from deblur.models import VARIANTS, build_model
from deblur.training import diagnostics as dg

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def read_photos(listing: str) -> list[np.ndarray]:
    import cv2

    out = []
    for n in (HERE / "splits" / listing).read_text().split():
        im = cv2.imread(str(DATA / n), cv2.IMREAD_COLOR)
        out.append(np.ascontiguousarray(im[..., ::-1], dtype=np.float32) / 255.0)
    return out


def kernel_bank(n: int) -> list[np.ndarray]:
    """The pilot's fixed PSFs: one 25 px shake, or ``n`` shakes of 11-31 px."""
    if n == 1:
        return [psflib.camera_shake(25, np.random.default_rng([18, 0, 1]))]
    rng = np.random.default_rng([18, 16])
    return [psflib.camera_shake(int(rng.integers(11, 32)), rng) for _ in range(n)]


def make_batch(photos, bank, batch, patch, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random crops blurred (valid convolution) by random kernels of ``bank``,
    1% Gaussian noise, 8-bit quantised: blurred, sharp ``(B, 3, patch, patch)``."""
    m = max(k.shape[0] for k in bank) // 2
    side = patch + 2 * m
    crops, kern, idx = [], [], []
    for _ in range(batch):
        im = photos[rng.integers(len(photos))]
        y0 = rng.integers(im.shape[0] - side + 1)
        x0 = rng.integers(im.shape[1] - side + 1)
        c = im[y0 : y0 + side, x0 : x0 + side]
        c = np.rot90(c, rng.integers(4))
        if rng.uniform() < 0.5:
            c = c[:, ::-1]
        crops.append(torch.from_numpy(np.ascontiguousarray(c)).permute(2, 0, 1))
        k_i = int(rng.integers(len(bank)))
        k = bank[k_i]
        kk = np.zeros((2 * m + 1, 2 * m + 1), np.float32)
        o = m - k.shape[0] // 2
        kk[o : o + k.shape[0], o : o + k.shape[1]] = k
        kern.append(torch.from_numpy(kk[::-1, ::-1].copy()))  # flipped: conv2d correlates
        idx.append(k_i)
    x = torch.stack(crops)
    w = torch.stack(kern)[:, None].repeat_interleave(3, 0)
    y = F.conv2d(x.reshape(1, -1, side, side), w, groups=3 * batch).reshape(batch, 3, patch, patch)
    y = y + 0.01 * torch.from_numpy(rng.standard_normal(y.shape).astype(np.float32))
    y = torch.round(y.clamp(0, 1) * 255) / 255
    return y, x[..., m : m + patch, m : m + patch].contiguous(), torch.tensor(idx)


def spectrum_targets(bank) -> torch.Tensor:
    """Auxiliary targets: each PSF's log power spectrum on a 32x32 grid, 2x2-binned and
    standardised over the bank (``(len(bank), 16 * 9)``)."""
    out = []
    for k in bank:
        p = torch.zeros(32, 32)
        p[: k.shape[0], : k.shape[1]] = torch.from_numpy(k)
        pw = torch.fft.rfft2(p).abs().pow(2)[None, None, :, :16]
        pw = torch.cat([pw, torch.fft.rfft2(p).abs().pow(2)[None, None, :, 16:17]], -1)
        out.append(F.avg_pool2d(torch.log(pw + 1e-3), 2, ceil_mode=True).reshape(-1))
    t = torch.stack(out)
    return (t - t.mean(0)) / t.std(0).clamp_min(1e-3)  # standardised per bin over the bank


def loss_fn(out, scales, sharp) -> torch.Tensor:
    loss = F.l1_loss(out, sharp)
    t = sharp
    for s, est in enumerate(scales):
        if s:
            t = F.avg_pool2d(t, 2)
        loss = loss + 0.5 * F.l1_loss(est, t) / len(scales)
    d = torch.fft.rfft2(out - sharp, norm="ortho")
    return loss + 0.05 * d.abs().mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="base", choices=list(VARIANTS))
    ap.add_argument("--kernels", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--cpu-clock",
        action="store_true",
        help="count the budget in CPU seconds of this process / threads (fair under load)",
    )
    ap.add_argument(
        "--aux",
        type=float,
        default=0.0,
        help="weight of an auxiliary loss: the PSF's binned log power spectrum predicted from "
        "the Fourier block's pooled features (training only; needs a fourier variant)",
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the pilot's GPU sweep)")
    ap.add_argument("--init", default=None, help="start from a pilot's model.pt (curriculum)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photos, val = read_photos("train.txt"), read_photos("val.txt")
    bank = kernel_bank(args.kernels)
    if len(bank) == 1:
        vy, vx = dg.blurred_crops(val, bank, 256, seed=7)
        pair = (bank[0], psflib.camera_shake(25, np.random.default_rng([18, 0, 2])))
    else:
        vy, vx = dg.blurred_crops(val + val, bank, 256, seed=7)
        pair = (bank[0], bank[1])
    pad = 48  # reflect padding before the circular Wiener filter
    power = dg.mean_power_spectrum(dg.pad_reflect(vx, pad))
    wiener = torch.cat(
        [
            dg.apply_filter(
                dg.pad_reflect(vy[i : i + 1], pad), dg.wiener_filter(bank[i % len(bank)], power)
            )
            for i in range(len(vy))
        ]
    )[..., pad:-pad, pad:-pad]

    def vpsnr(z):
        return float(
            np.mean(
                [
                    -10 * math.log10(F.mse_loss(z[i].clamp(0, 1), vx[i]).item())
                    for i in range(len(z))
                ]
            )
        )

    base_psnr, wiener_psnr = vpsnr(vy), vpsnr(wiener)
    print(f"val input {base_psnr:.3f} dB, per-kernel Wiener {wiener_psnr - base_psnr:+.3f} dB")
    dev = torch.device(args.device)
    model = build_model(args.variant)
    if args.init:
        model.load_state_dict(torch.load(args.init, weights_only=True))
    model.to(dev)
    params = list(model.parameters())
    if args.aux:
        targets = spectrum_targets(bank)
        hidden = model.fourier.mix.in_channels
        aux_head = torch.nn.Linear(2 * hidden, targets.shape[1]).to(dev)
        targets = targets.to(dev)
        params += list(aux_head.parameters())
        seen = []
        model.fourier.features.register_forward_hook(lambda mod, inp, out: seen.append(out))
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(args.seed)
    budget = args.minutes * 60
    rows, step, train_s, t0 = [], 0, 0.0, time.perf_counter()

    def evaluate():
        model.eval()
        with torch.no_grad():
            z = torch.cat([model(vy[i : i + 1].to(dev)).cpu() for i in range(len(vy))])
            idx = dg.inversion_index(
                lambda t: torch.cat([model(t[i : i + 1].to(dev)).cpu() for i in range(len(t))]),
                val,
                *pair,
            )
        model.train()
        return vpsnr(z) - base_psnr, idx["index"]

    losses = []
    clock = (lambda: time.process_time() / args.threads) if args.cpu_clock else time.perf_counter
    while train_s < budget:
        ts = clock()
        frac = train_s / budget
        lr = (
            args.lr
            * min(1.0, (step + 1) / 200)
            * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        )
        for g in opt.param_groups:
            g["lr"] = lr
        y, x, kidx = make_batch(photos, bank, args.batch, args.patch, rng)
        y, x, kidx = y.to(dev), x.to(dev), kidx.to(dev)
        if args.aux:
            seen.clear()
        o, scales = model(y, return_scales=True)
        loss = loss_fn(o, scales, x)
        if args.aux:  # finest level's features, pooled over the crop (uniform blur)
            f = seen[0]
            desc = torch.cat([f.mean(dim=(2, 3)), f.std(dim=(2, 3))], 1)
            loss = loss + args.aux * F.mse_loss(aux_head(desc), targets[kidx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        train_s += clock() - ts
        if step % args.eval_every == 0 or train_s >= budget:
            gain, index = evaluate()
            row = {
                "step": step,
                "train_s": round(train_s, 1),
                "loss": float(np.mean(losses)),
                "val_gain": round(gain, 4),
                "index": round(index, 4),
            }
            losses = []
            rows.append(row)
            print(row, flush=True)
            with open(out / "log.csv", "w", newline="") as f:
                wr = csv.DictWriter(f, fieldnames=list(row))
                wr.writeheader()
                wr.writerows(rows)
    summary = {
        "variant": args.variant,
        "kernels": args.kernels,
        "seed": args.seed,
        "minutes": args.minutes,
        "cpu_clock": args.cpu_clock,
        "init": args.init,
        "aux": args.aux,
        "threads": args.threads,
        "steps": step,
        "wall_s": round(time.perf_counter() - t0, 1),
        "val_input_psnr": base_psnr,
        "wiener_gain": wiener_psnr - base_psnr,
        "final": rows[-1],
        "best_gain": max(r["val_gain"] for r in rows),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out / "model.pt")


if __name__ == "__main__":
    main()
