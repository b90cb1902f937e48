"""The comparison: test scores of every arm per dataset, candidates against the baseline with the
dataset as the unit, ranks of all arms, what each candidate actually adjusted, collapses and the
design's power. Pure computation, no I/O; the rules are in ``report.inference._candidates`` and docs/reports.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ...data import dataset_origin
from ..activity import summarize_activity
from ..retrain import RetrainRun, best_per_replicate
from ..roles import BASELINE, CANDIDATE, arm_role
from ..trials import StudyData
from ._candidates import ALPHA, DEFAULT_MARGIN, adjust_family, infer_group, split_by_origin
from ._comparison import ArmScore, Comparison, DatasetTable, OverallRow, mean_or_none
from ._conclusion import conclusion_text
from ._power import variance_components
from ._ranks import RankResult, friedman_ranks

__all__ = ["compare"]

def _tables(data: StudyData, runs: Mapping[str, RetrainRun], seeds: list[int]) -> list[DatasetTable]:
    winners = _winners(data)
    by_key: dict[tuple[str, str], list[RetrainRun]] = {}
    for run in runs.values():
        by_key.setdefault((run.arm, run.dataset), []).append(run)
    tables = []
    for ds in data.spec.datasets:
        rows, metric = [], ""
        for arm, trials in winners.items():
            numbers = {t.number for t in trials}
            arm_runs = sorted((r for r in by_key.get((arm, ds.label), []) if r.trial in numbers and r.seed in seeds),
                              key=lambda r: (r.replicate, r.seed))
            stored = [((t.user_attrs.get("datasets") or {}).get(ds.label) or {}) for t in trials]
            metric = metric or next((r.metric for r in arm_runs if r.metric), "") or next(
                (s.get("metric", "") for s in stored if s.get("metric")), "")
            vals = [s["val_metric"] for s in stored if s.get("val_metric") is not None]
            rows.append(ArmScore(arm, [t.number for t in trials], metric, arm_runs, mean_or_none(vals)))
        means = [r.test_mean for r in rows if r.test_mean is not None]
        top = max(means) if means else None
        best = [r.arm for r in rows if top is not None and r.test_mean is not None and abs(r.test_mean - top) <= 1e-12]
        tables.append(DatasetTable(ds.label, metric or "accuracy", rows, best))
    return tables


def _winners(data: StudyData) -> dict[str, list]:
    """Each arm's winning trials, one per search replicate (``data.best`` when there are none)."""
    found = best_per_replicate(data) if getattr(data, "trials", None) else {}
    if not found:
        found = {(0, arm): t for arm, t in data.best.items()}
    out: dict[str, list] = {}
    for arm in data.arms:
        trials = [t for (rep, a), t in sorted(found.items(), key=lambda kv: kv[0][0]) if a == arm]
        if trials:
            out[arm] = trials
    return out


def _scores(tables: list[DatasetTable], attr: str) -> dict[str, dict[str, dict[tuple[int, int], float]]]:
    out: dict[str, dict[str, dict[tuple[int, int], float]]] = {}
    for t in tables:
        for row in t.rows:
            values = getattr(row, attr)
            if values:
                out.setdefault(row.arm, {})[t.label] = values
    return out


def _overall(tables: list[DatasetTable], arms: list[str], roles: dict[str, str], best_value: dict[str, float],
             ranks: RankResult | None) -> list[OverallRow]:
    rank_of = dict(zip(ranks.arms, ranks.mean_ranks)) if ranks is not None else {}
    rows = []
    for group in sorted({t.group for t in tables}):
        in_group = [t for t in tables if t.group == group]
        for arm in arms:
            per_ds = [row for t in in_group for row in t.rows if row.arm == arm and row.test_mean is not None]
            rows.append(OverallRow(arm, roles[arm], group, mean_or_none(r.test_mean for r in per_ds), len(per_ds),  # type: ignore[misc]
                                   sum(1 for t in in_group if arm in t.winners), best_value[arm],
                                   rank_of.get(arm, math.nan)))
    rows.sort(key=lambda r: (r.group, r.mean_test is None, -(r.mean_test or 0.0), r.arm))
    return rows


def _ranks(tables: list[DatasetTable], arms: list[str]) -> RankResult | None:
    if len(arms) < 2 or not tables:
        return None
    matrix = np.array([[next((r.test_mean for r in t.rows if r.arm == a and r.test_mean is not None), np.nan)
                        for a in arms] for t in tables], dtype=float)
    return friedman_ranks(arms, matrix, ALPHA)


def _spread(tables: list[DatasetTable]) -> tuple[int, dict[str, float]]:
    """How many replicates, and the mean replicate and seed variance of the test scores per arm × dataset."""
    cells = []
    for t in tables:
        for row in t.rows:
            reps: dict[int, list[float]] = {}
            for (rep, _), v in row.scores.items():
                reps.setdefault(rep, []).append(v)
            if reps:
                cells.append([reps[r] for r in sorted(reps)])
    if not cells:
        return 0, {}
    comp = variance_components(cells)
    n_rep = max(len(c) for c in cells)
    return n_rep, {"replicate": comp.replicate, "seed": comp.seed}


def compare(data: StudyData, runs: Mapping[str, RetrainRun], seeds: list[int], margin: float | None = None) -> Comparison:
    """Build the comparison from the re-training runs (keyed as ``RetrainJob.key``)."""
    margin = DEFAULT_MARGIN if margin is None else margin
    tables = _tables(data, runs, seeds)
    arms = [a for a in data.arms if any(r.arm == a for t in tables for r in t.rows)]
    roles = {a: arm_role(data, a) for a in data.arms}
    test, validation = _scores(tables, "scores"), _scores(tables, "validation")
    groups = []
    for group in sorted({t.group for t in tables if t.rows}):
        in_group = [t for t in tables if t.group == group]
        groups.append(infer_group(
            group, in_group[0].metric, [t.label for t in in_group],
            [a for a in arms if roles[a] == CANDIDATE], [a for a in arms if roles[a] == BASELINE],
            {a: {d: v for d, v in per.items() if d in {t.label for t in in_group}} for a, per in test.items()},
            {a: {d: v for d, v in per.items() if d in {t.label for t in in_group}} for a, per in validation.items()},
        ))
    adjust_family(groups, margin, ALPHA)
    by_origin = split_by_origin(groups, {ds.label: dataset_origin(ds.name) for ds in data.spec.datasets})
    adjust_family(by_origin, margin, ALPHA)
    ranks = _ranks(tables, arms)
    activity = {}
    for arm in arms:
        if roles[arm] == CANDIDATE:
            summary = summarize_activity(arm, [r.activity for t in tables for row in t.rows if row.arm == arm
                                               for r in row.ok_runs if r.activity])
            if summary is not None:
                activity[arm] = summary
    n_rep, spread = _spread(tables)
    best_value = {a: data.best[a].values[0] if a in data.best else math.nan for a in arms}
    comparison = Comparison(
        seeds, margin, tables, _overall(tables, arms, roles, best_value, ranks), groups, ranks, activity, n_rep,
        spread, [a for a in data.arms if a not in arms], roles, by_origin=by_origin,
    )
    comparison.conclusion = conclusion_text(comparison)
    return comparison

