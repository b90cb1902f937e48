"""Re-training for the comparison: the best configuration of every arm, R fresh seeds, scored on test.

The search picked each arm's best trial on the validation split with its own seeds (0, 1, …).
Re-using those runs would reward the luckiest seed, so the report re-trains every chosen
configuration with seeds ``SEED_BASE …`` (never used by the search) on every dataset of the study,
with the study's split seed and the trial's own training settings, and only now scores the held-out
test split (``evaluate_test=True``).

Results are kept in ``retrain.json`` next to the report, one record per
``arm / trial / dataset / seed``, with a fingerprint of everything that determines the run (strategy,
training settings, dataset, split seed). A later report re-uses every record whose fingerprint
still matches and trains only what is missing; ``refresh=True`` trains everything again.

This module plans the jobs; ``retrain_store`` holds the jobs, runs and the store, ``retrain_runner``
packs and runs the jobs in parallel processes (joblib), ``retrain_pack`` trains them in a process.
"""

from __future__ import annotations

from typing import Any, Iterable

from .retrain_pack import chance_level
from .retrain_runner import ProgressBar, ProgressFn, default_jobs, plan_packs, run_jobs, stderr_progress
from .retrain_store import (
    DEFAULT_SEEDS,
    RETRAIN_SCHEMA,
    SEED_BASE,
    RetrainJob,
    RetrainRun,
    RetrainStore,
    retrain_seeds,
)
from .trials import StudyData

__all__ = [
    "DEFAULT_SEEDS",
    "SEED_BASE",
    "RETRAIN_SCHEMA",
    "RetrainJob",
    "RetrainRun",
    "RetrainStore",
    "retrain_seeds",
    "plan_jobs",
    "plan_packs",
    "run_jobs",
    "default_jobs",
    "stderr_progress",
    "ProgressBar",
    "ProgressFn",
    "best_per_replicate",
    "replicate_of",
    "chance_level",
]


def replicate_of(trial: Any) -> int:
    """The search replicate a trial belongs to (0 for a study without replicates)."""
    return int(trial.user_attrs.get("replicate", 0))


def best_per_replicate(data: StudyData) -> dict[tuple[int, str], Any]:
    """The best COMPLETE trial of every (replicate, arm), chosen on validation by the search's rule."""
    from ..search.study import best_per_arm

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
