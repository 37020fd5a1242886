"""Training: learning, exact resume, export, data errors."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from deblur import synth
from deblur.io import write_image
from deblur.models import build_model, load_weights
from deblur.restoration.tiling import run_network
from deblur.training import (
    TrainConfig,
    TrainError,
    export_checkpoint,
    load_checkpoint,
    multiscale_loss,
    train,
)

BLUR = synth.BlurConfig(shake_size=(5, 9), motion_length=(3, 7), disk_radius=(1, 2))


def _photo(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A smooth random colour image with edges (stands in for a photo)."""
    img = synth.dead_leaves(size, rng, r_min=3, r_max=30)
    return img


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "sharp"
    for i in range(3):
        write_image(d / f"p{i}.png", _photo(rng))
    v = tmp_path / "valsharp"
    write_image(v / "v0.png", _photo(rng))
    return d, v


def _cfg(tmp_path, photos, **kw) -> TrainConfig:
    d, v = photos
    base = dict(
        out=str(tmp_path / "run"),
        sharp=(str(d),),
        val_sharp=(str(v),),
        variant="tiny",
        steps=6,
        batch=2,
        patch=32,
        val_patch=32,
        warmup=2,
        val_every=3,
        ckpt_every=100,
        log_every=1,
        workers=0,
        blur=BLUR,
        lr=2e-3,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_overfits_one_batch():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model("tiny")
    pairs = [
        synth.synthesize_pair(_photo(rng, 32 + 2 * BLUR.margin), 32, rng, BLUR) for _ in range(4)
    ]
    b = torch.stack([torch.from_numpy(p[0].transpose(2, 0, 1).copy()) for p in pairs])
    s = torch.stack([torch.from_numpy(p[1].transpose(2, 0, 1).copy()) for p in pairs])
    cfg = TrainConfig(out="unused")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out, scales = model(b, return_scales=True)
        loss = multiscale_loss(out, scales, s, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_resume_equals_uninterrupted(tmp_path, photos):
    straight = _cfg(tmp_path, photos, out=str(tmp_path / "a"))
    train(straight)

    interrupted = _cfg(tmp_path, photos, out=str(tmp_path / "b"))

    def stop_at_3(line: str) -> None:
        if line.startswith("step 3/"):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(interrupted, progress=stop_at_3)
    assert load_checkpoint(tmp_path / "b" / "last.ckpt")["step"] == 3
    train(interrupted, resume=True)

    a = load_checkpoint(tmp_path / "a" / "last.ckpt")
    b = load_checkpoint(tmp_path / "b" / "last.ckpt")
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-5, atol=1e-6)
    assert (tmp_path / "b" / "best.ckpt").is_file()
    log = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,lr,val_psnr")


def test_resume_refuses_changed_config(tmp_path, photos):
    cfg = _cfg(tmp_path, photos, steps=2)
    train(cfg)
    train(_cfg(tmp_path, photos, steps=3), resume=True)  # only --steps may change
    with pytest.raises(TrainError, match="batch, lr"):
        train(_cfg(tmp_path, photos, steps=4, lr=1e-4, batch=4), resume=True)
    with pytest.raises(TrainError, match="not empty"):
        train(cfg)


def test_export_then_load(tmp_path, photos):
    cfg = _cfg(tmp_path, photos, steps=3)
    train(cfg)
    card = export_checkpoint(
        tmp_path / "run" / "best.ckpt", tmp_path / "w" / "mine.safetensors", description="hi"
    )
    assert card["training"]["steps"] == 3 and len(card["sha256"]) == 64
    assert card["description"] == "hi" and card["validation"]["val_psnr"] > 0
    assert (tmp_path / "w" / "mine.json").is_file()
    model = load_weights(tmp_path / "w" / "mine.safetensors")
    y = run_network(model, torch.rand(1, 3, 20, 30))
    assert y.shape == (1, 3, 20, 30)


def test_no_data_is_an_error(tmp_path):
    with pytest.raises(TrainError, match="no training data"):
        train(TrainConfig(out=str(tmp_path / "r"), variant="tiny", patch=32))


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    cfg = TrainConfig(out=str(tmp_path / "r"), sharp=(str(tmp_path / "empty"),), variant="tiny")
    with pytest.raises(TrainError, match="empty: no images in this folder"):
        train(cfg)


def test_unreadable_image_names_the_file(tmp_path, photos):
    d, _ = photos
    (d / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        train(_cfg(tmp_path, photos))


def test_missing_partner_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "ds" / "blur" / "a.png", _photo(rng))
    write_image(tmp_path / "ds" / "sharp" / "a.png", _photo(rng))
    write_image(tmp_path / "ds" / "blur" / "lonely.png", _photo(rng))
    cfg = TrainConfig(out=str(tmp_path / "r"), datasets=(str(tmp_path / "ds"),), variant="tiny")
    with pytest.raises(ValueError, match="lonely.png"):
        train(cfg)


def test_dead_leaves_alone_is_enough_data(tmp_path, photos):
    cfg = _cfg(tmp_path, photos, sharp=(), dead_leaves=1.0, steps=2)
    assert train(cfg)["step"] == 2


@pytest.mark.parametrize("grad_clip", [1.0, 0.0])
def test_divergence_stops_with_finite_checkpoints(tmp_path, photos, monkeypatch, grad_clip):
    import deblur.training.run as tr

    calls = {"n": 0}

    def nan_from_step_4(*args, **kwargs):
        calls["n"] += 1
        loss = multiscale_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] >= 4 else loss

    monkeypatch.setattr(tr, "multiscale_loss", nan_from_step_4)
    cfg = _cfg(tmp_path, photos, ckpt_every=2, grad_clip=grad_clip)
    with pytest.raises(TrainError, match="diverged at step 4"):
        train(cfg)
    ckpt = load_checkpoint(tmp_path / "run" / "last.ckpt")
    assert ckpt["step"] == 2
    for state in (ckpt["model"], ckpt["ema"]):
        assert all(torch.isfinite(t).all() for t in state.values())


def test_smooth_crops_are_smooth(tmp_path, photos):
    from deblur.training.data import TrainStream, load_sharp_images

    rough = np.random.default_rng(1).random((200, 200, 3), dtype=np.float32)
    cfgs = [_cfg(tmp_path, photos, smooth=s, blur=synth.BlurConfig(p_sharp=1.0)) for s in (0, 1)]
    grads = []
    for cfg in cfgs:
        stream = TrainStream(cfg, [rough], [])
        sharp = torch.stack([stream[i][1] for i in range(8)])
        assert sharp.shape == (8, 3, 32, 32) and 0 <= sharp.min() and sharp.max() <= 1
        grads.append(sharp.diff(dim=-1).abs().mean().item())
    assert grads[1] < 0.4 * grads[0]
    assert load_sharp_images(cfgs[0])  # the fixture's photos load


def test_init_starts_from_given_weights(tmp_path, photos):
    from deblur.models import save_weights

    src = build_model("tiny")
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_weights(src, tmp_path / "init.safetensors", variant="tiny")
    cfg = _cfg(tmp_path, photos, steps=1, lr=1e-12, init=str(tmp_path / "init.safetensors"))
    train(cfg)
    state = load_checkpoint(tmp_path / "run" / "last.ckpt")["model"]
    for k, v in src.state_dict().items():
        torch.testing.assert_close(state[k], v, rtol=0, atol=1e-6)
    # the model card says what the run started from
    import hashlib

    card = export_checkpoint(tmp_path / "run" / "last.ckpt", tmp_path / "ft.safetensors")
    digest = hashlib.sha256((tmp_path / "init.safetensors").read_bytes()).hexdigest()
    assert card["training"]["init"]["sha256"] == digest
    # a checkpoint works too; another architecture is refused by name
    cfg2 = _cfg(
        tmp_path, photos, out=str(tmp_path / "b"), steps=1, init=str(tmp_path / "run/last.ckpt")
    )
    train(cfg2)
    wrong = _cfg(tmp_path, photos, out=str(tmp_path / "c"), variant="small", init=cfg.init)
    with pytest.raises(TrainError, match="another network"):
        train(wrong)


def test_resume_accepts_checkpoints_older_than_new_config_keys(tmp_path, photos):
    cfg = _cfg(tmp_path, photos, steps=2)
    train(cfg)
    path = tmp_path / "run" / "last.ckpt"
    ckpt = load_checkpoint(path)
    for key in ("smooth", "init"):
        del ckpt["config"][key]
    del ckpt["config"]["blur"]["p_sharp"]
    torch.save(ckpt, path)
    train(_cfg(tmp_path, photos, steps=3), resume=True)
    assert load_checkpoint(path)["step"] == 3
    with pytest.raises(TrainError, match="smooth"):
        train(_cfg(tmp_path, photos, steps=4, smooth=0.5), resume=True)


def test_cuda_only_settings_change_nothing_on_cpu(tmp_path, photos):
    plain = _cfg(tmp_path, photos, out=str(tmp_path / "a"), steps=2, val_every=100)
    fast = _cfg(tmp_path, photos, out=str(tmp_path / "b"), steps=2, val_every=100,
                precision="bf16", channels_last=True)  # fmt: skip
    train(plain)
    train(fast)
    a, b = (load_checkpoint(tmp_path / r / "last.ckpt") for r in "ab")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    with pytest.raises(TrainError, match="unknown precision"):
        train(_cfg(tmp_path, photos, out=str(tmp_path / "c"), precision="fp16"))
