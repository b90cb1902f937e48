"""Which re-training jobs a report needs: the best trial of every (replicate, arm), on every dataset, for every seed."""

from __future__ import annotations

from typing import Any, Iterable

from ...search.study import best_per_arm
from ..trials import StudyData
from ._store import RetrainJob

__all__ = ["replicate_of", "best_per_replicate", "plan_jobs"]


def replicate_of(trial: Any) -> int:
    """The search replicate a trial belongs to (0 for a study without replicates)."""
    return int(trial.user_attrs.get("replicate", 0))


def best_per_replicate(data: StudyData) -> dict[tuple[int, str], Any]:
    """The best COMPLETE trial of every (replicate, arm), chosen on validation by the search's rule."""
    by_rep: dict[int, list[Any]] = {}
    for t in data.trials:
        by_rep.setdefault(replicate_of(t), []).append(t)
    return {(rep, arm): t for rep in sorted(by_rep) for arm, t in best_per_arm(by_rep[rep]).items()}


def plan_jobs(data: StudyData, seeds: Iterable[int]) -> list[RetrainJob]:
    """Every (replicate, arm) winner × dataset × seed, arms in the study's order. Each winner is
    re-trained on its own replicate's split (``split_seed`` user attribute, else the study's)."""
    seeds = list(seeds)
    winners = best_per_replicate(data)
    jobs = []
    for (rep, arm), trial in sorted(winners.items(), key=lambda kv: (kv[0][0], data.arms.index(kv[0][1])
                                                                    if kv[0][1] in data.arms else len(data.arms))):
        strategy, train = trial.user_attrs.get("strategy"), trial.user_attrs.get("train")
        if not isinstance(strategy, dict) or not isinstance(train, dict):
            continue
        split_seed = int(trial.user_attrs.get("split_seed", data.spec.split_seed))
        for ds in data.spec.datasets:
            for seed in seeds:
                # Signals cost a little per step: measured on the first seed, enough to show where they lay.
                jobs.append(RetrainJob(arm, trial.number, ds, seed, strategy, train, split_seed, rep,
                                       data.spec.plugins, record_signals=seed == seeds[0]))
    return jobs
