"""dynsearch.report.inference (means, paired differences, Holm) against SciPy, hand-computed values and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tolerances as tol
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from dynsearch.report.inference import PairedResult, mean_ci, paired_difference

ACCURACIES = [0.912, 0.905, 0.931, 0.899, 0.920, 0.915, 0.908, 0.925]
BASELINE = [0.901, 0.907, 0.915, 0.899, 0.911, 0.903, 0.910, 0.917]

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


# -- mean_ci ---------------------------------------------------------------------------------------------------


def test_mean_ci_hand_computed() -> None:
    # mean 3, sd sqrt(2.5), sem sqrt(0.5), t(0.975, 4) = 2.7764451...
    mean, low, high = mean_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * math.sqrt(0.5)
    assert mean == 3.0
    assert low == pytest.approx(3.0 - half, rel=tol.closed_form(10))
    assert high == pytest.approx(3.0 + half, rel=tol.closed_form(10))


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_mean_ci_matches_scipy_t_interval(confidence: float) -> None:
    data = np.array(ACCURACIES)
    expected = sps.t.interval(confidence, df=data.size - 1, loc=data.mean(), scale=sps.sem(data))
    mean, low, high = mean_ci(data, confidence)
    assert mean == pytest.approx(data.mean())
    assert (low, high) == pytest.approx(expected, rel=tol.moments(data.size))


@settings(deadline=None)  # SciPy's first calls are slow on a loaded machine
@given(st.lists(finite, min_size=2, max_size=30))
def test_mean_ci_property_against_scipy(values: list[float]) -> None:
    arr = np.array(values)
    mean, low, high = mean_ci(arr)
    assert low <= mean <= high
    if sps.sem(arr) > 0:
        expected = sps.t.interval(0.95, df=arr.size - 1, loc=arr.mean(), scale=sps.sem(arr))
        # A t interval is mean ± t·sem: off by the variance's rounding, against the values' magnitude.
        bound = tol.moments(arr.size)
        assert (low, high) == pytest.approx(expected, rel=bound, abs=bound * float(np.abs(arr).max()))


def test_mean_ci_wider_at_higher_confidence() -> None:
    _, low90, high90 = mean_ci(ACCURACIES, 0.90)
    _, low99, high99 = mean_ci(ACCURACIES, 0.99)
    assert low99 < low90 and high99 > high90


def test_mean_ci_single_value_has_no_interval() -> None:
    mean, low, high = mean_ci([0.7])
    assert mean == 0.7
    assert math.isnan(low) and math.isnan(high)


def test_mean_ci_identical_values_degenerate_interval() -> None:
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)


def test_mean_ci_returns_python_floats() -> None:
    assert all(type(x) is float for x in mean_ci(np.array([1, 2, 4], dtype=np.int64)))


def test_mean_ci_empty_raises() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mean_ci([])


@pytest.mark.parametrize("bad", [[1.0, math.nan], [1.0, math.inf]])
def test_mean_ci_rejects_non_finite(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        mean_ci(bad)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 95])
def test_mean_ci_rejects_bad_confidence(confidence: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        mean_ci([1.0, 2.0], confidence)


def test_mean_ci_rejects_2d() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        mean_ci([[1.0, 2.0], [3.0, 4.0]])


# -- paired_difference -----------------------------------------------------------------------------------------


def test_paired_difference_matches_scipy() -> None:
    a, b = np.array(ACCURACIES), np.array(BASELINE)
    diffs = a - b
    result = paired_difference(a, b)

    assert isinstance(result, PairedResult)
    assert result.n == 8
    assert result.mean_diff == pytest.approx(diffs.mean())
    expected_ci = sps.t.interval(0.95, df=7, loc=diffs.mean(), scale=sps.sem(diffs))
    assert (result.ci_low, result.ci_high) == pytest.approx(expected_ci, rel=tol.moments(8))
    expected_p = sps.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided").pvalue
    assert result.p_value == pytest.approx(expected_p, rel=tol.closed_form(10))
    # 0.899 vs 0.899 is an exact tie; 0.905 < 0.907 and 0.908 < 0.910 are losses; the rest favour a.
    assert (result.wins, result.losses, result.ties) == (5, 2, 1)


def test_paired_difference_hand_computed_exact_p() -> None:
    # Five positive differences: the exact two-sided p is 2 / 2**5.
    result = paired_difference([2, 3, 4, 5, 6], [1, 1, 1, 1, 1])
    assert result.p_value == pytest.approx(0.0625)
    assert (result.wins, result.losses, result.ties) == (5, 0, 0)
    assert result.mean_diff == 3.0


def test_paired_difference_is_antisymmetric() -> None:
    ab = paired_difference(ACCURACIES, BASELINE)
    ba = paired_difference(BASELINE, ACCURACIES)
    assert ba.mean_diff == pytest.approx(-ab.mean_diff)
    assert (ba.ci_low, ba.ci_high) == pytest.approx((-ab.ci_high, -ab.ci_low))
    assert (ba.wins, ba.losses, ba.ties) == (ab.losses, ab.wins, ab.ties)
    assert ba.p_value == pytest.approx(ab.p_value)


@settings(deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=2, max_size=25))
def test_paired_difference_property(pairs: list[tuple[float, float]]) -> None:
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    result = paired_difference(a, b)
    assert result.wins + result.losses + result.ties == result.n == len(pairs)
    assert 0.0 <= result.p_value <= 1.0
    assert result.ci_low <= result.mean_diff <= result.ci_high


def test_paired_difference_all_ties() -> None:
    result = paired_difference([0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    assert result.p_value == 1.0
    assert (result.mean_diff, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert (result.wins, result.losses, result.ties) == (0, 0, 3)


def test_paired_difference_single_pair() -> None:
    result = paired_difference([0.9], [0.8])
    assert result.n == 1 and result.wins == 1
    assert result.mean_diff == pytest.approx(0.1)
    assert math.isnan(result.ci_low) and math.isnan(result.ci_high) and math.isnan(result.p_value)


def test_paired_difference_zero_differences_are_dropped_by_wilcoxon() -> None:
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    b = [1.0, 1.0, 1.0, 5.0, 1.0, 1.0]
    diffs = np.subtract(a, b)
    result = paired_difference(a, b)
    assert result.ties == 1
    assert result.p_value == pytest.approx(sps.wilcoxon(diffs, zero_method="wilcox").pvalue)
    assert result.p_value == pytest.approx(sps.wilcoxon(diffs[diffs != 0]).pvalue)


def test_paired_difference_length_mismatch() -> None:
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        paired_difference([1, 2, 3], [1, 2])


def test_paired_difference_empty() -> None:
    with pytest.raises(ValueError, match="at least one pair"):
        paired_difference([], [])


def test_paired_difference_rejects_nan_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="^b contains NaN"):
        paired_difference([1.0, 2.0], [1.0, math.nan])


def test_paired_difference_rejects_bad_confidence() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        paired_difference([1.0, 2.0], [0.0, 1.0], confidence=1.5)


def test_holm_adjust_matches_hand_computed_values() -> None:
    from dynsearch.report.inference import holm_adjust

    # Sorted p: 0.01 (x3), 0.03 (x2), 0.04 (x1) -> 0.03, 0.06, max(0.06, 0.04) = 0.06.
    assert holm_adjust([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]
    assert holm_adjust([0.5, float("nan"), 0.2]) == [0.5, pytest.approx(float("nan"), nan_ok=True), 0.4]
    assert holm_adjust([0.9, 0.8]) == [1.0, 1.0]
    assert holm_adjust([]) == []
