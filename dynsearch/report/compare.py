"""The comparison: test scores of every arm per dataset, the winner, and dynamic arms against the best
fixed activation as paired differences over seeds × datasets. Pure computation, no I/O.

Rules (see docs/reports.md):

- Per dataset, an arm's score is the mean test metric over the re-training seeds with a 95 % Student-t
  interval; the *winner* is the arm with the highest mean (ties: all of them).
- The *best fixed activation* is the ``fixed-*`` arm with the highest mean test metric over all its
  seed × dataset runs. Picking the baseline on the same test scores favours the baseline, so a
  dynamic arm that beats it beats every fixed arm.
- Each dynamic arm is paired with that baseline run by run (same dataset, same seed): the mean
  difference with its 95 % t interval and a two-sided Wilcoxon signed-rank p-value
  (``report.stats.paired_difference``), Holm-adjusted over the dynamic arms compared. It *beats* the
  baseline when the interval lies above 0 and the adjusted p < ``ALPHA``; it is *worse* when the
  interval lies below 0 and the adjusted p < ``ALPHA``; otherwise there is no
  significant difference. Runs without a test score (diverged at once, crashed) are left out of the
  pairs and counted in the tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .retrain import RetrainRun
from .stats import PairedResult, holm_adjust, mean_ci, paired_difference
from .trials import StudyData

__all__ = ["ALPHA", "ArmScore", "DatasetTable", "PairedRow", "OverallRow", "Comparison", "compare", "conclusion_text"]

ALPHA = 0.05
CONFIDENCE = 0.95


@dataclass
class ArmScore:
    """One arm on one dataset."""

    arm: str
    trial: int
    metric: str
    runs: list[RetrainRun]
    search_val: float | None = None  # the trial's own validation metric (search seeds)

    @property
    def ok_runs(self) -> list[RetrainRun]:
        return [r for r in self.runs if r.ok]

    @property
    def scores(self) -> dict[int, float]:
        return {r.seed: float(r.test_metric) for r in self.ok_runs}  # type: ignore[arg-type]

    @property
    def n_failed(self) -> int:
        return len(self.runs) - len(self.ok_runs)

    @property
    def test(self) -> tuple[float, float, float] | None:
        values = [r.test_metric for r in self.ok_runs]
        return mean_ci(values, CONFIDENCE) if values else None

    @property
    def test_mean(self) -> float | None:
        t = self.test
        return None if t is None else t[0]

    @property
    def retrain_val(self) -> float | None:
        values = [r.best_val_metric for r in self.ok_runs if r.best_val_metric is not None]
        return sum(values) / len(values) if values else None

    @property
    def epochs(self) -> float | None:
        return _mean(r.epochs_run for r in self.ok_runs)

    @property
    def wall_time(self) -> float | None:
        return _mean(r.wall_time for r in self.runs)

    @property
    def switches(self) -> float | None:
        return _mean(r.n_switches for r in self.ok_runs)

    @property
    def failure_messages(self) -> list[str]:
        return [f"seed {r.seed}: {r.status}" + (f" ({r.message})" if r.message else "") for r in self.runs if not r.ok]


@dataclass
class DatasetTable:
    label: str
    metric: str
    rows: list[ArmScore]
    winners: list[str] = field(default_factory=list)


@dataclass
class PairedRow:
    arm: str
    baseline: str
    result: PairedResult | None
    verdict: str  # "better" | "worse" | "no significant difference" | "too few pairs"
    p_adjusted: float = math.nan  # Holm-adjusted over the dynamic arms compared


@dataclass
class OverallRow:
    """An arm over all datasets: mean of its per-dataset mean test metrics, datasets won."""

    arm: str
    trial: int
    mean_test: float | None
    datasets_scored: int
    wins: int
    search_value: float


@dataclass
class Comparison:
    seeds: list[int]
    tables: list[DatasetTable]
    overall: list[OverallRow]
    best_fixed: str | None
    paired: list[PairedRow]
    no_complete: list[str]
    conclusion: str


def _mean(values: Iterable[float]) -> float | None:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else None


def _verdict(result: PairedResult, p_adjusted: float) -> str:
    if result.n < 2 or math.isnan(result.p_value):
        return "too few pairs"
    if result.mean_diff > 0 and result.ci_low > 0 and p_adjusted < ALPHA:
        return "better"
    if result.mean_diff < 0 and result.ci_high < 0 and p_adjusted < ALPHA:
        return "worse"
    return "no significant difference"


def compare(data: StudyData, runs: Mapping[str, RetrainRun], seeds: list[int]) -> Comparison:
    """Build the comparison from the re-training runs (keyed as ``RetrainJob.key``)."""
    by_arm_ds: dict[tuple[str, str], list[RetrainRun]] = {}
    for run in runs.values():
        by_arm_ds.setdefault((run.arm, run.dataset), []).append(run)
    arms = [a for a in data.arms if a in data.best]
    tables = []
    for ds in data.spec.datasets:
        rows = []
        metric = ""
        for arm in arms:
            trial = data.best[arm]
            arm_runs = sorted(
                (r for r in by_arm_ds.get((arm, ds.label), []) if r.trial == trial.number and r.seed in seeds),
                key=lambda r: r.seed,
            )
            stored = (trial.user_attrs.get("datasets") or {}).get(ds.label) or {}
            metric = metric or next((r.metric for r in arm_runs if r.metric), "") or stored.get("metric", "")
            rows.append(ArmScore(arm, trial.number, metric, arm_runs, stored.get("val_metric")))
        means = [r.test_mean for r in rows if r.test_mean is not None]
        top = max(means) if means else None
        winners = [r.arm for r in rows if top is not None and r.test_mean is not None and abs(r.test_mean - top) <= 1e-12]
        tables.append(DatasetTable(ds.label, metric, rows, winners))

    overall = []
    for arm in arms:
        per_ds = [row for t in tables for row in t.rows if row.arm == arm and row.test_mean is not None]
        overall.append(
            OverallRow(
                arm=arm,
                trial=data.best[arm].number,
                mean_test=_mean(r.test_mean for r in per_ds),  # type: ignore[misc]
                datasets_scored=len(per_ds),
                wins=sum(1 for t in tables if arm in t.winners),
                search_value=data.best[arm].values[0],
            )
        )
    overall.sort(key=lambda r: (r.mean_test is None, -(r.mean_test or 0.0), r.arm))

    def pooled(arm: str) -> dict[tuple[str, int], float]:
        return {
            (t.label, seed): score
            for t in tables
            for row in t.rows
            if row.arm == arm
            for seed, score in row.scores.items()
        }

    fixed = [a for a in arms if not data.adjusts(a) and pooled(a)]
    best_fixed = None
    if fixed:
        best_fixed = max(fixed, key=lambda a: (sum(pooled(a).values()) / len(pooled(a)), -arms.index(a)))
    paired = []
    if best_fixed is not None:
        base = pooled(best_fixed)
        for arm in arms:
            if not data.adjusts(arm):
                continue
            mine = pooled(arm)
            keys = sorted(k for k in mine if k in base)
            if not keys:
                paired.append(PairedRow(arm, best_fixed, None, "too few pairs"))
                continue
            result = paired_difference([mine[k] for k in keys], [base[k] for k in keys], CONFIDENCE)
            paired.append(PairedRow(arm, best_fixed, result, ""))
        # One baseline, several strategies: correct the p-values for the number of comparisons.
        tested = [p for p in paired if p.result is not None]
        for row, p_adj in zip(tested, holm_adjust([p.result.p_value for p in tested])):  # type: ignore[union-attr]
            row.p_adjusted = p_adj
            row.verdict = _verdict(row.result, p_adj)  # type: ignore[arg-type]
    no_complete = [a for a in data.arms if a not in data.best]
    comparison = Comparison(seeds, tables, overall, best_fixed, paired, no_complete, "")
    comparison.conclusion = conclusion_text(comparison, [a for a in arms if data.adjusts(a)])
    return comparison


def _fmt_pair(result: PairedResult, p_adjusted: float = math.nan) -> str:
    ci = "" if math.isnan(result.ci_low) else f" (95% CI [{result.ci_low:+.4f}, {result.ci_high:+.4f}]"
    p = "n/a" if math.isnan(result.p_value) else f"{result.p_value:.3g}"
    close = ")" if ci else ""
    if ci:
        holm = "" if math.isnan(p_adjusted) else f", {p_adjusted:.3g} after Holm's correction"
        return f"{result.mean_diff:+.4f}{ci}, Wilcoxon p = {p}{holm}, {result.n} seed × dataset pairs{close}"
    return f"{result.mean_diff:+.4f} (Wilcoxon p = {p}, {result.n} pair(s))"


def conclusion_text(comparison: Comparison, dynamic_arms: list[str]) -> str:
    """The plain-words answer to "does a dynamic strategy beat the best fixed activation?"."""
    best_fixed = comparison.best_fixed
    if best_fixed is None:
        return (
            "No fixed activation has a complete trial with test scores, so no dynamic strategy can be compared "
            "with a fixed baseline on this study."
        )
    if not dynamic_arms:
        return f"The study has no dynamic strategy with a complete trial; the best fixed activation is {best_fixed}."
    better = [p for p in comparison.paired if p.verdict == "better" and p.result is not None]
    worse = [p for p in comparison.paired if p.verdict == "worse"]
    scored = [p for p in comparison.paired if p.result is not None]
    if better:
        parts = [f"{p.arm} by {_fmt_pair(p.result, p.p_adjusted)}" for p in sorted(better, key=lambda p: -p.result.mean_diff)]
        names = ", ".join(p.arm for p in better)
        verb = "beats" if len(better) == 1 else "beat"
        text = f"{names} {verb} the best fixed activation ({best_fixed}) on this study: " + "; ".join(parts) + "."
    elif not scored:
        return (
            f"No dynamic strategy beats the best fixed activation ({best_fixed}) on this study: no dynamic arm has "
            "test scores paired with it."
        )
    else:
        closest = max(scored, key=lambda p: p.result.mean_diff)  # type: ignore[union-attr]
        text = (
            f"No dynamic strategy beats the best fixed activation ({best_fixed}) on this study: the closest, "
            f"{closest.arm}, differs by {_fmt_pair(closest.result, closest.p_adjusted)}."  # type: ignore[arg-type]
        )
    if worse:
        text += (
            f" {len(worse)} of {len(scored)} dynamic strategies {'is' if len(worse) == 1 else 'are'} significantly "
            f"worse than {best_fixed}: {', '.join(p.arm for p in worse)}."
        )
    return text
