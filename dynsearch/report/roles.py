"""An arm's role in the comparison: a *candidate* (a dynamic rule under test: threshold, linear, a
user's strategy) or a *baseline* (fixed and learned activations). The strategy class declares it
(``Strategy.role``); this is the report's one place that asks."""

from __future__ import annotations

from ..config import arm_strategy
from ..strategies import get_strategy_class

__all__ = ["CANDIDATE", "BASELINE", "arm_role", "arm_strategy_name"]

CANDIDATE, BASELINE = "candidate", "baseline"


def arm_strategy_name(arm: str) -> str:
    """The strategy an arm runs (``threshold-layer`` → ``threshold``)."""
    try:
        return arm_strategy(arm)[0]
    except ValueError:
        return arm.rpartition("-")[0] or arm


def arm_role(arm: str) -> str:
    """``"candidate"`` or ``"baseline"``; an arm whose strategy is not registered counts as a candidate.

    Example:
        >>> arm_role("threshold-layer"), arm_role("fixed-relu"), arm_role("learned-tanh")
        ('candidate', 'baseline', 'baseline')
    """
    try:
        return get_strategy_class(arm_strategy_name(arm)).role
    except ValueError:
        return CANDIDATE
