"""Power of a design with the dataset as the unit: the smallest effect it can detect, and how the
spread of per-dataset effects splits into datasets, search replicates (which trial won) and seeds.

The test over datasets is a Wilcoxon signed-rank test. Its power is computed as that of the paired
t-test (non-central t) on ``n · 3/π`` datasets, Wilcoxon's asymptotic relative efficiency under
normality, at the Bonferroni level ``alpha / tests`` (the first step of Holm's method). A design whose
smallest attainable Wilcoxon p-value (``2 / 2**n``) is not below that level detects nothing.

This normal model is a first guess: the report's power line and ``dynsearch plan`` simulate studies from
the observed per-dataset effects instead (``_simulation``), which heavy tails (collapses) move away from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _st

__all__ = ["POWER", "Components", "detectable_effect", "datasets_needed", "variance_components", "effect_sd"]

POWER = 0.8
WILCOXON_ARE = 3.0 / math.pi


def _power(delta: float, sd: float, n: int, level: float) -> float:
    n_eff = n * WILCOXON_ARE
    df = n - 1
    crit = float(_st.t.ppf(1.0 - level / 2.0, df))
    nc = delta * math.sqrt(n_eff) / sd
    value = float(_st.nct.sf(crit, df, nc) + _st.nct.cdf(-crit, df, nc))
    return 1.0 if math.isnan(value) else value  # SciPy gives NaN far in the tail, where the power is 1


def detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = POWER, tests: int = 1) -> float:
    """Smallest true mean effect that ``n`` datasets detect with probability ``power``.

    ``sd`` is the standard deviation of the per-dataset effects. ``inf`` when the Wilcoxon test over
    ``n`` datasets cannot reach the level at all; NaN when ``sd`` is unknown or ``n`` < 2.

    Example:
        >>> round(detectable_effect(0.02, 10), 4)
        0.0204
    """
    level = alpha / max(tests, 1)
    if n < 2 or not math.isfinite(sd):
        return math.nan
    if n < 60 and 2.0 / 2.0**n >= level:
        return math.inf
    if sd <= 0:
        return 0.0
    return float(_opt.brentq(lambda d: _power(d, sd, n, level) - power, 1e-12 * sd, 20.0 * sd, xtol=1e-10 * sd))


def datasets_needed(
    effect: float, sd: float, alpha: float = 0.05, power: float = POWER, tests: int = 1, limit: int = 10_000
) -> int | None:
    """Fewest datasets whose detectable effect is at most ``effect`` (None beyond ``limit``)."""
    if not effect > 0:
        raise ValueError(f"effect must be > 0, got {effect!r}")
    low, high = 2, limit
    if not detectable_effect(sd, high, alpha, power, tests) <= effect:
        return None
    while low < high:  # the detectable effect falls as n grows
        mid = (low + high) // 2
        if detectable_effect(sd, mid, alpha, power, tests) <= effect:
            high = mid
        else:
            low = mid + 1
    return low


@dataclass(frozen=True)
class Components:
    """Variances of a paired difference: between datasets (the effect itself varies), between search
    replicates (which trial won), and between seeds. NaN where the design cannot measure it."""

    dataset: float
    replicate: float
    seed: float

    def effect_variance(self, seeds: int, replicates: int) -> float:
        """Variance of one per-dataset effect with ``seeds`` seeds in each of ``replicates`` replicates."""
        rep = 0.0 if math.isnan(self.replicate) else self.replicate
        seed = 0.0 if math.isnan(self.seed) else self.seed
        return self.dataset + rep / replicates + seed / (replicates * seeds)


def variance_components(groups: Sequence[Sequence[Sequence[float]]]) -> Components:
    """Method-of-moments (one-way ANOVA at each level) estimates from ``groups[d][r][s]``: the paired
    differences on dataset d, replicate r, seed s. Negative estimates are set to 0."""
    seed_vars = [np.var(s, ddof=1) for reps in groups for s in reps if len(s) > 1]
    seed = float(np.mean(seed_vars)) if seed_vars else math.nan
    n_seeds = float(np.mean([len(s) for reps in groups for s in reps])) if groups else math.nan
    rep_vars = [np.var([np.mean(s) for s in reps], ddof=1) for reps in groups if len(reps) > 1]
    replicate = math.nan
    if rep_vars:
        replicate = max(0.0, float(np.mean(rep_vars)) - (0.0 if math.isnan(seed) else seed / n_seeds))
    means = [float(np.mean([np.mean(s) for s in reps])) for reps in groups]
    dataset = math.nan
    if len(means) > 1:
        n_reps = float(np.mean([len(reps) for reps in groups]))
        within = (0.0 if math.isnan(replicate) else replicate / n_reps) + (
            0.0 if math.isnan(seed) else seed / (n_reps * n_seeds)
        )
        dataset = max(0.0, float(np.var(means, ddof=1)) - within)
    return Components(dataset, replicate, seed)


def effect_sd(effects: Sequence[float]) -> float:
    """Sample standard deviation of per-dataset effects (NaN below two)."""
    return float(np.std(effects, ddof=1)) if len(effects) > 1 else math.nan
