"""One selection rule: the search summary, the report and ``export`` pick the same best trial."""

from __future__ import annotations

import math

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from dynsearch.report.trials import collect
from dynsearch.selection import TIE_RULE, best_per_arm, select_best_trial

ARMS = ["fixed-relu", "threshold-layer"]
DIST = {"arm": CategoricalDistribution(ARMS)}


def _trial(number: int, arm: str, value: float | None, state: TrialState = TrialState.COMPLETE):
    t = create_trial(state=state, value=value, params={"arm": arm}, distributions=DIST)
    t.number = number
    return t


def test_highest_value_wins_and_ties_go_to_the_earliest_trial() -> None:
    trials = [
        _trial(3, "threshold-layer", 0.9),
        _trial(0, "fixed-relu", 0.8),
        _trial(1, "threshold-layer", 0.9),  # ties with trial 3, found first
        _trial(2, "fixed-relu", 0.95, TrialState.PRUNED),  # not complete: never chosen
        _trial(4, "fixed-relu", math.inf),  # no finite value: never chosen
        _trial(5, "fixed-relu", 0.8),  # ties with trial 0
    ]
    assert select_best_trial(trials).number == 1
    assert select_best_trial(list(reversed(trials))).number == 1  # the order given does not matter
    assert {a: t.number for a, t in best_per_arm(trials).items()} == {"threshold-layer": 1, "fixed-relu": 0}
    assert select_best_trial(trials, ["fixed-relu"]).number == 0
    assert select_best_trial(trials, []) is None
    assert "earliest" in TIE_RULE


def test_report_and_export_agree_on_a_study(tmp_path) -> None:
    """The report's best per arm is what ``export`` picks for that arm, on a stored study."""
    from dynsearch.config import parse_study
    from dynsearch.export import matching_arms
    from dynsearch.search.study import SPEC_ATTR

    spec = parse_study({"datasets": ["iris"], "n_trials": 2, "search": {"strategies": ["fixed", "threshold"],
                        "bases": ["relu"], "scopes": ["layer"]}}, "s.toml")  # fmt: skip
    study = optuna.create_study(study_name="s", direction="maximize")
    study.set_user_attr(SPEC_ATTR, spec.to_dict())
    values = [0.5, 0.7, 0.7, 0.6, 0.7, 0.2]
    for i, value in enumerate(values):
        study.add_trial(create_trial(value=value, params={"arm": spec.arms[i % 2]},
                                     distributions={"arm": CategoricalDistribution(spec.arms)}))
    data = collect(study)
    for arm in spec.arms:
        exported = select_best_trial(study.get_trials(), matching_arms(spec, spec.arm(arm).strategy))
        assert data.best[arm].number == exported.number
    assert data.best["fixed-relu"].number == 2  # 0.7 at trials 2 and 4: the earlier one
    assert data.best["threshold-layer"].number == 1
