"""An arm's role in the comparison: a *candidate* (a dynamic rule under test: threshold, linear, a
user's strategy) or a *baseline* (fixed and learned activations). The strategy class declares it
(``Strategy.role``); this is the report's one place that asks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .trials import StudyData

__all__ = ["CANDIDATE", "BASELINE", "arm_role"]

CANDIDATE, BASELINE = "candidate", "baseline"


def arm_role(data: StudyData, arm: str) -> str:
    """``"candidate"``, ``"baseline"`` or ``"control"``: the role its strategy class declares, read from the
    study's arms (an arm whose strategy is not registered counts as a candidate)."""
    return data.role(arm) or CANDIDATE
