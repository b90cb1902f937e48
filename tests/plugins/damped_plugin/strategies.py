"""``damped``: the linear rule with damping and a delay, declared with float, int and categorical parameters.

Imported by the study files of ``tests/test_plugins.py`` through ``plugins = ["damped_plugin.strategies"]``
(``tests/plugins`` is on ``PYTHONPATH`` there), never by dynsearch itself.
"""

from __future__ import annotations

from dynsearch import SiteState, Strategy, get_family, register_strategy
from dynsearch.strategies import Choice, Family, Float, Int


@register_strategy("damped")
class DampedLinear(Strategy):
    """α moves a share ``damping`` of the way to α₀ ± λ·r each adjustment, after ``delay`` epochs."""

    search_space = (
        Family("base", ("relu",), requires_alpha=True),
        Float("lam", -1.0, 1.0, default=(-0.8, 0.8)),
        Float("damping", 0.05, 1.0, log=True),
        Int("delay", 0, 5, default=(0, 3)),
        Choice("mode", ("towards", "away"), what="mode"),
    )

    def __init__(self, *, lam: float = 0.2, damping: float = 0.5, delay: int = 0, mode: str = "towards", **common):
        super().__init__(**common)
        if mode not in ("towards", "away"):
            raise ValueError(f"The 'mode' parameter of DampedLinear must be towards or away. Got {mode!r} instead.")
        self.lam, self.damping, self.delay, self.mode = float(lam), float(damping), int(delay), mode

    def decide(self, r: float, state: SiteState) -> SiteState:
        if state.epoch < self.delay:
            return state
        sign = 1.0 if self.mode == "towards" else -1.0
        target = state.initial_alpha + sign * self.lam * r
        alpha = state.alpha + self.damping * (target - state.alpha)
        return state.replace(alpha=get_family(state.family).clip(alpha))
