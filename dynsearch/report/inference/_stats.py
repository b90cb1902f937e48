"""Statistics for the comparison report: confidence intervals and paired tests (NumPy/SciPy only, no I/O).

The report compares strategies over repeated runs (seeds × datasets). Two helpers cover what it needs:

- `mean_ci`: a mean with a Student-t confidence interval;
- `paired_difference`: the mean of paired differences a − b with its t interval, win/loss/tie counts and a
  two-sided Wilcoxon signed-rank p-value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = ["PairedResult", "mean_ci", "paired_difference", "holm_adjust"]

ArrayLike = Sequence[float] | np.ndarray

#: How `paired_difference` treats zero differences in the Wilcoxon test (see its docstring).
WILCOXON_ZERO_METHOD = "wilcox"


def _as_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Validate and convert to a 1-D float array; NaN/inf are rejected, not silently propagated into a report."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def _t_interval(arr: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """(mean, low, high) of a finite, non-empty vector; bounds are NaN for one value, equal to the mean for zero spread."""
    n = arr.size
    mean = float(arr.mean())
    if n == 1:
        return mean, math.nan, math.nan
    sem = float(arr.std(ddof=1)) / math.sqrt(n)
    if sem == 0.0:
        # scipy's t.interval returns NaN for scale 0; identical values have an exact, degenerate interval.
        return mean, mean, mean
    half = float(_st.t.ppf(0.5 + confidence / 2.0, df=n - 1)) * sem
    return mean, mean - half, mean + half


def mean_ci(values: ArrayLike, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of `values` with a two-sided Student-t confidence interval.

    Args:
        values: finite numbers (one per run).
        confidence: coverage of the interval, in (0, 1).

    Returns:
        ``(mean, low, high)``. With a single value the interval is undefined: ``(v, nan, nan)``. With several
        identical values it is ``(v, v, v)``.

    Raises:
        ValueError: no values, a non-finite value, a non-1-D input, or confidence outside (0, 1).
    """
    _check_confidence(confidence)
    arr = _as_vector(values, "values")
    if arr.size == 0:
        raise ValueError("mean_ci needs at least one value")
    return _t_interval(arr, confidence)


@dataclass(frozen=True)
class PairedResult:
    """Outcome of comparing paired scores ``a`` and ``b`` (same seeds/datasets, in the same order).

    Attributes:
        mean_diff: mean of ``a − b``.
        ci_low, ci_high: Student-t interval on the differences (NaN when n = 1).
        n: number of pairs.
        wins, losses, ties: pairs where ``a > b``, ``a < b``, ``a == b`` (exactly). "Win" assumes higher is
            better; for a lower-is-better metric read wins as losses (or pass negated scores).
        p_value: two-sided Wilcoxon signed-rank p-value (NaN when n < 2, 1.0 when all differences are zero).
    """

    mean_diff: float
    ci_low: float
    ci_high: float
    n: int
    wins: int
    losses: int
    ties: int
    p_value: float


def paired_difference(a: ArrayLike, b: ArrayLike, confidence: float = 0.95) -> PairedResult:
    """Compare paired samples through their differences ``a − b``.

    The interval is a Student-t interval on the differences (as `mean_ci`). The p-value comes from
    ``scipy.stats.wilcoxon(a − b, zero_method="wilcox", alternative="two-sided")``: zero differences (ties) are
    dropped before ranking, the classic Wilcoxon treatment, and SciPy picks the exact or normal-approximation
    method itself. Special cases: fewer than two pairs gives ``nan`` (no test is meaningful), and all-zero
    differences give ``1.0`` (no evidence of any difference; SciPy would warn and divide by zero).

    Raises:
        ValueError: different lengths, no pairs, non-finite values, or confidence outside (0, 1).
    """
    _check_confidence(confidence)
    arr_a = _as_vector(a, "a")
    arr_b = _as_vector(b, "b")
    if arr_a.shape != arr_b.shape:
        raise ValueError(f"a and b must have the same length, got {arr_a.size} and {arr_b.size}")
    n = int(arr_a.size)
    if n == 0:
        raise ValueError("paired_difference needs at least one pair")

    diffs = arr_a - arr_b
    mean, low, high = _t_interval(diffs, confidence)
    wins = int(np.count_nonzero(diffs > 0))
    losses = int(np.count_nonzero(diffs < 0))
    ties = n - wins - losses

    if n < 2:
        p_value = math.nan
    elif ties == n:
        p_value = 1.0
    else:
        result = _st.wilcoxon(diffs, zero_method=WILCOXON_ZERO_METHOD, alternative="two-sided")
        p_value = float(result.pvalue)

    return PairedResult(
        mean_diff=mean, ci_low=low, ci_high=high, n=n, wins=wins, losses=losses, ties=ties, p_value=p_value
    )


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN entries stay NaN and do not count as tests).

    Several dynamic strategies are compared with one baseline; without the adjustment, one of six
    unrelated strategies would look "significant" at p < 0.05 about a quarter of the time.

    Example:
        >>> holm_adjust([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]
    """
    indexed = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(indexed)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = round(running, 15)
    return adjusted
