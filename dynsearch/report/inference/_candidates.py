"""Candidates against the baseline, with the dataset as the unit (see ``report.inference``).

- Datasets are split into task groups by their metric (classification: accuracy, regression: R²);
  a group is never averaged with another.
- The baseline of a group is the baseline-role arm (fixed or learned activation) with the highest
  mean *validation* metric of its re-training runs over the group's datasets. Test scores are not read.
- Every candidate is paired with it by (dataset, replicate, seed). Its per-dataset effects get a
  two-sided Wilcoxon p and a TOST p against ±margin, each Holm-adjusted over the group's m candidates,
  and one hierarchical bootstrap interval at the simultaneous level ``1 − alpha / m`` (Bonferroni
  over the same m tests). The verdict comes from those adjusted p-values and that interval.
- The design's power is simulated from the candidates' observed per-dataset effects (``_simulation``).
- ``split_by_origin`` repeats the comparison inside each source of data (real, synthetic) of a group that
  mixes them, against the same baseline, with Holm over the candidates inside each source. The pooled
  groups stay the primary result.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._simulation import effect_population, simulated_detectable_effect
from ._stats import holm_adjust
from ._verdicts import (
    N_BOOTSTRAP,
    DatasetEffects,
    hierarchical_bootstrap_ci,
    paired_groups,
    tost_p,
    verdict,
    wilcoxon_p,
)

__all__ = ["ALPHA", "DEFAULT_MARGIN", "CandidateRow", "GroupSummary", "choose_baseline", "infer_group",
           "task_group", "adjust_family", "tests_in", "split_by_origin"]

ALPHA = 0.05
DEFAULT_MARGIN = 0.01

# arm -> dataset -> (replicate, seed) -> value
Scores = Mapping[str, Mapping[str, Mapping[tuple[int, int], float]]]


def task_group(metric: str) -> str:
    """The task group of a dataset's metric: ``classification`` or ``regression``."""
    return "regression" if metric.lower() in ("r2", "r²") else "classification"


def choose_baseline(baselines: list[str], validation: Scores) -> str | None:
    """The baseline arm with the highest mean over datasets of its mean validation metric.

    Only ``validation`` is read (the re-training runs' best validation metric, or the search's when the
    runs have none). Ties go to the earlier arm in ``baselines``.
    """
    def score(arm: str) -> float:
        per_ds = [np.mean(list(v.values())) for v in validation.get(arm, {}).values() if v]
        return float(np.mean(per_ds)) if per_ds else -math.inf

    scored = [a for a in baselines if math.isfinite(score(a))]
    if not scored:
        return None
    return max(scored, key=lambda a: (score(a), -baselines.index(a)))


@dataclass
class CandidateRow:
    """One candidate against its group's baseline."""

    arm: str
    group: str
    baseline: str
    effects: DatasetEffects
    p_value: float = math.nan
    p_adjusted: float = math.nan
    p_equivalence: float = math.nan
    p_equivalence_adjusted: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    ci_level: float = 0.95
    verdict: str = "inconclusive"

    @property
    def mean(self) -> float:
        e = self.effects.effects
        return float(e.mean()) if e.size else math.nan

    @property
    def n_datasets(self) -> int:
        return len(self.effects.datasets)

    @property
    def record(self) -> tuple[int, int, int]:
        """Datasets with a positive, negative and zero effect."""
        e = self.effects.effects
        return int((e > 0).sum()), int((e < 0).sum()), int((e == 0).sum())


@dataclass
class GroupSummary:
    """A task group: its datasets, baseline, candidates and the design's power."""

    group: str
    metric: str
    datasets: list[str]
    baseline: str | None
    rows: list[CandidateRow]
    effect_sd: float = math.nan  # pooled SD of the candidates' per-dataset effects
    detectable: float = math.nan  # smallest effect detectable at 80 % power, simulated from those effects
    origin: str = ""  # "real" or "synthetic" for a group split by source (split_by_origin); "" when pooled


def infer_group(
    group: str, metric: str, datasets: list[str], candidates: list[str], baselines: list[str],
    test: Scores, validation: Scores,
) -> GroupSummary:
    """Pair every candidate with the group's baseline (p-values are adjusted later, over all groups)."""
    base = choose_baseline(baselines, validation)
    summary = GroupSummary(group, metric, datasets, base, [])
    if base is None:
        return summary
    for arm in candidates:
        effects = paired_groups(test.get(arm, {}), test.get(base, {}))
        row = CandidateRow(arm, group, base, effects)
        if effects.datasets:
            row.p_value = wilcoxon_p(effects.effects)
        summary.rows.append(row)
    return summary


def split_by_origin(groups: list[GroupSummary], origin_of: Mapping[str, str]) -> list[GroupSummary]:
    """Each group that holds at least two datasets of each of two or more origins, split into one group per origin
    (with a single dataset a source has no test over datasets, and the other part would be the pooled group again).

    The split keeps the pooled group's baseline (chosen on validation over all its datasets), and each candidate's
    effects are its pooled paired effects restricted to the source's datasets. Origins come from ``origin_of``
    (dataset label -> ``"real"`` / ``"synthetic"``), in the order real, synthetic; p-values are adjusted by
    ``adjust_family``.
    """
    out = []
    for g in groups:
        origin = {d: origin_of.get(d, "real") for d in g.datasets}
        counts = Counter(origin.values())
        if g.baseline is None or len(counts) < 2 or min(counts.values()) < 2:
            continue
        for source in sorted(counts, key=lambda o: (o != "real", o)):
            part = GroupSummary(g.group, g.metric, [d for d in g.datasets if origin[d] == source], g.baseline, [],
                                origin=source)
            for row in g.rows:
                kept = [(d, reps) for d, reps in zip(row.effects.datasets, row.effects.groups) if origin[d] == source]
                sub = CandidateRow(row.arm, g.group, g.baseline,
                                   DatasetEffects([d for d, _ in kept], [reps for _, reps in kept]))
                if kept:
                    sub.p_value = wilcoxon_p(sub.effects.effects)
                part.rows.append(sub)
            out.append(part)
    return out


def adjust_family(groups: list[GroupSummary], margin: float, alpha: float = ALPHA, n_boot: int = N_BOOTSTRAP) -> None:
    """Per task group: Holm over its candidates, the simultaneous intervals, verdicts and power.
    ``n_boot`` bootstrap samples per interval (fewer only in simulations of many reports)."""
    for g in groups:
        _adjust_group(g, margin, alpha, n_boot)


def tests_in(group: GroupSummary) -> int:
    """The size of the group's Holm family: its candidates with a test."""
    return max(1, sum(1 for r in group.rows if not math.isnan(r.p_value)))


def _adjust_group(g: GroupSummary, margin: float, alpha: float, n_boot: int) -> None:
    m = tests_in(g)
    level = 1.0 - alpha / m
    for r in g.rows:
        if r.n_datasets >= 2:
            r.p_equivalence = tost_p(r.effects.effects, margin)
            r.ci = hierarchical_bootstrap_ci(r.effects.groups, level, n_boot)
        r.ci_level = level
    for key, out in (("p_value", "p_adjusted"), ("p_equivalence", "p_equivalence_adjusted")):
        for r, adj in zip(g.rows, holm_adjust([getattr(r, key) for r in g.rows])):
            setattr(r, out, adj)
    for r in g.rows:
        p, p_eq = (1.0 if math.isnan(v) else v for v in (r.p_adjusted, r.p_equivalence_adjusted))
        r.verdict = verdict(r.ci, p, p_eq, margin, alpha)
    vectors = [r.effects.effects for r in g.rows if r.n_datasets >= 2]
    if vectors:
        g.effect_sd = float(math.sqrt(np.mean([np.var(v, ddof=1) for v in vectors])))
        g.detectable = simulated_detectable_effect(effect_population(vectors), len(g.datasets), alpha, tests=m)
