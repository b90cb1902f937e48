"""Statistics with the dataset as the unit: each function against SciPy or a hand-computed value,
and power checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tolerances as tol
from scipy import stats

from dynsearch.report.inference import (
    N_SIMULATIONS,
    TRIM,
    DatasetEffects,
    beyond_mean,
    cliques,
    datasets_needed,
    detectable_effect,
    effect_population,
    friedman_ranks,
    hierarchical_bootstrap_ci,
    holm_adjust,
    nemenyi_cd,
    paired_groups,
    pseudo_median,
    signed_rank_p,
    simulated_datasets_needed,
    simulated_detectable_effect,
    simulated_power,
    summarize_effects,
    tost_p,
    variance_components,
    verdict,
    wilcoxon_p,
)


def test_paired_groups_pair_by_replicate_and_seed_and_average_per_dataset() -> None:
    cand = {"a": {(0, 1): 0.9, (0, 2): 0.7, (1, 1): 0.8}, "b": {(0, 1): 0.5}, "c": {(0, 9): 0.1}}
    base = {"a": {(0, 1): 0.8, (0, 2): 0.8, (1, 1): 0.6, (1, 2): 0.0}, "b": {(0, 1): 0.6}}
    e = paired_groups(cand, base)
    assert e.datasets == ["a", "b"]  # c has no pair
    assert e.groups[0] == [pytest.approx([0.1, -0.1]), pytest.approx([0.2])]
    # replicate means 0.0 and 0.2 -> dataset effect 0.1 (replicates weigh equally, not runs)
    assert e.effects == pytest.approx([0.1, -0.1])
    assert e.n_pairs == 4


def test_wilcoxon_p_hand_computed_and_against_scipy() -> None:
    assert wilcoxon_p([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx(2 / 32)  # all positive: 1 of 32 sign patterns
    rng = np.random.default_rng(3)
    x = rng.normal(0.01, 0.02, 12)
    assert wilcoxon_p(x) == pytest.approx(stats.wilcoxon(x).pvalue)
    assert math.isnan(wilcoxon_p([0.3]))
    assert wilcoxon_p([0.0, 0.0, 0.0]) == 1.0


def test_tost_p_is_the_larger_one_sided_p() -> None:
    inside = [0.001, -0.002, 0.0005, 0.003, -0.001, 0.0, 0.002, -0.0015, 0.001, 0.0005]
    # every shifted value is on the right side: each one-sided exact p is 1 / 2**10
    assert tost_p(inside, 0.01) == pytest.approx(1 / 1024)
    x = np.array(inside) + 0.008
    expected = max(stats.wilcoxon(x + 0.01, alternative="greater").pvalue,
                   stats.wilcoxon(x - 0.01, alternative="less").pvalue)
    assert tost_p(x, 0.01) == pytest.approx(expected)
    assert tost_p([0.05] * 10, 0.01) > 0.5
    with pytest.raises(ValueError, match="margin must be > 0"):
        tost_p(inside, 0.0)


def test_bootstrap_with_one_run_per_dataset_is_the_ordinary_bootstrap_of_the_mean() -> None:
    rng = np.random.default_rng(0)
    effects = rng.normal(0.02, 0.01, 10)
    low, high = hierarchical_bootstrap_ci([[[v]] for v in effects], n_boot=20000)
    ref = stats.bootstrap((effects,), np.mean, n_resamples=20000, method="percentile", random_state=1)
    # not rounding: two bootstraps of 20,000 resamples, each off by its Monte Carlo error (sd 0.01 data: < 2e-4).
    assert low == pytest.approx(ref.confidence_interval.low, abs=1e-3)  # not rounding: Monte Carlo, above
    assert high == pytest.approx(ref.confidence_interval.high, abs=1e-3)  # not rounding: Monte Carlo, above


def test_bootstrap_is_seeded_degenerate_for_constants_and_widens_with_seed_noise() -> None:
    constant = [[[0.03, 0.03, 0.03]] for _ in range(6)]
    assert hierarchical_bootstrap_ci(constant) == pytest.approx((0.03, 0.03))
    rng = np.random.default_rng(1)
    effects = rng.normal(0.0, 0.01, 8)
    quiet = [[[e, e, e, e]] for e in effects]
    noisy = [[list(e + rng.normal(0, 0.03, 4))] for e in effects]
    q, n = hierarchical_bootstrap_ci(quiet), hierarchical_bootstrap_ci(noisy)
    assert n[1] - n[0] > 1.5 * (q[1] - q[0])
    assert hierarchical_bootstrap_ci(noisy) == n
    assert all(math.isnan(v) for v in hierarchical_bootstrap_ci([[[0.1, 0.2]]]))


def test_verdicts() -> None:
    assert verdict((0.01, 0.03), 0.004, 0.9, 0.01) == "better"
    assert verdict((-0.03, -0.01), 0.004, 0.9, 0.01) == "worse"
    assert verdict((-0.004, 0.006), 0.6, 0.01, 0.01) == "equivalent"
    assert verdict((-0.004, 0.016), 0.6, 0.01, 0.01) == "inconclusive"  # the interval leaves the margin
    assert verdict((-0.001, 0.03), 0.004, 0.9, 0.01) == "inconclusive"  # test and interval disagree
    assert verdict((math.nan, math.nan), 0.001, 0.001, 0.01) == "inconclusive"


def test_friedman_against_scipy_and_hand_ranks() -> None:
    scores = np.array([[0.9, 0.8, 0.7], [0.6, 0.7, 0.5], [0.8, 0.8, 0.1], [0.9, 0.85, 0.8]])
    r = friedman_ranks(["a", "b", "c"], scores)
    assert r.mean_ranks == pytest.approx([(1 + 2 + 1.5 + 1) / 4, (2 + 1 + 1.5 + 2) / 4, 3.0])
    ref = stats.friedmanchisquare(*scores.T)
    assert r.statistic == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)
    assert r.n_datasets == 4
    rows_with_nan = np.vstack([scores, [0.5, np.nan, 0.4]])
    assert friedman_ranks(["a", "b", "c"], rows_with_nan).n_datasets == 4


@pytest.mark.parametrize("k, q", [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (6, 2.850), (10, 3.164)])
def test_nemenyi_cd_matches_demsar_table(k: int, q: float) -> None:
    assert nemenyi_cd(k, 12) == pytest.approx(q * math.sqrt(k * (k + 1) / 72), abs=2e-3)  # not rounding: Demšar tabulates q to 3 decimals


def test_cliques_join_arms_closer_than_the_cd() -> None:
    r = friedman_ranks(["a", "b", "c", "d"], np.zeros((2, 4)))
    r = type(r)(r.arms, [1.0, 1.5, 3.0, 3.2], 10, 0.0, 1.0, 1.0)
    assert cliques(r) == [(0, 1), (2, 3)]


def test_detectable_effect_gives_80_percent_power_by_simulation() -> None:
    rng = np.random.default_rng(0)
    for n in (10, 20):
        delta = detectable_effect(1.0, n)
        x = rng.normal(delta, 1.0, size=(4000, n))
        power = float(np.mean(stats.wilcoxon(x, axis=1).pvalue < 0.05))
        assert power == pytest.approx(0.8, abs=0.03), (n, delta, power)  # not rounding: 4,000 draws, sd 0.0063


def test_detectable_effect_limits_and_datasets_needed() -> None:
    assert detectable_effect(0.02, 5) == math.inf  # the Wilcoxon test over 5 datasets never reaches p < 0.05
    assert math.isfinite(detectable_effect(0.02, 6))
    assert detectable_effect(0.02, 10, tests=4) > detectable_effect(0.02, 10)
    n = datasets_needed(0.01, 0.02)
    assert detectable_effect(0.02, n) <= 0.01 < detectable_effect(0.02, n - 1)
    assert datasets_needed(0.01, 0.02, limit=20) is None


def test_variance_components_recover_planted_values() -> None:
    rng = np.random.default_rng(4)
    groups = []
    for _ in range(400):
        mu = rng.normal(0, 0.02)
        groups.append([list(mu + rng.normal(0, 0.01) + rng.normal(0, 0.03, 5)) for _ in range(3)])
    c = variance_components(groups)
    # not rounding: estimates from 400 simulated datasets, each within a few of its standard errors.
    assert c.seed == pytest.approx(0.03**2, rel=0.1)  # not rounding: estimation error, above
    assert c.replicate == pytest.approx(0.01**2, rel=0.35)  # not rounding: estimation error, above
    assert c.dataset == pytest.approx(0.02**2, rel=0.2)  # not rounding: estimation error, above
    single = variance_components([[[0.1, 0.2, 0.15]], [[0.0, 0.05, 0.02]]])
    assert math.isnan(single.replicate)


# --- effects beyond the mean -----------------------------------------------------------------

# Six datasets a little better, two collapsed far below: the mean says worse, the median better.
COLLAPSING = [0.02, 0.01, 0.03, 0.015, 0.025, 0.005, -0.6, -0.5]


def test_summarize_effects_against_numpy_and_scipy() -> None:
    rng = np.random.default_rng(5)
    for e in (np.array(COLLAPSING), rng.normal(0.0, 0.02, 17), rng.standard_t(2, 45) * 0.01):
        s = summarize_effects(e, margin=0.01)
        assert s.n == e.size and s.mean == np.mean(e) and s.median == np.median(e)
        assert s.trimmed_mean == stats.trim_mean(e, TRIM)
        assert (s.better, s.worse, s.tied) == (int(np.sum(e >= 0.01)), int(np.sum(e <= -0.01)),
                                               int(np.sum(np.abs(e) < 0.01)))
        assert s.better + s.worse + s.tied == e.size


def test_collapses_flip_the_mean_but_not_the_median_and_the_trimmed_mean_cuts_them() -> None:
    s = summarize_effects(COLLAPSING, margin=0.01)
    assert s.mean < 0 < s.median
    # 20 % of 8 datasets: one cut on each side (-0.6 and 0.03), the mean of the other six
    assert s.trimmed_mean == stats.trim_mean(COLLAPSING, 0.2) == np.mean(sorted(COLLAPSING)[1:-1])
    assert (s.better, s.tied, s.worse) == (5, 1, 2)  # 0.01 is on the margin: better; 0.005 inside: tied
    assert s.share(s.better) == 5 / 8


def test_ties_are_inside_the_margin_or_exactly_zero_without_one() -> None:
    e = [0.0, 0.0, 0.004, -0.004, 0.01, -0.02]
    def counts(margin: float) -> tuple[int, int, int]:
        s = summarize_effects(e, margin)
        return s.better, s.tied, s.worse

    assert counts(0.005) == (1, 4, 1)
    assert counts(0.0) == (2, 2, 2)
    empty = summarize_effects([], 0.01)
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.median) and math.isnan(empty.share(0))
    with pytest.raises(ValueError, match="margin must be >= 0"):
        summarize_effects(e, -0.01)
    with pytest.raises(ValueError, match="finite"):
        summarize_effects([0.1, math.nan], 0.01)


def test_beyond_mean_leaves_out_the_named_datasets_only() -> None:
    labels = [f"ds{i}" for i in range(len(COLLAPSING))]
    effects = DatasetEffects(labels, [[[v, v]] for v in COLLAPSING])
    b = beyond_mean(effects, {"ds6", "ds7", "not-a-dataset"}, 0.01)
    assert b.left_out == ["ds6", "ds7"]
    assert b.all == summarize_effects(effects.effects, 0.01)
    assert b.kept == summarize_effects(effects.effects[:6], 0.01)
    assert b.kept.mean > 0 and b.kept.n == 6
    nothing = beyond_mean(effects, set(), 0.01)
    assert nothing.kept == nothing.all and nothing.left_out == []


# --- power by simulation ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 9, 30, 50, 51, 200])
def test_signed_rank_p_is_scipys_wilcoxon_row_by_row(n: int) -> None:
    rng = np.random.default_rng(n)
    rows = rng.normal(0.3, 1.0, (40, n))
    rows[:5, :2] = 0.0  # zeros are dropped
    if n > 50:
        rows[5:, :] = np.round(rows[5:, :], 1)  # ties: the normal approximation's tie correction
    # The exact p sums up to n(n+1)/2 + 1 probabilities (another order than SciPy's), doubled.
    bound = 2 * tol.gamma(n * (n + 1) // 2 + 1)
    # Up to 50 values the exact test of the non-zero ones (what SciPy runs on data without zeros or ties).
    expected = [stats.wilcoxon(r[r != 0], method="exact").pvalue if n <= 50 else stats.wilcoxon(r).pvalue
                for r in rows]
    assert signed_rank_p(rows) == pytest.approx(expected, abs=bound, rel=tol.closed_form(2 * n))
    assert np.isnan(signed_rank_p(np.zeros((1, n)))).all()


def test_effect_population_centres_each_candidate_on_its_pseudo_median_and_keeps_the_unbiased_spread() -> None:
    a, b = np.array([0.1, 0.3, -0.2, 0.0, 0.05]), np.array([5.0, 7.0, 6.5])
    walsh = [(x + y) / 2 for i, x in enumerate(a) for y in a[i:]]
    assert pseudo_median(a) == np.median(walsh)
    pop = effect_population([a, b, [9.0]])
    assert pop.size == 8
    assert pop[:5] == pytest.approx((a - np.median(walsh)) * math.sqrt(5 / 4), abs=tol.closed_form(4))
    assert pseudo_median(pop[:5]) == pytest.approx(0.0, abs=tol.closed_form(4))
    assert pseudo_median(pop[5:]) == pytest.approx(0.0, abs=tol.closed_form(4) * 7)
    assert np.var(pop[5:]) == pytest.approx(np.var(b, ddof=1), rel=tol.moments(3))


def test_simulated_power_is_seeded_monotone_and_can_say_no() -> None:
    pop = effect_population([np.random.default_rng(6).normal(0.0, 0.02, 300)])
    assert simulated_power(pop, 0.01, 20) == simulated_power(pop, 0.01, 20)  # seeded
    assert simulated_power(pop, 0.01, 20) != simulated_power(pop, 0.01, 20, seed=1)
    powers = [simulated_power(pop, d, 20, tests=6) for d in (0.0, 0.005, 0.01, 0.02, 0.05)]
    assert powers == sorted(powers) and powers[-1] == 1.0
    # No effect: detections at most the level plus three binomial SDs over the simulated studies.
    level = 0.05 / 6
    assert powers[0] <= level + 3 * math.sqrt(level * (1 - level) / N_SIMULATIONS)
    assert simulated_detectable_effect(pop, 5) == math.inf  # 2 / 2**5 is not below 0.05
    assert simulated_detectable_effect(pop, 7, tests=6) == math.inf  # nor 2 / 2**7 below 0.05 / 6
    assert math.isfinite(simulated_detectable_effect(pop, 8, tests=6))
    assert simulated_detectable_effect(np.zeros(10), 8) == 0.0 and math.isnan(simulated_detectable_effect(pop, 1))


def test_on_normal_effects_the_simulation_agrees_with_the_normal_model() -> None:
    pop = effect_population([np.random.default_rng(8).normal(0.0, 1.0, 5000)])
    # The model is asymptotic (Wilcoxon's efficiency 3/π) and the simulation a 2,000-study estimate.
    close = 0.08  # not rounding: the model's and the simulation's own errors, above
    for n in (12, 45):
        assert simulated_detectable_effect(pop, n, tests=6) == pytest.approx(detectable_effect(1.0, n, tests=6), rel=close)


def _collapsing(rng: np.random.Generator, size: int) -> np.ndarray:
    """Effects like the benchmark's: most near 0, 15 % collapses far below."""
    collapse = rng.random(size) < 0.15
    return np.where(collapse, -rng.uniform(0.1, 0.4, size), rng.normal(-0.005, 0.02, size))


# The distribution's pseudo-median (what the Wilcoxon test calls no effect), from two million random pairs.
_PAIRS = _collapsing(np.random.default_rng(99), 4_000_000).reshape(2, -1)
_CENTRE = float(np.median(_PAIRS.mean(axis=0)))


def _collapsing_effects(rng: np.random.Generator, size: int) -> np.ndarray:
    """``_collapsing`` centred on its pseudo-median: no effect, as the Wilcoxon test sees it."""
    return _collapsing(rng, size) - _CENTRE


@pytest.mark.parametrize("n, tests", [(45, 6), (12, 1)])
def test_planted_effects_at_the_stated_mde_are_detected_80_percent_of_the_time(n: int, tests: int) -> None:
    """Calibration: studies of new datasets from the effects' distribution, shifted by the MDE the simulation
    states, tested as the report tests them (Wilcoxon over datasets, Holm over the family), detect it 80 %."""
    rng = np.random.default_rng(10 + n)
    observed = [_collapsing_effects(rng, 1000) for _ in range(tests)]  # a large pilot: its shape is the truth's
    mde = simulated_detectable_effect(effect_population(observed), n, tests=tests)
    studies = 1000
    # Each planted study: the candidate shifted by the MDE and tests − 1 others without an effect, every one
    # tested as wilcoxon_p tests it (SciPy's Wilcoxon; new datasets have no ties), Holm over the family.
    p = stats.wilcoxon(_collapsing_effects(rng, studies * tests * n).reshape(studies, tests, n)
                       + mde * (np.arange(tests) == 0)[:, None], axis=2).pvalue
    detected = sum(holm_adjust(list(row))[0] < 0.05 for row in p)
    # Three SDs of the difference between two binomial shares: the planted studies' and the MDE's 2,000.
    bound = 3 * math.sqrt(0.8 * 0.2 * (1 / studies + 1 / N_SIMULATIONS))
    assert abs(detected / studies - 0.8) <= bound, (mde, detected / studies, bound)


def test_simulated_datasets_needed_is_the_smallest_design_with_the_power() -> None:
    pop = effect_population([_collapsing_effects(np.random.default_rng(12), 300)])
    n = simulated_datasets_needed(0.05, pop, tests=6)
    assert n is not None and simulated_power(pop, 0.05, n, tests=6) >= 0.8 > simulated_power(pop, 0.05, n - 1, tests=6)
    assert simulated_datasets_needed(0.05, pop, tests=6, limit=n - 1) is None
    with pytest.raises(ValueError, match="effect must be > 0"):
        simulated_datasets_needed(0.0, pop)
