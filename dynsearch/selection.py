"""Which trial is best: one rule for the search summary, the report and ``export``.

The rule: among COMPLETE trials with a finite first objective (the mean validation metric,
maximized), the highest value wins; a tie goes to the earliest trial (lowest number), the one
the study found first. ``best_per_arm`` applies the same function to each arm, so the report and
``export`` can never disagree about a winner. This module imports neither Optuna nor torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Collection, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from optuna.trial import FrozenTrial

__all__ = ["ARM_PARAM", "trial_arm", "retried_numbers", "select_best_trial", "best_per_arm", "TIE_RULE", "TIE_BREAK"]

ARM_PARAM = "arm"
TIE_BREAK = "the earliest trial (lowest number)"
TIE_RULE = f"equal values go to {TIE_BREAK}"


def trial_arm(trial: FrozenTrial) -> str | None:
    """The trial's arm label (a queued trial has it only among its fixed parameters)."""
    fixed = trial.system_attrs.get("fixed_params", {})
    return trial.params.get(ARM_PARAM, fixed.get(ARM_PARAM))


#: System attribute of a fresh trial queued in place of a failed one (its number).
REPLACES_ATTR = "replaces_trial"


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of FAIL trials whose slot lives on in another trial: a re-queued copy (same parameters)
    or a replacement (a fresh draw of the same arm and replicate)."""
    retried: set[int] = set()
    for t in trials:
        retried.update(t.system_attrs.get("retry_history", []))
        if REPLACES_ATTR in t.system_attrs:
            retried.add(t.system_attrs[REPLACES_ATTR])
    return retried


def _score(trial: FrozenTrial) -> float | None:
    # optuna loads on first use: a search worker that does not need it never imports it
    from optuna.trial import TrialState

    if trial.state != TrialState.COMPLETE or not trial.values or not math.isfinite(trial.values[0]):
        return None
    return trial.values[0]


def select_best_trial(trials: Iterable[FrozenTrial], arms: Collection[str] | None = None) -> FrozenTrial | None:
    """The best trial (see the module's rule), optionally only among trials of the arms ``arms``."""
    best: FrozenTrial | None = None
    best_score = -math.inf
    for t in sorted(trials, key=lambda t: t.number):
        score = _score(t)
        if score is None or (arms is not None and trial_arm(t) not in arms):
            continue
        if best is None or score > best_score:
            best, best_score = t, score
    return best


def best_per_arm(trials: Iterable[FrozenTrial]) -> dict[str, FrozenTrial]:
    """The best trial of every arm that has one, by ``select_best_trial``."""
    trials = list(trials)
    out: dict[str, FrozenTrial] = {}
    for arm in dict.fromkeys(a for a in map(trial_arm, trials) if a is not None):
        best = select_best_trial(trials, {arm})
        if best is not None:
            out[arm] = best
    return out
