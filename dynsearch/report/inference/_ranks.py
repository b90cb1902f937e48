"""Ranks of all arms over datasets: Friedman test, mean ranks and the Nemenyi critical difference
(Demšar 2006, section 3.2). NumPy/SciPy only, no I/O.

Ranks are taken within each dataset, so classification and regression datasets can share one
ranking without averaging accuracy with R².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = ["RankResult", "friedman_ranks", "nemenyi_cd", "cliques"]


@dataclass(frozen=True)
class RankResult:
    """Friedman test over ``n_datasets`` × ``len(arms)`` scores (higher is better, rank 1 is best)."""

    arms: list[str]
    mean_ranks: list[float]
    n_datasets: int
    statistic: float  # Friedman χ² (NaN with fewer than 3 arms or 2 datasets)
    p_value: float
    cd: float  # Nemenyi critical difference at alpha (NaN when not defined)
    alpha: float = 0.05


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Critical difference of mean ranks for ``k`` arms over ``n`` datasets:
    ``q_alpha · sqrt(k (k + 1) / (6 n))`` with ``q_alpha`` the studentized range quantile / √2.

    Example:
        >>> round(nemenyi_cd(4, 10), 3)  # Demšar's q_0.05 for k = 4 is 2.569
        1.483
    """
    if k < 2 or n < 1:
        return math.nan
    q = float(_st.studentized_range.ppf(1.0 - alpha, k, np.inf)) / math.sqrt(2.0)
    return q * math.sqrt(k * (k + 1) / (6.0 * n))


def friedman_ranks(arms: list[str], scores: np.ndarray, alpha: float = 0.05) -> RankResult:
    """``scores[d, a]``: arm ``a``'s score on dataset ``d`` (rows with a NaN are dropped)."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[1] != len(arms):
        raise ValueError(f"scores must have shape (datasets, {len(arms)}), got {scores.shape}")
    scores = scores[np.all(np.isfinite(scores), axis=1)]
    n, k = scores.shape
    if n == 0 or k == 0:
        return RankResult(list(arms), [math.nan] * k, n, math.nan, math.nan, math.nan, alpha)
    ranks = np.vstack([_st.rankdata(-row) for row in scores])
    mean_ranks = [float(v) for v in ranks.mean(axis=0)]
    statistic = p_value = math.nan
    if k >= 3 and n >= 2:
        if np.all(scores == scores[:, :1]):  # every arm ties on every dataset: SciPy would divide by zero
            statistic, p_value = 0.0, 1.0
        else:
            result = _st.friedmanchisquare(*scores.T)
            statistic, p_value = float(result.statistic), float(result.pvalue)
    return RankResult(list(arms), mean_ranks, n, statistic, p_value, nemenyi_cd(k, n, alpha), alpha)


def cliques(result: RankResult) -> list[tuple[int, int]]:
    """Maximal runs of arms (indices into the rank order, best first) whose mean ranks differ by less
    than the critical difference: the bars of a critical-difference diagram."""
    if math.isnan(result.cd):
        return []
    order = sorted(result.mean_ranks)
    spans: list[tuple[int, int]] = []
    for i in range(len(order)):
        j = i
        while j + 1 < len(order) and order[j + 1] - order[i] < result.cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in spans):
            spans.append((i, j))
    return spans
