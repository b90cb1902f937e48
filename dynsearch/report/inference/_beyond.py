"""Effects beyond the mean: how a candidate's per-dataset effects are spread, not only where they average.

A few collapsed runs (a dataset at chance level) can drag a mean far from what most datasets show, so
beside the mean the report gives, per comparison:

- the median and the 20 % trimmed mean of the per-dataset effects (``scipy.stats.trim_mean(e, TRIM)``:
  the lowest and highest 20 % of the datasets cut, ``int(0.2 · n)`` on each side, then the mean);
- the datasets better, worse and tied, where *tied* means inside the equivalence interval
  (−margin, +margin) that TOST tests (exactly 0 when the margin is 0);
- the same mean and median with the datasets left out on which either side has a collapsed run.

None of this enters a verdict: those stay with the Wilcoxon and TOST tests over all datasets.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ._verdicts import DatasetEffects

__all__ = ["TRIM", "EffectSummary", "BeyondMean", "summarize_effects", "beyond_mean"]

# Wilcox's usual trim: a fifth of the datasets on each side may collapse without moving the estimate,
# while on normal effects it keeps most of the mean's precision (docs/reports.md).
TRIM = 0.2


@dataclass(frozen=True)
class EffectSummary:
    """Location and sign counts of one vector of per-dataset effects (NaN locations when it is empty)."""

    n: int
    mean: float
    median: float
    trimmed_mean: float
    better: int  # effect ≥ +margin (> 0 with no margin)
    worse: int  # effect ≤ −margin
    tied: int  # inside (−margin, +margin)
    margin: float

    def share(self, count: int) -> float:
        """``count`` as a share of the datasets (NaN with none)."""
        return count / self.n if self.n else math.nan


def summarize_effects(effects: Sequence[float] | np.ndarray, margin: float = 0.0) -> EffectSummary:
    """Mean, median, ``TRIM`` trimmed mean and the datasets better / worse / tied within ``±margin``.

    Example:
        >>> s = summarize_effects([-0.4, -0.005, 0.01, 0.02, 0.03], margin=0.01)
        >>> round(s.median, 3), round(s.trimmed_mean, 3), (s.better, s.worse, s.tied)
        (0.01, 0.008, (3, 1, 1))
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    e = np.asarray(effects, dtype=float)
    if e.ndim != 1 or not np.all(np.isfinite(e)):
        raise ValueError("effects must be a one-dimensional array of finite numbers")
    if e.size == 0:
        return EffectSummary(0, math.nan, math.nan, math.nan, 0, 0, 0, margin)
    tied = np.abs(e) < margin if margin > 0 else e == 0
    better = int(np.count_nonzero((e > 0) & ~tied))
    worse = int(np.count_nonzero((e < 0) & ~tied))
    return EffectSummary(int(e.size), float(e.mean()), float(np.median(e)), float(_st.trim_mean(e, TRIM)),
                         better, worse, int(np.count_nonzero(tied)), margin)


@dataclass(frozen=True)
class BeyondMean:
    """One comparison's effects summarized over all its datasets and over those without a collapse."""

    all: EffectSummary
    kept: EffectSummary  # the datasets on which neither side has a collapsed run
    left_out: list[str]  # the datasets with a collapsed run on either side


def beyond_mean(effects: DatasetEffects, collapsed: Collection[str], margin: float) -> BeyondMean:
    """Summaries of ``effects`` with and without the datasets named in ``collapsed``.

    Example:
        >>> e = DatasetEffects(["a", "b", "c"], [[[0.02]], [[-0.5]], [[0.01]]])
        >>> b = beyond_mean(e, {"b"}, 0.0)
        >>> round(b.all.mean, 3), round(b.kept.mean, 3), b.left_out
        (-0.157, 0.015, ['b'])
    """
    values = effects.effects
    keep = np.array([d not in collapsed for d in effects.datasets], dtype=bool)
    left_out = [d for d, k in zip(effects.datasets, keep) if not k]
    return BeyondMean(summarize_effects(values, margin), summarize_effects(values[keep], margin), left_out)
