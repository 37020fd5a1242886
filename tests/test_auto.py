"""method="auto" (estimate, HQS when the check trusts it, else the network) and the check's
truthful notes ("little changed", "already sharp", "doubtful") and warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from deblur.errors import DeblurWarning
from deblur.psf import blur, camera_shake
from deblur.restoration.auto import choose, is_delta
from deblur.restoration.verdict import GuardReport, decide, mark_sharp_input


@pytest.fixture(scope="module")
def photo():
    """A 96x96 photo crop, sharp and blurred by a 7 px shake with 0.5% noise, (1, 3, H, W)."""
    from skimage import data

    img = data.astronaut()[100:196, 170:266].astype(np.float32) / 255
    sharp = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    noise = 0.005 * torch.randn(sharp.shape, generator=torch.Generator().manual_seed(0))
    blurred = (blur(sharp, camera_shake(7, 1), "reflect") + noise).clamp(0, 1)
    return sharp, blurred


class FakeNet:
    def __init__(self):
        self.calls = 0

    def __call__(self, t):
        self.calls += 1
        return t.clone()


def test_is_delta():
    d = np.zeros((3, 3), np.float32)
    d[1, 1] = 1
    assert is_delta(d)
    assert not is_delta(camera_shake(7, 1))


def test_blurred_photo_is_deconvolved_with_its_estimate(photo):
    from deblur.metrics import psnr

    sharp, blurred = photo
    net = FakeNet()
    out, (c,) = choose(blurred, net, size=11)
    assert c.method == "hqs" and net.calls == 0 and not c.input_sharp
    assert "estimated" in c.why and c.psf is not None and not is_delta(c.psf)
    assert out.shape == blurred.shape and out.dtype == torch.float32
    # measured 32.75 dB against 29.89 for the blurred input
    assert psnr(out, sharp) > psnr(blurred, sharp) + 1.5


def test_sharp_photo_goes_to_the_network(photo):
    sharp, _ = photo
    net = FakeNet()
    out, (c,) = choose(sharp, net, size=11)
    assert c.method == "net" and net.calls == 1 and c.input_sharp
    assert "delta" in c.why and torch.equal(out, sharp)


def test_no_estimate_goes_to_the_network():
    flat = torch.full((1, 3, 40, 40), 0.5)
    net = FakeNet()
    _, (c,) = choose(flat, net)  # 40 px is too small for a 45 px kernel, and flat
    assert c.method == "net" and net.calls == 1 and "no blur estimate" in c.why


def test_a_batch_is_chosen_image_by_image(photo):
    sharp, blurred = photo
    net = FakeNet()
    _, choices = choose(torch.cat([blurred, sharp]), net, size=11)
    assert [c.method for c in choices] == ["hqs", "net"] and net.calls == 1


def test_restore_auto_reports_its_choice(photo):
    from deblur import restore

    _, blurred = photo
    img = blurred[0].permute(1, 2, 0).numpy()
    out, rep = restore(img, "auto", psf="auto:11", return_report=True)
    assert out.shape == img.shape
    assert rep.method == "hqs" and rep.choice.startswith("deconvolved") and rep.verdict == "ok"
    _, rep = restore(img, "auto", psf="auto:11", guard=False, return_report=True)
    assert rep.verdict == "not checked" and rep.method == "hqs"
    with pytest.raises(ValueError, match="SIZE odd"):
        restore(img, "auto", psf="auto:4")


def _report(verdict: str, reason: str = "") -> GuardReport:
    from deblur.restoration.verdict import make_report

    return make_report({"verdict": verdict, "reason": reason}, 0.002)


def test_notes_tell_the_cases_apart():
    assert _report("ok").note == "" and not _report("ok").kept_input
    doubt = _report("doubtful", "noise 7.0x the input's")
    assert doubt.note == "result doubtful (noise 7.0x the input's); kept the input"
    little = _report("little changed", "fitted blur is a delta")
    assert little.note.startswith("little changed") and little.kept_input
    assert "sharp" not in little.note
    sharp = mark_sharp_input(little)
    assert sharp.verdict == "sharp input" and sharp.note.startswith("input already sharp")
    assert mark_sharp_input(doubt) is doubt


def test_decide_needs_the_inputs_estimate_to_say_sharp():
    fig = {"center_mass": 0.95, "residual": 1.0, "smear": 0.5, "noise_gain": 1.0}
    assert decide(dict(fig))["verdict"] == "little changed"
    assert decide(dict(fig), input_sharp=True)["verdict"] == "sharp input"


def test_restore_warns_when_it_gives_back_the_input(photo):
    from deblur import restore

    sharp, _ = photo
    img = sharp[0].permute(1, 2, 0).numpy()
    delta = np.zeros((3, 3), np.float32)
    delta[1, 1] = 1
    with pytest.warns(DeblurWarning, match="little changed"):
        out = restore(img, "hqs", psf=delta)
    assert np.array_equal(out, img)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the report says it
        _, rep = restore(img, "hqs", psf=delta, return_report=True)
        assert rep.kept_input
        out = restore(img, "hqs", psf=delta, guard=False)


def test_cli_restore_auto_notes_the_choice(photo, tmp_path):
    from conftest import write_png
    from typer.testing import CliRunner

    from deblur.cli import app

    _, blurred = photo
    u8 = np.round(blurred[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    src = write_png(tmp_path / "a.png", u8)
    args = ["restore", str(src), "-o", str(tmp_path / "out"), "-m", "auto", "--psf", "auto:11"]
    r = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.stderr
    assert "auto: used hqs" in r.stderr and (tmp_path / "out/a.png").is_file()
    r = CliRunner().invoke(app, ["restore", str(src), "-m", "auto", "--psf", "gaussian:x"])
    assert r.exit_code == 2
