"""What a report reads from a study: its spec, trials per arm, budgets, failures and the trials table.

Everything here comes from the stored trials; nothing is trained. A study that is still running or
was interrupted is fine: WAITING and RUNNING trials are counted, only COMPLETE ones are compared.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..config import StudySpec
from ..search.study import REASON_ATTR, load_spec
from ..selection import best_per_arm, retried_numbers, trial_arm
from ..strategies import Arm, get_strategy_class

__all__ = ["ArmCounts", "StudyData", "collect", "trial_arm", "arm_of_trials"]

_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)


def arm_of_trials(label: str, trials: list[FrozenTrial]) -> Arm:
    """An Arm for a label the study's spec does not list (trials queued under an older layout):
    the strategy is read from the first of its trials that stored one."""
    for t in trials:
        strategy = t.user_attrs.get("strategy")
        if trial_arm(t) == label and isinstance(strategy, dict):
            try:
                cls = get_strategy_class(str(strategy.get("name")))
            except ValueError:
                break
            return Arm(cls.name, (), label, cls.role, cls.adjusts)
    return Arm("", (), label)


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
    arm_info: dict[str, Arm] = field(default_factory=dict)  # label -> the arm (strategy, fixed values, role)

    def arm(self, label: str) -> Arm:
        """The arm behind a label (strategy, fixed values, role, whether it adjusts)."""
        return self.arm_info.get(label) or Arm("", (), label)

    def role(self, label: str) -> str:
        """"candidate" or "baseline" (the strategy's declared role)."""
        return self.arm(label).role

    def adjusts(self, label: str) -> bool:
        """Whether the arm's strategy changes family or α while training (every arm but a fixed one)."""
        return self.arm(label).adjusts

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
    retried = retried_numbers(trials)
    arm_info = {a.label: a for a in spec.search.arms}
    arms = list(spec.arms)
    for t in trials:
        arm = trial_arm(t)
        if arm is not None and arm not in arms:
            arms.append(arm)
            arm_info[arm] = arm_of_trials(arm, trials)
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
        arm_info=arm_info,
    )

