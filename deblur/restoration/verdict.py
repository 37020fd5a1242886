"""The result check's verdicts and the report :func:`deblur.restore` gives back.

:func:`decide` turns the figures of :mod:`deblur.restoration.guard` into a verdict;
:class:`GuardReport` holds both, what was done, and the one-line :attr:`GuardReport.note`
that the command line prints. The verdicts, each with its own note:

``"ok"``
    The result is explained by its input through a plausible blur: kept.
``"doubtful"``
    It is not (the reason names the figure): the input is given back.
``"little changed"``
    The blur fitted between the input and the result is a delta: the method changed
    little. The input is given back. This says nothing about whether the input was sharp
    (a network can fail to change a blurred photo).
``"sharp input"``
    The input's *own* blind estimate (:func:`deblur.restoration.blind.estimate_psf`) is a
    delta, and the result changed little: the input is already sharp, given back. Only
    known where the kernel was estimated (``psf="auto"``, ``method="auto"``).
``"not checked"``
    Too small to check, ``strength`` 0, or the check was off: kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["SHARP_CENTER_MASS", "THRESHOLDS", "GuardReport", "decide", "mark_sharp_input"]

SHARP_CENTER_MASS = 0.9
"""A fitted kernel with at least this share of its mass in a 3x3 is a delta: the result
changed little (``"little changed"``, or ``"sharp input"`` when the input's own estimate
is a delta too)."""

THRESHOLDS = {
    "residual": 12.0,
    "smear": 1.0,
    "noise_gain": 6.0,
    "fit_gate": 1.2,
    "gated_noise_gain": 3.5,
    "invented": 6.0,
    "overshoot": 5.0,
}
"""Of :func:`decide`. ``smear`` is fixed by theory (a blur has ``|K| <= 1``); the others were
tuned on validation photos, uniform and spatially varying blur (``guard_eval.py --tune``)."""

_REASONS = {
    "residual": "residual {:.1f}x noise and model error",
    "smear": "smeared (blur gain {:.2f})",
    "noise_gain": "noise {:.1f}x the input's",
    "invented": "ringing or invented detail, {:.0f}x the noise where the blur left none",
    "overshoot": "halos {:.1f} levels beyond the input's range",
}

_ACTIONS = {
    "ok": "kept",
    "not checked": "kept",
    "doubtful": "fell back to input",
    "little changed": "passed through (little changed)",
    "sharp input": "passed through (input already sharp)",
}


@dataclass(frozen=True)
class GuardReport:
    """What the result check found and :func:`~deblur.restoration.guard.apply_guard` did.

    Attributes
    ----------
    verdict : {"ok", "doubtful", "little changed", "sharp input", "not checked"}
        See the module docstring.
    action : {"kept", "fell back to input", "passed through (little changed)", \
"passed through (input already sharp)"}
        What ``apply_guard`` returned (``check_restoration`` fills in what it would do).
    reason : str
        Short text: the figure that decided (``"residual 3.1x noise"``), or ``""``.
    residual, smear, noise_gain, invented, overshoot, center_mass : float
        The figures (see :mod:`deblur.restoration.guard`); finite for any finite input.
    noise_sigma : float
        Noise level estimated from the input, on the [0, 1] scale (>= ``SIGMA_FLOOR``).
    kernel_size : int
        Side of the fitted kernel's support, pixels (1 for a delta).
    method : str
        The method whose result this is (``"net"``, ``"hqs"``, ...); with
        ``method="auto"``, the one it chose. ``""`` when not recorded.
    choice : str
        With ``method="auto"``: why that method was chosen (one line); else ``""``.
    """

    verdict: str
    action: str
    reason: str
    residual: float
    smear: float
    noise_gain: float
    invented: float
    overshoot: float
    center_mass: float
    noise_sigma: float
    kernel_size: int
    method: str = ""
    choice: str = ""

    @property
    def doubtful(self) -> bool:
        """True when the result should not be trusted."""
        return self.verdict == "doubtful"

    @property
    def kept_input(self) -> bool:
        """True when the input was given back instead of the method's result."""
        return self.action != "kept"

    @property
    def note(self) -> str:
        """One line for the user: what was done and why; ``""`` when the result was kept."""
        if self.verdict == "doubtful":
            return f"result doubtful ({self.reason}); kept the input"
        if self.verdict == "sharp input":
            return "input already sharp (its blur estimate is a delta); kept the input"
        if self.verdict == "little changed":
            return "little changed (no blur between input and result); kept the input"
        return ""


def decide(fig: dict, thresholds: dict | None = None, *, input_sharp: bool = False) -> dict:
    """Add the verdict and reason to a dict of figures (see :data:`THRESHOLDS`).

    Parameters
    ----------
    fig : dict
        The figures of one (input, result) pair; one that holds a ``"verdict"`` already is
        returned as it is.
    thresholds : dict, optional
        Replaces :data:`THRESHOLDS` (tuning).
    input_sharp : bool
        The input's own blind estimate was a delta: a result that changed little is then
        ``"sharp input"``, not ``"little changed"``.

    Returns
    -------
    dict
        ``fig`` with ``"verdict"`` and ``"reason"`` added.
    """
    if "verdict" in fig:
        return fig
    t = THRESHOLDS if thresholds is None else thresholds
    if fig["center_mass"] >= SHARP_CENTER_MASS:
        if input_sharp:
            reason = "the input's blur estimate is a delta"
            return {**fig, "verdict": "sharp input", "reason": reason}
        return {**fig, "verdict": "little changed", "reason": "fitted blur is a delta"}
    limits = {n: t[n] for n in ("residual", "smear", "noise_gain")}
    if fig["residual"] > t["fit_gate"]:
        limits.update(invented=t["invented"], overshoot=t["overshoot"])
        limits["noise_gain"] = min(t["noise_gain"], t["gated_noise_gain"])
    over = {n: fig[n] / limit for n, limit in limits.items() if fig[n] > limit}
    if not over:
        return {**fig, "verdict": "ok", "reason": ""}
    worst = max(over, key=over.get)
    return {**fig, "verdict": "doubtful", "reason": _REASONS[worst].format(fig[worst])}


def make_report(fig: dict, sigma_floor: float, method: str = "") -> GuardReport:
    """The :class:`GuardReport` of a dict of figures with its verdict."""

    def num(name, default=0.0):
        return float(fig.get(name, default))

    return GuardReport(
        verdict=fig["verdict"],
        action=_ACTIONS[fig["verdict"]],
        reason=fig["reason"],
        residual=num("residual"),
        smear=num("smear"),
        noise_gain=num("noise_gain", 1.0),
        invented=num("invented"),
        overshoot=num("overshoot"),
        center_mass=num("center_mass"),
        noise_sigma=num("noise_sigma", sigma_floor),
        kernel_size=int(fig.get("kernel_size", 0)),
        method=method,
    )


def mark_sharp_input(report: GuardReport) -> GuardReport:
    """The report of a result that changed little from an input whose own blind estimate is a
    delta: ``"little changed"`` becomes ``"sharp input"``; other reports are returned as is."""
    if report.verdict != "little changed":
        return report
    return dataclasses.replace(
        report,
        verdict="sharp input",
        action=_ACTIONS["sharp input"],
        reason="the input's blur estimate is a delta",
    )
