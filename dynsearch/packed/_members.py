"""Each member's host-side view of its sites, so the trainer's own adjustment rule runs on it.

``adjustment.adjust_sites`` decides for anything shaped like an ``ActivationSite``; a ``MemberSite`` is
one member's row of a packed site: its strategy, family and α mirrors, switch counters, and
``stats`` read from the pack's sums (copied to the host once per epoch).
"""

from __future__ import annotations

from typing import Any

from ..activations import get_family
from ..signals import PearsonMoments, PearsonResult, moments_from_gram, pearson_from_moments
from ..sites import ActivationSite
from ..strategies import Strategy

__all__ = ["MemberStats", "MemberSite"]


class MemberStats:
    """One member's sums at one site (or its target statistics), as of the last host copy.

    ``reset()`` marks the row; the engine zeroes marked rows on the device after the adjustment.
    """

    def __init__(self, measured: bool) -> None:
        self.measured = measured
        self.gram: list[list[float]] | None = None
        self.shift: tuple[float, float] = (0.0, 0.0)
        self.reset_requested = False
        self.fresh = True  # no pairs since the last reset: the next batch sets the shift

    def moments(self) -> PearsonMoments:
        if not self.measured or self.gram is None:
            return PearsonMoments.empty()
        return moments_from_gram(self.gram, *self.shift)

    def compute(self) -> PearsonResult:
        return pearson_from_moments(self.moments())

    def reset(self) -> None:
        self.reset_requested = True


class MemberSite:
    """One member's state at one site, with the attributes ``adjust_sites`` reads and sets."""

    def __init__(self, site: ActivationSite, strategy: Strategy) -> None:
        self.strategy = strategy
        self.family = site.family
        self.alpha = site.alpha_value
        self.learned = site.learned
        self.initial_family = site.initial_family
        self.initial_alpha = site.initial_alpha
        self.last_switch_epoch: int | None = None
        self.n_switches_ = 0
        self.stats = MemberStats(site.measure and site.signal_meter is None)
        self.signal_meter: Any = None  # a MemberMeter when the strategy reads another signal (set by PackSignals)
        self.changed = False  # set_state ran since the pack last wrote α to the device

    @property
    def alpha_value(self) -> float:
        return self.alpha

    def set_state(self, family: str, alpha: float) -> None:
        """As ``ActivationSite.set_state``: the family and α clipped to its range."""
        fam = get_family(family)
        self.family = fam.name
        self.alpha = fam.clip(float(alpha))
        self.changed = True

    def keep_alpha_in_range(self) -> None:
        """As ``ActivationSite.keep_alpha_in_range``: a learned α clipped into its family's range."""
        self.set_state(self.family, self.alpha)

    def snapshot(self) -> tuple[str, float]:
        return self.family, self.alpha

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"MemberSite({self.family}, {self.alpha:.4g})"
