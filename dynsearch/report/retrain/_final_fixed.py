"""The ``final_fixed`` control of every candidate, derived from its own re-training runs.

A search cannot know where a dynamic run will end, so this control is built by the report: every
re-training run of a candidate that changed a site ends in some family and α per site; the control
trains the same configuration (same trial, dataset, split and seed) with every site starting in that
end state and never adjusting (``FinalFixed``). The pair (candidate run, its control run) shares
everything but the adjusting, so "adjusting during training helps" is tested apart from "the end
state helps". Its runs are cached in ``retrain.json`` under the arm ``final_fixed(ARM)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ...strategies import FinalFixed
from ..roles import CANDIDATE, arm_role
from ._runner import ProgressBar, run_jobs
from ._store import RetrainJob, RetrainRun

__all__ = ["derived_label", "final_fixed_jobs", "is_derived", "run_final_fixed"]

_PREFIX = "final_fixed("


def derived_label(arm: str) -> str:
    """The label of ``arm``'s derived control, e.g. ``final_fixed(threshold-layer)``."""
    return f"{_PREFIX}{arm})"


def is_derived(label: str) -> bool:
    return label.startswith(_PREFIX) and label.endswith(")")


def _changed(run: RetrainRun) -> bool:
    a = run.activity or {}
    return bool(a.get("sites_changed"))


def final_fixed_jobs(jobs: Iterable[RetrainJob], runs: Mapping[str, RetrainRun], candidates: set[str]) -> list[RetrainJob]:
    """One control job per scored re-training run of a candidate that changed any site.

    A run that never changed a site ended where it started: its control would repeat it, so it gets none.
    """
    out = []
    for job in jobs:
        run = runs.get(job.key)
        if job.arm not in candidates or run is None or not run.ok or not run.end_state or not _changed(run):
            continue
        records = [{"family": family, "alpha": alpha} for family, alpha in run.end_state]
        strategy = FinalFixed.from_records(records).to_config()
        out.append(dataclasses.replace(job, arm=derived_label(job.arm), strategy=strategy, record_signals=False))
    return out


def run_final_fixed(
    data: Any, jobs: Iterable[RetrainJob], runs: Mapping[str, RetrainRun], store: Any, *, enabled: bool = True,
    bar: bool = False, **run_options: Any,
) -> tuple[dict[str, RetrainRun], int, int]:
    """Find or train the derived controls of ``jobs`` (``run_jobs`` options; ``bar``: a progress bar);
    returns ``({key: run}, jobs, trained now)``, empty unless ``enabled``."""
    candidates = {a for a in data.arms if arm_role(data, a) == CANDIDATE}
    todo = final_fixed_jobs(jobs, runs, candidates) if enabled else []
    if not todo:
        return {}, 0, 0
    progress = ProgressBar() if bar else None
    try:
        derived, trained = run_jobs(todo, store, progress=progress, **run_options)
    finally:
        if progress is not None:
            progress.close()
    return derived, len(todo), trained
