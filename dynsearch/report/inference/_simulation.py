"""Power by simulation from the observed per-dataset effects, instead of a normal model of their spread.

A few datasets far from the rest (collapses) make the spread of the effects heavy-tailed, and the
power of a rank test then differs from what their standard deviation says. So the report and
``dynsearch plan`` simulate studies from the effects they observed:

1. the *population*: each candidate's per-dataset effects centred on their pseudo-median (the
   Hodges–Lehmann estimate, the location the Wilcoxon test measures; centred on the mean instead, a
   skewed spread such as a few collapses would look like an effect to the test even with none) and
   scaled by √(n/(n−1)), the unbiased spread, pooled over the candidates of a group;
2. a simulated study draws n datasets from it with replacement and shifts them all by a true effect
   (which moves their mean, median and pseudo-median alike);
3. it detects the effect when the two-sided Wilcoxon signed-rank test over its datasets (zeros dropped)
   gives p < α/m: the Holm-adjusted p is below α when the other m − 1 tests of its family find
   nothing (Holm's first step);
4. the power is the share of ``N_SIMULATIONS`` studies that detect it; the smallest detectable effect
   the shift at which that share reaches 80 %, by bisection on the same draws.

Draws repeat datasets, so their ranks tie where a study of new datasets would not. Each simulated
study is therefore scored as the report scores a study without ties (``signed_rank_p``, equal to
``scipy.stats.wilcoxon`` there): the exact null distribution up to 50 datasets (a statistic made
non-integral by ties rounded conservatively, as SciPy does), the normal approximation with tie
correction beyond. So a design whose smallest exact p (2 / 2ⁿ) is not below α/m detects nothing.
Seeded, so the same effects always give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as _st

from ._power import POWER, datasets_needed

__all__ = ["N_SIMULATIONS", "pseudo_median", "effect_population", "signed_rank_p", "simulated_power", "simulated_detectable_effect",
           "simulated_datasets_needed"]

N_SIMULATIONS = 2000  # the power's Monte Carlo SD is then at most 1.1 points (0.9 at 80 %)
_SEED = 0
_BISECTIONS = 40
_EXACT_UP_TO = 50  # datasets; SciPy's exact method stops there too


def pseudo_median(values: Sequence[float] | np.ndarray) -> float:
    """The Hodges–Lehmann estimate: the median of the Walsh averages (x_i + x_j) / 2, i ≤ j. It is the
    location the Wilcoxon signed-rank test measures: the test's "no effect" is a pseudo-median of 0.

    Example:
        >>> pseudo_median([0.0, 1.0, 5.0])  # the median of 0, 0.5, 1, 2.5, 3, 5
        1.75
    """
    e = np.asarray(values, dtype=float)
    i, j = np.triu_indices(e.size)
    return float(np.median((e[i] + e[j]) / 2.0))


def effect_population(vectors: Sequence[Sequence[float] | np.ndarray]) -> np.ndarray:
    """Each vector centred on its pseudo-median and scaled by √(n/(n−1)), pooled; vectors of fewer than
    two skipped.

    Example:
        >>> effect_population([[0.0, 0.2], [1.0]]).round(4).tolist()
        [-0.1414, 0.1414]
    """
    parts = []
    for v in vectors:
        e = np.asarray(v, dtype=float)
        if e.size >= 2:
            parts.append((e - pseudo_median(e)) * math.sqrt(e.size / (e.size - 1)))
    return np.concatenate(parts) if parts else np.empty(0)


def _reachable(n: int, level: float) -> bool:
    """Whether an exact Wilcoxon test over ``n`` datasets can give p < ``level`` at all."""
    return n >= 60 or 2.0 / 2.0**n < level


def _draws(population: np.ndarray, n: int, n_sim: int, seed: int) -> np.ndarray:
    return population[np.random.default_rng(seed).integers(population.size, size=(n_sim, n))]


def _null_le(n: int) -> np.ndarray:
    """P(T⁺ ≤ k) for k = 0 … n(n+1)/2 under the null: each of the 2ⁿ sign patterns equally likely."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for i in range(1, n + 1):  # subsets of {1 … i} by their sum
        counts[i:] = counts[i:] + counts[:-i].copy()
    return np.cumsum(counts) / 2.0**n


def _run_bounds(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last column of the run of equal values each element of the row-sorted ``s`` belongs to."""
    cols = np.arange(s.shape[1])
    new = np.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    last = np.ones(s.shape, dtype=bool)
    last[:, :-1] = new[:, 1:]
    start = np.maximum.accumulate(np.where(new, cols, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, cols, s.shape[1] - 1)[:, ::-1], axis=1)[:, ::-1]
    return start, end


def signed_rank_p(studies: np.ndarray) -> np.ndarray:
    """Two-sided Wilcoxon signed-rank p of every row (zeros dropped; NaN for a row of zeros): the exact
    null distribution for rows of up to 50 values, the normal approximation with tie correction beyond.

    Example:
        >>> signed_rank_p(np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.1, -0.2, 0.3, -0.4, 0.0]])).round(4).tolist()
        [0.0625, 0.875]
    """
    x = np.atleast_2d(np.asarray(studies, dtype=float))
    order = np.argsort(np.abs(x), axis=1, kind="stable")
    s, positive = np.take_along_axis(np.abs(x), order, axis=1), np.take_along_axis(x > 0, order, axis=1)
    zeros = np.count_nonzero(s == 0, axis=1)
    n = x.shape[1] - zeros
    start, end = _run_bounds(s)
    rank = (start + end) / 2.0 + 1.0 - zeros[:, None]  # average rank among the non-zero values
    r_plus = np.sum(np.where(positive, rank, 0.0), axis=1)
    p = np.full(x.shape[0], np.nan)
    exact = x.shape[1] <= _EXACT_UP_TO  # decided on the study's size, zeros included, as SciPy decides
    for m in np.unique(n[n > 0]) if exact else ():
        rows = n == m
        le = _null_le(int(m))
        low, high = np.floor(r_plus[rows]).astype(int), np.ceil(r_plus[rows]).astype(int)
        sf = 1.0 - np.where(low > 0, le[np.maximum(low - 1, 0)], 0.0)  # P(T⁺ ≥ low)
        p[rows] = np.clip(2.0 * np.minimum(sf, le[high]), 0.0, 1.0)
    big = (n > 0) & (not exact)
    if np.any(big):
        t = end - start + 1  # Σ over runs of t³ − t is Σ over their elements of t² − 1
        ties = np.sum(np.where(s > 0, t.astype(float) ** 2 - 1.0, 0.0), axis=1)[big]
        nb = n[big].astype(float)
        se = np.sqrt((nb * (nb + 1) * (2 * nb + 1) - ties / 2.0) / 24.0)
        p[big] = 2.0 * _st.norm.sf(np.abs(r_plus[big] - nb * (nb + 1) / 4.0) / se)
    return p


def _detected(studies: np.ndarray, level: float) -> float:
    """Share of rows whose two-sided Wilcoxon p is below ``level`` (a row of zeros has no p: not detected)."""
    return float(np.mean(np.nan_to_num(signed_rank_p(studies), nan=1.0) < level))


def simulated_power(population: np.ndarray, effect: float, n: int, alpha: float = 0.05, tests: int = 1,
                    n_sim: int = N_SIMULATIONS, seed: int = _SEED) -> float:
    """Share of simulated studies of ``n`` datasets, drawn from ``population`` and shifted by ``effect``,
    that the Wilcoxon test detects at α/``tests``."""
    level = alpha / max(tests, 1)
    if population.size == 0 or n < 2 or not _reachable(n, level):
        return 0.0
    return _detected(_draws(population, n, n_sim, seed) + effect, level)


def simulated_detectable_effect(population: np.ndarray, n: int, alpha: float = 0.05, power: float = POWER,
                                tests: int = 1, n_sim: int = N_SIMULATIONS, seed: int = _SEED) -> float:
    """Smallest mean effect that studies of ``n`` datasets drawn from ``population`` detect with
    probability ``power``. ``inf`` when the test over ``n`` datasets cannot reach α/``tests``; NaN
    with fewer than two datasets or an empty population.
    """
    level = alpha / max(tests, 1)
    if n < 2 or population.size < 2:
        return math.nan
    if not _reachable(n, level):
        return math.inf
    scale = float(np.std(population))
    if scale == 0.0:
        return 0.0
    draws = _draws(population, n, n_sim, seed)  # one set of draws for every shift: a smooth bisection
    low, high = 0.0, scale
    while _detected(draws + high, level) < power:
        low, high = high, 2.0 * high
    for _ in range(_BISECTIONS):
        if high - low <= 1e-4 * scale:  # far below the 4 decimals the report prints
            break
        mid = (low + high) / 2.0
        low, high = (low, mid) if _detected(draws + mid, level) >= power else (mid, high)
    return high


def simulated_datasets_needed(effect: float, population: np.ndarray, alpha: float = 0.05, power: float = POWER,
                              tests: int = 1, limit: int = 10_000, n_sim: int = N_SIMULATIONS,
                              seed: int = _SEED) -> int | None:
    """Fewest datasets whose simulated power at ``effect`` reaches ``power`` (None beyond ``limit``).

    The search starts where the normal model (``datasets_needed``) puts the answer and moves from there.
    """
    if not effect > 0:
        raise ValueError(f"effect must be > 0, got {effect!r}")
    level = alpha / max(tests, 1)
    if population.size < 2:
        return None
    first = next(n for n in range(2, 61) if _reachable(n, level))

    def enough(n: int) -> bool:
        return simulated_power(population, effect, n, alpha, tests, n_sim, seed) >= power

    low = first - 1  # below ``first`` no test reaches the level: never enough
    guess = datasets_needed(effect, float(np.std(population)), alpha, power, tests, limit)
    high = min(max(guess or limit, first), limit)
    while not enough(high):  # widen upwards until the power is reached
        if high >= limit:
            return None
        low, high = high, min(2 * high, limit)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high
