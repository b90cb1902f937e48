"""What a report reads from a study: its spec, trials per arm, budgets, failures and the trials table.

Everything here comes from the stored trials; nothing is trained. A study that is still running or
was interrupted is fine: WAITING and RUNNING trials are counted, only COMPLETE ones are compared.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..config import StudySpec, arm_strategy
from ..search.space import ARM_PARAM
from ..search.study import REASON_ATTR, best_per_arm, load_spec

__all__ = ["ArmCounts", "StudyData", "collect", "trial_arm", "arm_kind", "is_dynamic_arm"]

_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)


def trial_arm(trial: FrozenTrial) -> str | None:
    """The trial's arm (a queued trial has it only among its fixed parameters)."""
    fixed = trial.system_attrs.get("fixed_params", {})
    return trial.params.get(ARM_PARAM, fixed.get(ARM_PARAM))


def arm_kind(arm: str) -> str:
    """The strategy name of an arm (``threshold-layer`` → ``threshold``)."""
    try:
        return arm_strategy(arm)[0]
    except ValueError:
        return arm.rpartition("-")[0] or arm


def is_dynamic_arm(arm: str) -> bool:
    """Every arm but the ``fixed-*`` baselines adjusts its activation while training."""
    return arm_kind(arm) != "fixed"


@dataclass
class ArmCounts:
    """Trials of one arm by state; ``retried`` counts FAIL trials whose slot was re-queued."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    retried: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned

    @property
    def total(self) -> int:
        return self.complete + self.pruned + self.failed + self.running + self.waiting


@dataclass
class StudyData:
    """A study as a report sees it."""

    name: str
    spec: StudySpec
    trials: list[FrozenTrial]
    directions: list[str]
    version: str
    arms: list[str]
    counts: dict[str, ArmCounts]
    best: dict[str, FrozenTrial]
    failures: list[tuple[int, str, str, str]] = field(default_factory=list)  # (number, arm, state, reason)

    @property
    def multi_objective(self) -> bool:
        return len(self.directions) > 1

    @property
    def n_complete(self) -> int:
        return sum(c.complete for c in self.counts.values())

    def budgets_equal(self) -> bool:
        """Whether every arm got the same number of trials (finished, running and queued)."""
        totals = {c.total - c.retried for c in self.counts.values()}
        return len(totals) <= 1

    def failure_reasons(self) -> list[tuple[str, str, int]]:
        """``(state, reason, count)``, most frequent first; numbers in pruning steps are kept."""
        counter = Counter((state, reason) for _, _, state, reason in self.failures)
        return [(s, r, n) for (s, r), n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def collect(study: optuna.Study) -> StudyData:
    """Read a dynsearch study (raises ValueError for a study dynsearch did not create)."""
    spec = load_spec(study)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    retried: set[int] = set()
    for t in trials:
        retried.update(t.system_attrs.get("retry_history", []))
    arms = list(spec.arms)
    for t in trials:
        arm = trial_arm(t)
        if arm is not None and arm not in arms:
            arms.append(arm)
    counts = {arm: ArmCounts() for arm in arms}
    failures = []
    for t in trials:
        arm = trial_arm(t)
        if arm is None:
            continue
        c = counts[arm]
        if t.state == TrialState.COMPLETE:
            c.complete += 1
        elif t.state == TrialState.PRUNED:
            c.pruned += 1
        elif t.state == TrialState.FAIL:
            c.failed += 1
            if t.number in retried:
                c.retried += 1
        elif t.state == TrialState.RUNNING:
            c.running += 1
        elif t.state == TrialState.WAITING:
            c.waiting += 1
        if t.state in (TrialState.PRUNED, TrialState.FAIL):
            reason = str(t.user_attrs.get(REASON_ATTR) or "no reason recorded")
            if t.state == TrialState.FAIL and t.number in retried:
                reason += " (re-queued)"
            failures.append((t.number, arm, t.state.name, reason))
    return StudyData(
        name=study.study_name,
        spec=spec,
        trials=trials,
        directions=[d.name.lower() for d in study.directions],
        version=str(study.user_attrs.get("dynsearch_version", "")),
        arms=arms,
        counts=counts,
        best=best_per_arm(trials),
        failures=failures,
    )

