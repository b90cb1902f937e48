"""Inference with the dataset as the unit (Demšar 2006), NumPy/SciPy only, no I/O.

Seeds (and search replicates) within a dataset share its split, its test set and the selected
configuration, so they are not independent observations. Every test here therefore works on one
number per dataset: the *per-dataset effect*, the mean over (replicate, seed) of the paired
difference candidate − baseline. Across datasets:

- `wilcoxon_p`: two-sided Wilcoxon signed-rank p-value over the per-dataset effects;
- `tost_p`: two one-sided Wilcoxon tests against ±margin (equivalence within the margin);
- `hierarchical_bootstrap_ci`: resample datasets, then replicates within each, then seeds within each;
- `verdict`: better / worse / equivalent / inconclusive from adjusted p-values and one interval.

Ranks over all arms (Friedman, Nemenyi) are in ``_ranks``; power in ``_power``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = [
    "BETTER",
    "WORSE",
    "EQUIVALENT",
    "INCONCLUSIVE",
    "VERDICTS",
    "DatasetEffects",
    "paired_groups",
    "wilcoxon_p",
    "tost_p",
    "hierarchical_bootstrap_ci",
    "verdict",
    "N_BOOTSTRAP",
]

BETTER, WORSE, EQUIVALENT, INCONCLUSIVE = "better", "worse", "equivalent", "inconclusive"
VERDICTS = (BETTER, WORSE, EQUIVALENT, INCONCLUSIVE)
N_BOOTSTRAP = 4000

# (replicate, seed) -> score of one run
RunScores = Mapping[tuple[int, int], float]
# per dataset: per replicate: the paired differences over seeds
Groups = list[list[list[float]]]


@dataclass(frozen=True)
class DatasetEffects:
    """Paired differences of one candidate against the baseline, grouped by dataset and replicate."""

    datasets: list[str]
    groups: Groups  # groups[d][r] = differences over the seeds of replicate r on dataset d

    @property
    def effects(self) -> np.ndarray:
        """One effect per dataset: the mean over its replicates of the mean over their seeds."""
        return np.array([np.mean([np.mean(seeds) for seeds in reps]) for reps in self.groups], dtype=float)

    @property
    def n_pairs(self) -> int:
        return sum(len(seeds) for reps in self.groups for seeds in reps)


def paired_groups(candidate: Mapping[str, RunScores], baseline: Mapping[str, RunScores]) -> DatasetEffects:
    """Pair runs by (dataset, replicate, seed); datasets without any pair are left out.

    Example:
        >>> e = paired_groups({"iris": {(0, 1): 0.9, (0, 2): 0.8}}, {"iris": {(0, 1): 0.85, (0, 2): 0.8}})
        >>> [round(float(x), 3) for x in e.effects]
        [0.025]
    """
    datasets, groups = [], []
    for label in candidate:
        mine, base = candidate[label], baseline.get(label, {})
        keys = sorted(k for k in mine if k in base)
        if not keys:
            continue
        reps: dict[int, list[float]] = {}
        for rep, seed in keys:
            reps.setdefault(rep, []).append(float(mine[(rep, seed)]) - float(base[(rep, seed)]))
        datasets.append(label)
        groups.append([reps[r] for r in sorted(reps)])
    return DatasetEffects(datasets, groups)


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError("effects must be a one-dimensional array of finite numbers")
    return arr


def wilcoxon_p(effects: Sequence[float] | np.ndarray, alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank p-value of the per-dataset effects against 0 (zeros dropped, the classic
    treatment). NaN with fewer than two datasets; 1.0 when every effect is exactly 0."""
    arr = _finite(effects)
    if arr.size < 2:
        return math.nan
    if not np.any(arr != 0):
        return 1.0
    return float(_st.wilcoxon(arr, zero_method="wilcox", alternative=alternative).pvalue)


def tost_p(effects: Sequence[float] | np.ndarray, margin: float) -> float:
    """Two one-sided Wilcoxon tests of equivalence within ``±margin``: the larger of the p-values of
    "effect > −margin" and "effect < +margin". Small means the effect lies inside the margin."""
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    arr = _finite(effects)
    if arr.size < 2:
        return math.nan
    return max(wilcoxon_p(arr + margin, "greater"), wilcoxon_p(arr - margin, "less"))


def hierarchical_bootstrap_ci(
    groups: Groups, confidence: float = 0.95, n_boot: int = N_BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the mean per-dataset effect under a three-level bootstrap.

    Each bootstrap sample draws datasets with replacement, then, independently for every drawn
    dataset, its replicates with replacement, then the seeds of every drawn replicate with replacement.
    Seeded, so the same data always gives the same interval. NaN bounds with fewer than two datasets.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    n_data = len(groups)
    if n_data < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    # Bounded memory: the bootstrap samples are drawn in chunks (the result depends only on the seed).
    cells = n_data * n_data * max(len(reps) * max(len(s) for s in reps) for reps in groups)
    chunk = max(1, min(n_boot, 4_000_000 // max(cells, 1)))
    means = np.concatenate([_bootstrap_means(groups, rng, min(chunk, n_boot - i)) for i in range(0, n_boot, chunk)])
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _bootstrap_means(groups: Groups, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    n_data = len(groups)
    # inner[d] has shape (n_boot, n_data): dataset d's resampled effect for every outer slot it may fill.
    inner = np.empty((n_data, n_boot, n_data))
    for d, reps in enumerate(groups):
        n_rep = len(reps)
        rep_means = np.empty((n_rep, n_boot, n_data, n_rep))
        for r, seeds in enumerate(reps):
            values = np.asarray(seeds, dtype=float)
            picks = rng.integers(len(values), size=(n_boot, n_data, n_rep, len(values)))
            rep_means[r] = values[picks].mean(axis=-1)
        chosen = rng.integers(n_rep, size=(n_boot, n_data, n_rep))
        b, j, k = np.ogrid[:n_boot, :n_data, :n_rep]
        inner[d] = rep_means[chosen, b, j, k].mean(axis=-1)
    outer = rng.integers(n_data, size=(n_boot, n_data))
    return inner[outer, np.arange(n_boot)[:, None], np.arange(n_data)[None, :]].mean(axis=1)


def verdict(
    ci: tuple[float, float], p_difference: float, p_equivalence: float, margin: float, alpha: float = 0.05
) -> str:
    """One of `VERDICTS`. The same interval and the same (adjusted) p-values decide every verdict:

    - better: p_difference < alpha and the interval lies above 0;
    - worse: p_difference < alpha and the interval lies below 0;
    - equivalent: p_equivalence < alpha and the interval lies inside (−margin, +margin);
    - inconclusive: anything else (including a test and an interval that disagree).

    Example:
        >>> verdict((0.01, 0.03), 0.004, 0.9, 0.01)
        'better'
        >>> verdict((-0.004, 0.006), 0.6, 0.01, 0.01)
        'equivalent'
    """
    low, high = ci
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    if p_difference < alpha and low > 0:
        return BETTER
    if p_difference < alpha and high < 0:
        return WORSE
    if p_equivalence < alpha and -margin < low and high < margin:
        return EQUIVALENT
    return INCONCLUSIVE
