"""Training of the multiscale network: data, loss, optimisation, checkpoints, export.

The training stream is a pure function of ``(seed, sample index)``: sample ``i`` of the run
is drawn with ``numpy.random.default_rng([seed, i])``. So a resumed run sees exactly the
samples an uninterrupted run would, whatever the number of loader workers, and
distributed ranks simply take disjoint slices of each global batch.

Images are float32 ``(B, C, H, W)`` in [0, 1] throughout.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import random
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deblur import synth
from deblur.io import IMAGE_EXTENSIONS, read_image
from deblur.metrics import psnr, ssim
from deblur.models import VARIANTS, build_model, resolve_device, save_weights

__all__ = ["TrainConfig", "TrainError", "export_checkpoint", "train"]

LOG_FIELDS = [
    "step", "loss", "lr", "val_psnr", "val_ssim", "val_input_psnr", "images_per_s", "wall_s",
]  # fmt: skip
VAL_SEED = 20261125
#: scikit-image's bundled natural images used with ``--skimage-data`` (``clock`` is kept
#: out: it is the real blurred photo of the README's demo).
SKIMAGE_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "brick", "grass", "gravel")


class TrainError(ValueError):
    """Bad training data or configuration (one-line message naming the culprit)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in every checkpoint).

    On ``resume`` only ``steps`` may differ from the stored config; ``out``, ``device``
    and ``workers`` do not change the result and are not compared. Keys added after a
    checkpoint was written take their defaults when it is read.

    ``dead_leaves`` and ``smooth`` are shares of the synthetic sharp crops: procedural
    dead-leaves images, and smooth ones (a smaller region of a photo enlarged 2-8x with
    bilinear interpolation: sharp content without fine detail, which a blind network
    otherwise mistakes for blur). ``init`` is a weights file (``.safetensors``) or training
    checkpoint (its EMA weights) that a new run starts from instead of random weights
    (fine-tuning); the optimizer and schedule start afresh. ``data_root`` is the folder
    that the entries of ``.txt`` photo lists in ``sharp``/``val_sharp`` are relative to.
    """

    out: str
    datasets: tuple[str, ...] = ()
    pairs: tuple[str, ...] = ()
    pairs_root: str | None = None
    sharp: tuple[str, ...] = ()
    data_root: str | None = None
    skimage_data: bool = False
    dead_leaves: float = 0.0
    smooth: float = 0.0
    val: tuple[str, ...] = ()
    val_sharp: tuple[str, ...] = ()
    variant: str = "base"
    steps: int = 20000
    batch: int = 8
    patch: int = 128
    lr: float = 1e-3
    min_lr: float = 1e-5
    weight_decay: float = 1e-4
    warmup: int = 500
    grad_clip: float = 1.0
    ema: float = 0.999
    scale_loss: float = 0.5
    fft_loss: float = 0.05
    blur: synth.BlurConfig = field(default_factory=synth.BlurConfig)
    val_patch: int = 256
    val_every: int = 500
    ckpt_every: int = 200
    log_every: int = 50
    seed: int = 0
    init: str | None = None
    workers: int = 1
    device: str = "cpu"

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        blur = synth.BlurConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("blur").items()}
        )
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(blur=blur, **d)


UNCOMPARED = {"out", "steps", "device", "workers"}


# ----------------------------------------------------------------------------- data


def _image_files(spec: str, data_root: str | None = None) -> list[Path]:
    """Image files of a folder (recursive), a single file, a glob pattern, or a list file.

    A list file (``.txt``) names one image per line (``#`` starts a comment), relative to
    ``data_root`` when given, else to the list's own folder.
    """
    p = Path(spec)
    if p.suffix.lower() == ".txt" and p.is_file():
        root = Path(data_root) if data_root else p.parent
        names = [ln.split("#")[0].strip() for ln in p.read_text().splitlines()]
        files = [root / n for n in names if n]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise TrainError(
                f"{spec}: listed image {missing[0]} not found ({len(missing)} missing)"
            )
        if not files:
            raise TrainError(f"{spec}: the list names no images")
        return files
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
    elif p.is_file():
        files = [p]
    else:
        import glob

        files = sorted(Path(f) for f in glob.glob(spec, recursive=True))
        if not files:
            raise TrainError(f"{spec}: no such file, folder or matching glob")
    files = [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise TrainError(f"{spec}: no images found")
    return files


def _read_rgb(path: Path) -> np.ndarray:
    img = read_image(path).color
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def load_sharp_images(cfg: TrainConfig) -> list[np.ndarray]:
    """The sharp photos (``(H, W, 3)`` float32) that training pairs are synthesised from."""
    images = [_read_rgb(f) for spec in cfg.sharp for f in _image_files(spec, cfg.data_root)]
    if cfg.skimage_data:
        import skimage.data

        for name in SKIMAGE_IMAGES:
            im = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
            images.append(np.repeat(im[..., None], 3, 2) if im.ndim == 2 else im[..., :3])
    return images


def load_pairs(cfg: TrainConfig) -> list[tuple[Path, Path]]:
    """(blurred, sharp) file pairs from the pair datasets and RealBlur-style lists."""
    from deblur.data import find_pairs, read_pair_list

    pairs = []
    for root in cfg.datasets:
        pairs += [(p.blur, p.sharp) for p in find_pairs(root)]
    for lst in cfg.pairs:
        pairs += [(p.blur, p.sharp) for p in read_pair_list(lst, cfg.pairs_root)]
    return pairs


class TrainStream(torch.utils.data.Dataset):
    """Sample ``i`` -> (blurred, sharp) patches ``(3, P, P)``, a pure function of ``(seed, i)``."""

    def __init__(
        self,
        cfg: TrainConfig,
        sharp_images: Sequence[np.ndarray],
        pairs: Sequence[tuple[Path, Path]],
    ) -> None:
        self.cfg = cfg
        self.sharp = list(sharp_images)
        self.pairs = list(pairs)
        self.margin = cfg.blur.margin
        side = cfg.patch + 2 * self.margin
        small = [i for i, im in enumerate(self.sharp) if min(im.shape[:2]) < side]
        if small:
            raise TrainError(f"sharp image {small[0]} is smaller than the crop {side} px")

    def __len__(self) -> int:
        return 2**62

    def _sharp_crop(self, rng: np.random.Generator) -> np.ndarray:
        side = self.cfg.patch + 2 * self.margin
        # Only dead leaves when there are no photos (a share of them otherwise).
        if not self.sharp or (self.cfg.dead_leaves > 0 and rng.uniform() < self.cfg.dead_leaves):
            return synth.dead_leaves(side, rng)
        im = self.sharp[int(rng.integers(len(self.sharp)))]
        # drawn only when used, so that runs without smooth crops keep their data stream
        if self.cfg.smooth > 0 and rng.uniform() < self.cfg.smooth:
            src = math.ceil(side / rng.uniform(2.0, 8.0))
            y = int(rng.integers(im.shape[0] - src + 1))
            x = int(rng.integers(im.shape[1] - src + 1))
            crop = cv2.resize(
                im[y : y + src, x : x + src], (side, side), interpolation=cv2.INTER_LINEAR
            )
            return _augment(np.clip(crop, 0.0, 1.0), rng)
        y = int(rng.integers(im.shape[0] - side + 1))
        x = int(rng.integers(im.shape[1] - side + 1))
        return _augment(im[y : y + side, x : x + side], rng)

    def _pair_crop(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        bpath, spath = self.pairs[int(rng.integers(len(self.pairs)))]
        b, s = _read_rgb(bpath), _read_rgb(spath)
        if b.shape != s.shape:
            raise TrainError(f"{bpath}: size {b.shape[:2]} differs from its sharp partner's")
        p = self.cfg.patch
        if min(b.shape[:2]) < p:
            raise TrainError(f"{bpath}: smaller than the patch size {p}")
        y = int(rng.integers(b.shape[0] - p + 1))
        x = int(rng.integers(b.shape[1] - p + 1))
        both = _augment(np.concatenate([b, s], 2)[y : y + p, x : x + p], rng)
        return both[..., :3], both[..., 3:]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.cfg.seed, int(i)])
        use_pairs = self.pairs and (not self.sharp or rng.uniform() < 0.5)
        if use_pairs:
            b, s = self._pair_crop(rng)
        else:
            b, s = synth.synthesize_pair(self._sharp_crop(rng), self.cfg.patch, rng, self.cfg.blur)
        return _chw(b), _chw(s)


def _augment(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    a = np.rot90(a, int(rng.integers(4)))
    if rng.uniform() < 0.5:
        a = a[:, ::-1]
    return np.ascontiguousarray(a, dtype=np.float32)


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))


class _StepSampler(torch.utils.data.Sampler):
    """Indices of this rank's slice of every global batch from ``start_step`` on."""

    def __init__(self, start_step: int, steps: int, batch: int, rank: int, world: int) -> None:
        self.start, self.steps, self.batch, self.rank, self.world = (
            start_step, steps, batch, rank, world,
        )  # fmt: skip
        self.local = batch // world

    def __iter__(self):
        for step in range(self.start, self.steps):
            base = step * self.batch + self.rank * self.local
            yield from range(base, base + self.local)

    def __len__(self) -> int:
        return (self.steps - self.start) * self.local


def make_val_set(cfg: TrainConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed, seeded validation pairs ``(1, 3, H, W)``.

    From ``--val`` pair datasets (whole images), and from each ``--val-sharp`` photo: the
    central ``val_patch`` crop blurred four ways with the simple sRGB model and 1% noise
    (camera shake 11-31 px, Gaussian sigma 1-3, disk radius 2-5, motion 9-25 px), seeded
    independently of the training seed, so runs are compared on the same pairs.
    """
    out = []
    for blur_path, sharp_path in load_pairs(dataclasses.replace(cfg, datasets=cfg.val, pairs=())):
        out.append((_chw(_read_rgb(blur_path))[None], _chw(_read_rgb(sharp_path))[None]))
    files = [f for spec in cfg.val_sharp for f in _image_files(spec, cfg.data_root)]
    simple = dataclasses.replace(cfg.blur, p_linear=0.0, noise=(0.01, 0.01))
    p = cfg.val_patch
    for n, f in enumerate(files):
        im = _read_rgb(f)
        m = simple.margin
        side = p + 2 * m
        if min(im.shape[:2]) < side:
            raise TrainError(f"{f}: validation photo smaller than {side} px")
        y0, x0 = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
        crop = im[y0 : y0 + side, x0 : x0 + side]
        for j in range(4):
            rng = np.random.default_rng([VAL_SEED, n, j])
            psf = _val_psf(j, rng)
            b, s = synth.synthesize_pair(crop, p, rng, simple, psf=psf)
            out.append((_chw(b)[None], _chw(s)[None]))
    return out


def _val_psf(kind: int, rng: np.random.Generator) -> np.ndarray:
    psflib = synth.psflib
    if kind == 0:
        return psflib.camera_shake(int(rng.integers(11, 32)), rng)
    if kind == 1:
        return psflib.gaussian(float(rng.uniform(1, 3)))
    if kind == 2:
        return psflib.disk(float(rng.uniform(2, 5)))
    return psflib.motion(float(rng.uniform(9, 25)), float(rng.uniform(0, 180)))


# ----------------------------------------------------------------------------- optimisation


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


# ----------------------------------------------------------------------------- checkpoints


def _atomic_torch_save(obj: object, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _config_diff(stored: dict, new: dict) -> list[str]:
    stored = TrainConfig.from_dict(stored).to_dict()  # keys added since take their defaults
    keys = (set(stored) | set(new)) - UNCOMPARED
    return sorted(k for k in keys if stored.get(k) != new.get(k))


def load_checkpoint(path: str | Path) -> dict:
    """Read a training checkpoint (on the CPU); TrainError when unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise TrainError(f"{path}: not a readable checkpoint ({e})") from None


def _init_state(path: str, model: nn.Module) -> tuple[dict[str, torch.Tensor], dict]:
    """Weights to start from (a ``.safetensors`` file or a checkpoint's EMA weights) and
    their provenance: the file, its SHA-256 and the training it records (its model card's
    ``training`` for weights; step and wall time for a checkpoint)."""
    from deblur.models import WeightsError, load_weights

    p = Path(path)
    if p.suffix == ".safetensors":
        try:
            src = load_weights(p)
        except WeightsError as e:
            raise TrainError(str(e)) from None
        net_config, state = src.cfg.to_dict(), src.state_dict()
        card = p.with_suffix(".json")
        training = json.loads(card.read_text()).get("training") if card.is_file() else None
    else:
        ck = load_checkpoint(p)
        try:
            net_config, state = ck["net_config"], ck["ema"] or ck["model"]
            training = {"steps": ck["step"], "wall_s": round(ck["wall_s"], 1)}
        except (KeyError, TypeError) as e:
            raise TrainError(f"{path}: not a deblur training checkpoint ({e})") from None
    from deblur.models import OPTIONAL_PARTS

    mine = model.cfg.to_dict()
    core = {k: v for k, v in mine.items() if k not in OPTIONAL_PARTS}
    theirs = {k: v for k, v in net_config.items() if k not in OPTIONAL_PARTS}
    added = [k for k in OPTIONAL_PARTS if k in mine and k not in net_config]
    if core != theirs or any(
        net_config.get(k) != mine.get(k) for k in net_config if k in mine and k in OPTIONAL_PARTS
    ):
        raise TrainError(f"{path}: --init weights are of another network than this --variant")
    # parts this variant adds start as the identity: keep their fresh initialisation
    prefixes = tuple(OPTIONAL_PARTS[k] for k in added)
    fresh = {k: v for k, v in model.state_dict().items() if k.startswith(prefixes)}
    state = {**dict(state), **fresh} if prefixes else state
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    return state, {"weights": str(path), "sha256": sha, "training": training}


# ----------------------------------------------------------------------------- the loop


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
    dist_timeout: float = 1800.0,
    time_limit: float | None = None,
) -> dict:
    """Train (or resume) a run; returns the final log row.

    Writes into ``cfg.out``: ``config.json``, ``log.csv``, ``last.ckpt`` (every
    ``ckpt_every`` steps, at the end and on SIGINT/SIGTERM) and ``best.ckpt`` (best
    validation PSNR). Under ``torchrun`` it trains with DistributedDataParallel, each rank
    on its own slice of every global batch; only rank 0 writes.

    ``time_limit`` (seconds of wall-clock from the call) stops the run cleanly once the
    next step would likely overrun it: ``last.ckpt`` is written and the returned row has
    ``"stopped": "time limit"``; ``resume=True`` continues it. It does not change results.
    """
    t_start = time.monotonic()
    rank, world = _dist_info()
    out = Path(cfg.out)
    if cfg.variant not in VARIANTS:
        raise TrainError(f"unknown variant {cfg.variant!r}; choose one of {', '.join(VARIANTS)}")
    if cfg.batch % world:
        raise TrainError(f"--batch {cfg.batch} is not a multiple of the {world} processes")
    m = VARIANTS[cfg.variant].multiple
    if cfg.patch % m:
        raise TrainError(f"--patch {cfg.patch} must be a multiple of {m} for this variant")
    if not (cfg.datasets or cfg.pairs or cfg.sharp or cfg.skimage_data or cfg.dead_leaves > 0):
        raise TrainError("no training data: give DATASET, --pairs, --sharp or --dead-leaves")
    last = out / "last.ckpt"
    if resume:
        if not last.is_file():
            raise TrainError(f"{last}: nothing to resume")
        ckpt = load_checkpoint(last)
        diff = _config_diff(ckpt["config"], cfg.to_dict())
        if diff:
            raise TrainError("--resume with a different config; differing keys: " + ", ".join(diff))
    else:
        ckpt = None
        if out.exists() and any(out.iterdir()):
            raise TrainError(f"{out}: run directory is not empty (use --resume to continue)")

    device = resolve_device(cfg.device)
    if world > 1:
        import torch.distributed as dist

        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=timedelta(seconds=dist_timeout))

    sharp_images = load_sharp_images(cfg)
    pairs = load_pairs(cfg)
    if not sharp_images and not pairs and cfg.dead_leaves <= 0:
        raise TrainError("no training images found")
    stream = TrainStream(cfg, sharp_images, pairs)
    val = make_val_set(cfg) if rank == 0 else []

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.variant)
    init = ckpt.get("init") if ckpt else None
    if cfg.init and ckpt is None:
        state, init = _init_state(cfg.init, model)
        model.load_state_dict(state)
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    ema = EMA(model, cfg.ema) if cfg.ema > 0 else None
    step, best, wall = 0, -math.inf, 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        # The schedule's length may change on resume (--steps): rebind the lambda.
        sched.lr_lambdas = [lambda s: lr_factor(s, cfg)]
        if ema is not None:
            ema.shadow = {k: v.to(device) for k, v in ckpt["ema"].items()}
        step, best, wall = ckpt["step"], ckpt["best_psnr"], ckpt["wall_s"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        np.random.set_state(ckpt["rng"]["numpy"])  # noqa: NPY002
        random.setstate(ckpt["rng"]["python"])
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    last_val: dict[str, float] = ckpt.get("val", {}) if ckpt else {}

    def checkpoint(path: Path) -> None:
        if rank != 0:
            return
        _atomic_torch_save(
            {
                "model": model.state_dict(),
                "ema": ema.shadow if ema is not None else None,
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "step": step,
                "best_psnr": best,
                "wall_s": wall,
                "config": cfg.to_dict(),
                "net_config": model.cfg.to_dict(),
                "val": last_val,
                "init": init,
                "rng": {
                    "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(),  # noqa: NPY002
                    "python": random.getstate(),
                },
            },
            path,
        )

    def eval_model() -> nn.Module:
        if ema is None:
            return model
        m = build_model(cfg.variant).to(device)
        m.load_state_dict(ema.shadow)
        return m

    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old_handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old_handlers[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass

    log_path = out / "log.csv"
    if rank == 0 and not log_path.exists():
        with open(log_path, "w", newline="") as fh:
            csv.writer(fh).writerow(LOG_FIELDS)
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=cfg.batch // world,
        sampler=_StepSampler(step, cfg.steps, cfg.batch, rank, world),
        num_workers=cfg.workers,
        persistent_workers=False,
        prefetch_factor=4 if cfg.workers else None,
    )
    row: dict = {}
    start_step, stopped_by_time = step, False
    t_last, n_last, losses = time.perf_counter(), 0, []
    model.train()
    try:
        for blurred, sharp in loader:
            t0 = time.perf_counter()
            blurred, sharp = blurred.to(device), sharp.to(device)
            out_img, scales = net(blurred, return_scales=True)
            loss = multiscale_loss(out_img, scales, sharp, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            # checked before the step, so the weights (and checkpoints) stay finite; the
            # gradient norm is all-reduced, so a non-finite gradient stops every rank
            norm = nn.utils.clip_grad_norm_(
                model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf
            )
            if not (torch.isfinite(loss) and torch.isfinite(norm)):
                raise TrainError(
                    f"training diverged at step {step + 1} (non-finite loss or gradient);"
                    " the checkpoints keep the last finite weights: start a new run with a"
                    " lower --lr"
                )
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(model, step)
            step += 1
            losses.append(loss.item())
            n_last += cfg.batch
            wall += time.perf_counter() - t0
            done = step >= cfg.steps
            if rank == 0 and (step % cfg.log_every == 0 or done or step % cfg.val_every == 0):
                now = time.perf_counter()
                row = {
                    "step": step,
                    "loss": float(np.mean(losses)),
                    "lr": opt.param_groups[0]["lr"],
                    "images_per_s": n_last / max(now - t_last, 1e-9),
                    "wall_s": round(wall, 1),
                }
                losses, t_last, n_last = [], now, 0
                if val and (step % cfg.val_every == 0 or done):
                    last_val = evaluate(eval_model(), val, device)
                    row.update(last_val)
                    if last_val["val_psnr"] > best:
                        best = last_val["val_psnr"]
                        checkpoint(out / "best.ckpt")
                with open(log_path, "a", newline="") as fh:
                    csv.writer(fh).writerow([_fmt(row.get(k, "")) for k in LOG_FIELDS])
                if progress:
                    eta = (cfg.steps - step) * cfg.batch / max(row["images_per_s"], 1e-9)
                    progress(_progress_line(row, last_val, cfg.steps, eta))
            if step % cfg.ckpt_every == 0 or done:
                checkpoint(last)
            if stop["signal"] is not None:
                checkpoint(last)
                break
            if time_limit is not None and not done:
                elapsed = time.monotonic() - t_start
                # stop when one more step (at the mean pace so far) might cross the limit
                if elapsed + 2 * (elapsed / max(1, step - start_step)) >= time_limit:
                    checkpoint(last)
                    stopped_by_time = True
                    break
        if world > 1:
            import torch.distributed as dist

            # leave together: a rank that tears down its process group while rank 0 still
            # validates and writes can make gloo abort on the other side
            dist.barrier()
    finally:
        for sig, h in old_handlers.items():
            signal.signal(sig, h)
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    if stop["signal"] is not None:
        raise KeyboardInterrupt(f"stopped by signal {stop['signal']} at step {step}")
    if val and not (out / "best.ckpt").exists():
        checkpoint(out / "best.ckpt")
    if stopped_by_time:
        return {**row, **last_val, "step": step, "stopped": "time limit"}
    return {**row, **last_val, "step": step}


def _fmt(v: object) -> object:
    return f"{v:.6g}" if isinstance(v, float) else v


def _progress_line(row: dict, val: dict, steps: int, eta: float) -> str:
    v = f" val {val['val_psnr']:.2f} dB (input {val['val_input_psnr']:.2f})" if val else ""
    return (
        f"step {row['step']}/{steps} loss {row['loss']:.4f} lr {row['lr']:.2e}"
        f" {row['images_per_s']:.1f} img/s{v} eta {timedelta(seconds=int(eta))}"
    )


# ----------------------------------------------------------------------------- export


def export_checkpoint(
    ckpt_path: str | Path,
    weights_path: str | Path,
    *,
    name: str | None = None,
    description: str | None = None,
) -> dict:
    """Write a checkpoint's weights (EMA when present) as a self-describing ``.safetensors``
    file plus a JSON model card beside it (``NAME.json``); returns the card.

    ``description`` is free text for the card (e.g. what the data folders held). A run
    started from other weights (``init``) records them under ``training.init``: the file,
    its SHA-256 and the training that file's own card records."""
    ckpt = load_checkpoint(ckpt_path)
    try:
        cfg = TrainConfig.from_dict(ckpt["config"])
        state = ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"]
    except (KeyError, TypeError) as e:
        raise TrainError(f"{ckpt_path}: not a deblur training checkpoint ({e})") from None
    model = build_model(cfg.variant)
    model.load_state_dict(state)
    init = ckpt.get("init")
    weights_path = Path(weights_path)
    variant = name or weights_path.stem
    save_weights(
        model,
        weights_path,
        variant=variant,
        extra={"steps": ckpt["step"], "train_variant": cfg.variant},
    )
    digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    card = {
        "variant": variant,
        "architecture": cfg.variant,
        "net_config": model.cfg.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": {
            "steps": ckpt["step"],
            "wall_s": round(ckpt["wall_s"], 1),
            "batch": cfg.batch,
            "patch": cfg.patch,
            "lr": cfg.lr,
            "ema": cfg.ema,
            "data": {
                "datasets": list(cfg.datasets),
                "pairs": list(cfg.pairs),
                "sharp": [str(s) for s in cfg.sharp],
                "skimage_data": cfg.skimage_data,
                "dead_leaves": cfg.dead_leaves,
                "smooth": cfg.smooth,
                "blur": dataclasses.asdict(cfg.blur),
            },
            "validation_data": {"val": list(cfg.val), "val_sharp": [str(s) for s in cfg.val_sharp]},
            "init": init,
        },
        "validation": ckpt.get("val", {}),
        "description": description or "",
        "weights_file": weights_path.name,
        "sha256": digest,
    }
    card_path = weights_path.with_suffix(".json")
    fd, tmp = tempfile.mkstemp(dir=card_path.parent, prefix=f".{card_path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(card, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, card_path)
    return card
