"""The image-dependent Fourier inverse of the network and the inversion diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur import psf as psflib
from deblur.models import MultiScaleNet, NetConfig, load_weights, save_weights
from deblur.models.blocks import FourierDeconv
from deblur.training import TrainConfig, multiscale_loss
from deblur.training import diagnostics as dg

TINY_FOURIER = NetConfig(
    width=8,
    scales=2,
    unshuffle=2,
    res_blocks=1,
    ird_units=1,
    fuse_width=4,
    fourier=3,
    fourier_support=7,
)


def _photos(n: int = 3) -> list[np.ndarray]:
    from skimage import data

    ims = [data.astronaut(), data.chelsea(), data.coffee()][:n]
    return [np.ascontiguousarray(im[:160, :160], dtype=np.float32) / 255.0 for im in ims]


def test_fourier_block_starts_as_identity():
    torch.manual_seed(0)
    b = FourierDeconv(3, basis=4, support=9)
    y = torch.rand(2, 3, 36, 44)
    assert torch.equal(b(y), y)


def test_fourier_block_applies_its_filter_in_convolution_orientation():
    torch.manual_seed(0)
    b = FourierDeconv(3, basis=2, support=9)
    k = psflib.camera_shake(9, np.random.default_rng(3))
    with torch.no_grad():
        b.mix.weight.zero_()
        b.mix.bias.copy_(torch.tensor([1.0, 0.0]))
        delta = torch.zeros(9, 9)
        delta[4, 4] = 1
        b.filters[0, 0] = torch.from_numpy(k) - delta
        b.filters[1, 0].normal_()  # weight 0: must not matter
    y = torch.rand(1, 3, 40, 48)
    want = psflib.blur(y, k, boundary="reflect")
    got = b(y)
    assert torch.allclose(got[..., 4:-4, 4:-4], want[..., 4:-4, 4:-4], atol=1e-5)


@pytest.mark.parametrize("hw", [(32, 32), (33, 47), (20, 64)])
def test_fourier_network_is_finite_on_odd_sizes(hw):
    torch.manual_seed(0)
    m = MultiScaleNet(TINY_FOURIER).eval()
    x = torch.rand(1, 3, *hw)
    with torch.no_grad():
        out = m(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_fourier_network_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    m = MultiScaleNet(TINY_FOURIER)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    x, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for _ in range(2):
        opt.zero_grad()
        out, scales = m(x, return_scales=True)
        multiscale_loss(out, scales, s, TrainConfig(out="unused")).backward()
        opt.step()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fourier_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    m = MultiScaleNet(TINY_FOURIER).eval()
    path = save_weights(m, tmp_path / "f.safetensors")
    back = load_weights(path)
    assert back.cfg == TINY_FOURIER
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(m(x), back(x))


def test_config_without_fourier_reads_as_before():
    assert "fourier" not in NetConfig().to_dict()
    assert "fourier_support" not in NetConfig().to_dict()


def test_linear_floor_of_one_psf_is_its_wiener_filter():
    k = psflib.camera_shake(11, np.random.default_rng(0))
    power = dg.mean_power_spectrum(torch.rand(2, 3, 32, 32))
    assert torch.allclose(dg.linear_floor_filter([k], power), dg.wiener_filter(k, power))
    # over two PSFs the floor is neither one's Wiener filter
    k2 = psflib.camera_shake(11, np.random.default_rng(1))
    floor = dg.linear_floor_filter([k, k2], power)
    assert not torch.allclose(floor, dg.wiener_filter(k, power), atol=1e-3)


def test_transfer_function_of_identity_is_one():
    y = torch.rand(2, 3, 64, 64)
    h = dg.transfer_function(y, y, bins=8)
    assert torch.allclose(h, torch.ones_like(h), atol=1e-9)


def test_inversion_index_tells_an_inverter_from_one_filter():
    photos = _photos()
    k1 = psflib.camera_shake(15, np.random.default_rng([18, 0, 1]))
    k2 = psflib.camera_shake(15, np.random.default_rng([18, 0, 2]))
    _, x = dg.blurred_crops(photos, [k1], 128, seed=0)
    power = dg.mean_power_spectrum(x)
    one = dg.linear_floor_filter([k1, k2], power)
    fixed = dg.inversion_index(lambda t: dg.apply_filter(t, one), photos, k1, k2, patch=128)
    calls = []

    def oracle(t):  # the Wiener filter of the PSF that blurred this batch
        k = (k1, k2)[len(calls)]
        calls.append(k)
        return dg.apply_filter(t, dg.wiener_filter(k, power))

    ideal = dg.inversion_index(oracle, photos, k1, k2, patch=128)
    assert abs(fixed["index"]) < 0.15  # 0.08 measured: estimation error on small crops
    assert ideal["index"] > 0.5


def test_local_spectra_see_the_blur():
    from skimage import data

    b = FourierDeconv(3, basis=2, support=9, spectral=16)
    im = torch.from_numpy(np.ascontiguousarray(data.astronaut()[:128, :128], np.float32) / 255)
    x = im.permute(2, 0, 1)[None]
    f = b.local_spectra(x)
    assert f.shape == (1, 8 * 5, 32, 32) and torch.isfinite(f).all()
    blurred = psflib.blur(x, psflib.motion(9, 0.0), boundary="reflect")
    g = b.local_spectra(blurred)
    # a horizontal motion blur removes high horizontal frequencies: lower log power there
    hi = f.reshape(8, 5, 32, 32)[:, -1].mean()
    hi_blurred = g.reshape(8, 5, 32, 32)[:, -1].mean()
    assert hi_blurred < hi - 1.0
    # the spectra are normalised: a change of contrast does not change them (but for the
    # epsilon in the flattest windows)
    diff = (b.local_spectra(0.5 * x) - f).abs().reshape(-1)
    assert torch.quantile(diff, 0.99) < 1e-2 and diff.max() < 0.2


def test_spectral_fourier_network_round_trips(tmp_path):
    cfg = NetConfig(
        width=8,
        scales=2,
        unshuffle=2,
        res_blocks=1,
        ird_units=1,
        fuse_width=4,
        fourier=2,
        fourier_support=7,
        fourier_spectral=8,
    )
    torch.manual_seed(0)
    m = MultiScaleNet(cfg).eval()
    back = load_weights(save_weights(m, tmp_path / "s.safetensors"))
    x = torch.rand(1, 3, 30, 38)
    with torch.no_grad():
        assert torch.equal(m(x), back(x)) and torch.isfinite(m(x)).all()
