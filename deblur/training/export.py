"""Export: a training checkpoint becomes a self-describing weights file and its model card."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from deblur.errors import TrainError, one_line
from deblur.models import build_model
from deblur.models.weights import checked_net_config, save_weights, write_card
from deblur.training.checkpoint import load_checkpoint
from deblur.training.config import TrainConfig

__all__ = ["export_checkpoint"]


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
    its SHA-256 and the training that file's own card records.

    The network written is the one the checkpoint's ``net_config`` describes (its tensors
    were checked against it when it was loaded), even if ``--variant`` has changed since.

    Raises
    ------
    TrainError
        The checkpoint is unreadable, damaged or not a deblur training checkpoint.
    """
    ckpt = load_checkpoint(ckpt_path)  # checked: config, net_config and tensors agree
    cfg = TrainConfig.from_dict(ckpt["config"])
    state = ckpt["ema"] if ckpt["ema"] is not None else ckpt["model"]
    model = build_model(checked_net_config(ckpt["net_config"]))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # not expected after the checks; one line all the same
        why = one_line(e)[:160]
        raise TrainError(f"{ckpt_path}: damaged deblur training checkpoint ({why})") from None
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
    write_card(weights_path, card)
    return card
