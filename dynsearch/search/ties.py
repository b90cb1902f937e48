"""Tied and saturated best values: when the objective cannot tell the best trials apart, say so.

With small validation sets, several trials often reach the same mean validation metric, often the
metric's maximum (1.0), and the choice between them is then made by the tie-break rule, not by the
data. ``find_tie`` detects this so that ``run``, ``report`` and ``export`` can warn, and name the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from optuna.trial import FrozenTrial, TrialState

from ..selection import TIE_BREAK
from .space import ARM_PARAM

__all__ = ["TIE_BREAK", "Tie", "find_tie", "find_ties_per_arm", "per_arm_message"]

# How every selection of "the best trial" breaks a tie on the first objective.
# Accuracy and R² are at most 1; a best value there cannot be improved on, only matched.
METRIC_CEILING = 1.0
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Tie:
    """The trials sharing the best first-objective value, and whether that value is the ceiling."""

    value: float
    trials: tuple[int, ...]  # trial numbers at the best value, ascending; trials[0] wins the tie
    arms: tuple[str, ...]  # their arms, each once, in trial order
    saturated: bool

    def message(self, what: str = "mean validation metric") -> str:
        """One line: what ties or saturates, and which trial the tie-break picks.

        Example:
            >>> Tie(1.0, (0, 3), ("fixed-relu", "linear-layer"), True).message()
            'warning: 2 trials tie at the best mean validation metric 1.0000 (trials 0, 3; arms fixed-relu, linear-layer), the maximum the metric can reach, so validation cannot rank them; the tie goes to the earliest trial (lowest number): trial 0'
        """
        shown = ", ".join(map(str, self.trials[:8])) + (", …" if len(self.trials) > 8 else "")
        arms = f"; arm{'s' if len(self.arms) > 1 else ''} {', '.join(self.arms)}" if self.arms else ""
        if len(self.trials) == 1:
            return (f"warning: the best {what} {self.value:.4f} (trial {shown}{arms}) is the maximum the metric "
                    "can reach, so validation cannot rank it against configurations that would do better")
        line = f"warning: {len(self.trials)} trials tie at the best {what} {self.value:.4f} (trials {shown}{arms})"
        if self.saturated:
            line += ", the maximum the metric can reach, so validation cannot rank them"
        return f"{line}; the tie goes to {TIE_BREAK}: trial {self.trials[0]}"


def _scored(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.values and math.isfinite(t.values[0])]


def find_tie(
    trials: Sequence[FrozenTrial],
    *,
    maximize: bool = True,
    ceiling: float | None = METRIC_CEILING,
    arm_of: Callable[[FrozenTrial], str | None] = lambda t: t.params.get(ARM_PARAM),
) -> Tie | None:
    """The tie at the best first objective of the COMPLETE trials, or None when one trial is clearly best.

    A single best trial is still reported when its value is the ``ceiling`` (saturated); pass
    ``ceiling=None`` for an objective without one.
    """
    scored = _scored(trials)
    if not scored:
        return None
    pick = max if maximize else min
    best = pick(t.values[0] for t in scored)
    tolerance = _TOLERANCE * max(1.0, abs(best))
    tied = sorted((t for t in scored if abs(t.values[0] - best) <= tolerance), key=lambda t: t.number)
    saturated = maximize and ceiling is not None and best >= ceiling - tolerance
    if len(tied) < 2 and not saturated:
        return None
    arms = tuple(dict.fromkeys(a for a in (arm_of(t) for t in tied) if a is not None))
    return Tie(best, tuple(t.number for t in tied), arms, saturated)


def find_ties_per_arm(trials: Sequence[FrozenTrial], *, maximize: bool = True) -> dict[str, Tie]:
    """``find_tie`` within each arm: the arms whose own best trial is tied or saturated."""
    by_arm: dict[str, list[FrozenTrial]] = {}
    for t in _scored(trials):
        arm = t.params.get(ARM_PARAM)
        if arm is not None:
            by_arm.setdefault(arm, []).append(t)
    ties = {arm: find_tie(group, maximize=maximize) for arm, group in by_arm.items()}
    return {arm: tie for arm, tie in ties.items() if tie is not None}


def per_arm_message(ties: dict[str, Tie]) -> str | None:
    """One line for the arms whose best trial is tied or saturated (each arm's best is what gets re-trained)."""
    if not ties:
        return None
    parts = [f"{arm} ({len(tie.trials)} trial{'s' if len(tie.trials) > 1 else ''} at {tie.value:.4f}"
             + (", saturated" if tie.saturated else "") + ")" for arm, tie in sorted(ties.items())]
    return (f"warning: within {len(ties)} arm{'s' if len(ties) > 1 else ''} the best validation value ties or "
            f"saturates: {'; '.join(parts)}; each arm's best is {TIE_BREAK} among them")
