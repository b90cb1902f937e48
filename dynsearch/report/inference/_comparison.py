"""What the comparison gives: every arm's re-training runs per dataset (``ArmScore``, ``DatasetTable``),
the overall rows per task group and the ``Comparison`` that holds them, its tests and its conclusion.
Plain data, no computation beyond summaries of the runs; ``_compare.compare`` builds it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..activity import ArmActivity
from ..retrain import RetrainRun
from ._beyond import BeyondMean, beyond_mean
from ._candidates import CandidateRow, GroupSummary, task_group
from ._ranks import RankResult
from ._stats import mean_ci

__all__ = ["ArmScore", "DatasetTable", "OverallRow", "Comparison", "COLLAPSE_MARGIN", "CONFIDENCE"]

CONFIDENCE = 0.95
COLLAPSE_MARGIN = 0.01  # a run within this of the chance level has collapsed


def is_collapsed(run: RetrainRun, metric: str) -> bool:
    """A scored run at chance level: a constant prediction scores as well (within ``COLLAPSE_MARGIN`` for
    accuracy; R² ≤ 0)."""
    if not run.ok or run.chance is None or run.test_metric is None:
        return False
    return run.test_metric <= run.chance + (COLLAPSE_MARGIN if metric == "accuracy" else 0.0)


@dataclass
class ArmScore:
    """One arm on one dataset: the re-training runs of its winners (one per search replicate)."""

    arm: str
    trials: list[int]
    metric: str
    runs: list[RetrainRun]
    search_val: float | None = None  # the winners' own validation metric (search seeds), mean

    @property
    def trial(self) -> int:
        return self.trials[0]

    @property
    def ok_runs(self) -> list[RetrainRun]:
        return [r for r in self.runs if r.ok]

    @property
    def scores(self) -> dict[tuple[int, int], float]:
        return {(r.replicate, r.seed): float(r.test_metric) for r in self.ok_runs}  # type: ignore[arg-type]

    @property
    def validation(self) -> dict[tuple[int, int], float]:
        """Validation metric per (replicate, seed); reads no test score (the baseline is chosen on it)."""
        return {(r.replicate, r.seed): float(r.best_val_metric) for r in self.runs
                if r.best_val_metric is not None and math.isfinite(r.best_val_metric)}

    @property
    def n_failed(self) -> int:
        return len(self.runs) - len(self.ok_runs)

    @property
    def collapsed(self) -> list[RetrainRun]:
        """Runs at chance level (a constant prediction scores as well)."""
        return [r for r in self.ok_runs if is_collapsed(r, self.metric)]

    @property
    def test(self) -> tuple[float, float, float] | None:
        values = [r.test_metric for r in self.ok_runs]
        return mean_ci(values, CONFIDENCE) if values else None  # type: ignore[arg-type]

    @property
    def test_mean(self) -> float | None:
        t = self.test
        return None if t is None else t[0]

    @property
    def retrain_val(self) -> float | None:
        return mean_or_none(self.validation.values())

    @property
    def epochs(self) -> float | None:
        return mean_or_none(r.epochs_run for r in self.ok_runs)

    @property
    def wall_time(self) -> float | None:
        return mean_or_none(r.wall_time for r in self.runs)

    @property
    def switches(self) -> float | None:
        return mean_or_none(r.n_switches for r in self.ok_runs)

    @property
    def failure_messages(self) -> list[str]:
        return [f"seed {r.seed}: {r.status}" + (f" ({r.message})" if r.message else "") for r in self.runs if not r.ok]


@dataclass
class DatasetTable:
    label: str
    metric: str
    rows: list[ArmScore]
    winners: list[str] = field(default_factory=list)

    @property
    def group(self) -> str:
        return task_group(self.metric)


@dataclass
class OverallRow:
    """An arm within one task group: mean of its per-dataset mean test metrics, datasets won, mean rank."""

    arm: str
    role: str
    group: str
    mean_test: float | None
    datasets_scored: int
    wins: int
    search_value: float
    mean_rank: float = math.nan


@dataclass
class Comparison:
    seeds: list[int]
    margin: float
    tables: list[DatasetTable]
    overall: list[OverallRow]
    groups: list[GroupSummary]
    ranks: RankResult | None
    activity: dict[str, ArmActivity]
    replicates: int
    spread: dict[str, float]  # variance of scores within arm × dataset: "replicate" and "seed"
    no_complete: list[str]
    roles: dict[str, str]
    conclusion: str = ""
    # the groups that mix real and synthetic datasets, split by source (secondary to ``groups``)
    by_origin: list[GroupSummary] = field(default_factory=list)

    @property
    def candidates(self) -> list:
        return [r for g in self.groups for r in g.rows]

    def collapsed_datasets(self, arm: str) -> set[str]:
        """The datasets on which ``arm`` has a re-training run at chance level."""
        return {t.label for t in self.tables for row in t.rows if row.arm == arm and row.collapsed}

    def beyond(self, row: CandidateRow) -> BeyondMean:
        """``row``'s effects beyond the mean; the datasets with a collapsed run on either side are left out
        of its ``kept`` summary."""
        left_out = self.collapsed_datasets(row.arm) | self.collapsed_datasets(row.baseline)
        return beyond_mean(row.effects, left_out, self.margin)


def mean_or_none(values: Iterable[float]) -> float | None:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else None
