"""``method="auto"``: deconvolve with the photo's own blur estimate when it is trustworthy,
run the network otherwise.

For each image, :func:`choose` estimates the blur (:func:`deblur.restoration.blind.
estimate_psf`, or takes a kernel the caller estimated) and

1. when the estimate is not a delta, deconvolves with it by :data:`AUTO_STEP` (the
   non-blind step that measured best, see the constant) and keeps that result when the result check
   (:func:`deblur.restoration.guard.check_restoration`) finds it explained by the input
   through a plausible blur (verdict ``"ok"``): the estimate is then confident;
2. otherwise (a delta estimate, a failed estimate, an image too small or flat to
   estimate, a doubtful deconvolution) it runs the network.

What was chosen and why is returned per image, for the report and the notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from deblur.errors import PSFError

__all__ = ["AUTO_STEP", "Choice", "choose", "is_delta"]

AUTO_STEP = "hqs"
"""Non-blind step of ``auto``: HQS/TV, which beats RL and Wiener given the same kernel in
``tests/test_hqs.py``; the validation comparison with estimated kernels is
``benchmarks/blind_eval.py`` (HQS-auto against RL-auto)."""


@dataclass(frozen=True)
class Choice:
    """What :func:`choose` did for one image.

    Attributes
    ----------
    method : {"hqs", "net"}
        The method whose result was returned.
    why : str
        One line: the kernel used, or why the estimate was not.
    input_sharp : bool
        The estimate was a delta (the input may be sharp; the check decides with the
        network's result).
    psf : ndarray of shape (h, h) or None
        The estimate (float32, sums to 1), None when there was none.
    """

    method: str
    why: str
    input_sharp: bool
    psf: np.ndarray | None


def is_delta(k: np.ndarray) -> bool:
    """True for a kernel with (almost) all its mass on its centre pixel.

    Parameters
    ----------
    k : ndarray of shape (h, w)
        Non-negative kernel summing to 1, centre at ``(h // 2, w // 2)``.

    Returns
    -------
    bool
    """
    k = np.asarray(k)
    return bool(k[k.shape[0] // 2, k.shape[1] // 2] >= 0.999 * k.sum())


def _one(x: torch.Tensor, run_net, size, psf, boundary) -> tuple[torch.Tensor, Choice]:
    from deblur.restoration.blind import estimate_psf
    from deblur.restoration.guard import check_restoration
    from deblur.restoration.hqs import hqs_deconv

    try:
        k = estimate_psf(x, size) if psf is None else np.asarray(psf, np.float32)
    except PSFError as e:  # too small, flat, or a failed estimate
        return run_net(x), Choice("net", f"no blur estimate ({e})", False, None)
    if is_delta(k):
        return run_net(x), Choice("net", "the blur estimate is a delta", True, k)
    out = hqs_deconv(x, k, boundary=boundary)
    rep = check_restoration(x, out)
    kernel = f"the {'estimated' if psf is None else 'given'} {k.shape[0]}x{k.shape[1]} kernel"
    if rep.verdict == "ok":
        return out, Choice(AUTO_STEP, f"deconvolved with {kernel}", False, k)
    why = f"deconvolution with {kernel} was {rep.verdict}"
    return run_net(x), Choice("net", why + (f" ({rep.reason})" if rep.reason else ""), False, k)


def choose(
    x: torch.Tensor,
    run_net: Callable[[torch.Tensor], torch.Tensor],
    *,
    size: int | None = None,
    psf: np.ndarray | None = None,
    boundary: str = "reflect",
) -> tuple[torch.Tensor, list[Choice]]:
    """Restore each image of a batch by its own blur estimate or by the network.

    Parameters
    ----------
    x : float32 tensor of shape ``(B, C, H, W)``, C in {1, 3}, values in [0, 1]
        The blurred images.
    run_net : callable
        ``run_net(t)`` restores a ``(1, C, H, W)`` tensor with the network.
    size : int, optional
        Largest kernel side estimated (odd, 3 to 101; :func:`estimate_psf`'s default 45).
    psf : ndarray of shape (h, w), optional
        A kernel the caller estimated already, used instead of estimating.
    boundary : {"reflect", "periodic", "zero"}
        Boundary model of the deconvolution.

    Returns
    -------
    out : float32 tensor of shape ``(B, C, H, W)``, values in [0, 1]
    choices : list of B :class:`Choice`
    """
    outs, choices = [], []
    for b in range(x.shape[0]):
        out, c = _one(x[b : b + 1], run_net, size, psf, boundary)
        outs.append(out.to(x.device, torch.float32).clamp(0, 1))
        choices.append(c)
    return torch.cat(outs), choices
