"""The multiscale network, its weight files and tiled inference."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from deblur.models import (
    VARIANTS,
    MultiScaleNet,
    NetConfig,
    WeightsError,
    build_model,
    load_model,
    load_weights,
    save_weights,
)
from deblur.models.blocks import IRDUnit, ResBlock
from deblur.restoration.tiling import run_network, tile_starts
from deblur.training import TrainConfig, multiscale_loss

TINY = VARIANTS["tiny"]


def _randomised(cfg: NetConfig = TINY, seed: int = 0) -> MultiScaleNet:
    """A model whose zero-initialised residual scales are made non-zero (a non-trivial net)."""
    torch.manual_seed(seed)
    m = MultiScaleNet(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0, 0.5)
    return m.eval()


@pytest.mark.parametrize("hw", [(32, 32), (33, 47), (64, 20), (17, 9)])
def test_output_shape_matches_input_and_is_finite(hw):
    m = _randomised()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_run_network_gray_and_rgb(channels):
    m = _randomised()
    x = torch.rand(1, channels, 35, 22)
    y = run_network(m, x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert 0 <= y.min() and y.max() <= 1


def test_non_contiguous_input_gives_same_output():
    m = _randomised()
    x = torch.rand(1, 40, 36, 3).permute(0, 3, 1, 2)  # non-contiguous (B, C, H, W) view
    assert not x.is_contiguous()
    with torch.no_grad():
        assert torch.allclose(m(x), m(x.contiguous()), atol=1e-6)


def test_wrong_channel_count_names_expected_shape():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        MultiScaleNet(TINY)(torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        run_network(MultiScaleNet(TINY), torch.rand(3, 16, 16))


def test_returns_per_scale_estimates():
    cfg = NetConfig(width=8, scales=3, unshuffle=2, res_blocks=1, ird_units=1)
    out, scales = MultiScaleNet(cfg)(torch.rand(1, 3, 32, 48), return_scales=True)
    assert [tuple(s.shape[-2:]) for s in scales] == [(32, 48), (16, 24), (8, 12)]
    assert out.shape == (1, 3, 32, 48)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_branch_is_shared_across_scales():
    base = dict(width=8, unshuffle=2, res_blocks=1, ird_units=2, fuse_width=4)
    nets = {s: MultiScaleNet(NetConfig(scales=s, **base)) for s in (1, 2, 3, 4)}
    branch = {_count(n.branch) for n in nets.values()}
    assert len(branch) == 1  # one branch whatever the number of scales
    fuse = [_count(n.fuse) for n in nets.values()]
    # only the fusion's first convolution grows, by 3 input channels x 4 outputs x 3x3 per scale
    assert [b - a for a, b in zip(fuse, fuse[1:])] == [3 * 4 * 9] * 3


def test_every_parameter_gets_a_gradient_after_one_step():
    torch.manual_seed(0)
    m = MultiScaleNet(TINY)
    cfg = TrainConfig(out="unused")
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    x, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for _ in range(2):
        opt.zero_grad()
        out, scales = m(x, return_scales=True)
        multiscale_loss(out, scales, s, cfg).backward()
        opt.step()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, f"{name} got a zero gradient"


def test_residual_scales_start_at_zero():
    m = MultiScaleNet(TINY)
    for name, p in m.named_parameters():
        if name.endswith(("beta", "gamma")):
            assert torch.count_nonzero(p) == 0, name


@pytest.mark.parametrize("block", [ResBlock, IRDUnit])
def test_blocks_gradcheck(block):
    torch.manual_seed(0)
    b = block(2).double()
    with torch.no_grad():
        for name, p in b.named_parameters():
            if name in ("beta", "gamma"):
                p.fill_(0.7)
    x = torch.randn(1, 2, 5, 6, dtype=torch.double, requires_grad=True)
    # ReLU kinks are measure-zero for random inputs
    assert torch.autograd.gradcheck(b, (x,), eps=1e-6, atol=1e-4)


def test_tile_starts_cover_and_align():
    for size in (100, 257, 1000):
        starts = tile_starts(size, 96, 32, 8)
        assert starts[0] == 0 and all(s % 8 == 0 for s in starts)
        assert starts[-1] + 96 >= size
        assert all(b - a <= 96 - 32 for a, b in zip(starts, starts[1:]))


def test_tiled_equals_untiled():
    m = _randomised()
    x = torch.rand(1, 3, 230, 250)
    full = run_network(m, x, tile=0)
    tiled = run_network(m, x, tile=160, overlap=96)
    assert len(tile_starts(230, 160, 96, m.cfg.multiple)) >= 3
    assert len(tile_starts(250, 160, 96, m.cfg.multiple)) >= 3
    assert (tiled - full).abs().max() < 1e-3


def test_weights_round_trip(tmp_path):
    m = _randomised()
    path = save_weights(m, tmp_path / "w.safetensors", variant="tiny")
    m2 = load_weights(path)
    assert m2.cfg == m.cfg
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    assert load_model(path, device="cpu") is load_model(path, device="cpu")  # cached


def test_weights_errors(tmp_path):
    m = _randomised()
    good = save_weights(m, tmp_path / "good.safetensors", variant="tiny")
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a weights file at all")
    with pytest.raises(WeightsError, match="junk.safetensors"):
        load_weights(junk)
    data = bytearray(good.read_bytes())
    # tampered: flip bytes in the tensor data (the end of the file)
    tampered = tmp_path / "tampered.safetensors"
    data_t = bytearray(data)
    data_t[-8:] = b"\x00\x01\x02\x03\x04\x05\x06\x07"
    tampered.write_bytes(bytes(data_t))
    with pytest.raises(WeightsError, match="SHA-256"):
        load_weights(tampered)
    # mismatched: rewrite the header's config with another width
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    cfg = json.loads(header["__metadata__"]["config"])
    cfg["width"] = 24
    header["__metadata__"]["config"] = json.dumps(cfg)
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    mismatched = tmp_path / "mismatched.safetensors"
    mismatched.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(data[8 + n :]))
    with pytest.raises(WeightsError, match="do not match"):
        load_weights(mismatched)


def test_build_model_unknown_variant():
    with pytest.raises(ValueError, match="choose one of"):
        build_model("huge")
