"""Streaming Pearson statistics: against numpy, batch by batch, with offsets, merges and degenerate data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tolerances as tol
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dynsearch.signals import PearsonMoments, PearsonResult, PearsonStats, merge_moments

pytestmark = pytest.mark.numerics


def reference_r(x: np.ndarray, y: np.ndarray) -> float:
    """numpy's r of the float32 values, computed in float64."""
    return float(np.corrcoef(x.astype(np.float64), y.astype(np.float64))[0, 1])


def stats_of(*batches: tuple[np.ndarray, np.ndarray]) -> PearsonStats:
    s = PearsonStats()
    for bx, by in batches:
        s.update(torch.from_numpy(np.ascontiguousarray(bx)), torch.from_numpy(np.ascontiguousarray(by)))
    return s


def split(a: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(a, sorted(set(cuts)))


def well_spread(a: np.ndarray) -> bool:
    """Not degenerate as float32 data: at least three distinct values, with a spread far above rounding."""
    a64 = a.astype(np.float64)
    return np.unique(a).size >= 3 and a64.std() > 1e-7 * max(1.0, float(np.abs(a64).max()))


def correlated(seed: int, n: int, rho: float, offsets: tuple[float, float], scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    x = offsets[0] + scale * z1
    y = offsets[1] + scale * (rho * z1 + math.sqrt(1 - rho * rho) * z2)
    return x.astype(np.float32), y.astype(np.float32)


OFFSETS = st.sampled_from([0.0, 1e4, -1e4, 3.5])
SCALES = st.sampled_from([1.0, 1e-3, 50.0])


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 400),
    rho=st.floats(-0.99, 0.99),
    offset_x=OFFSETS,
    offset_y=OFFSETS,
    scale=SCALES,
    data=st.data(),
)
def test_matches_numpy_on_random_batches(seed, n, rho, offset_x, offset_y, scale, data) -> None:
    x, y = correlated(seed, n, rho, (offset_x, offset_y), scale)
    assume(well_spread(x) and well_spread(y))
    cuts = data.draw(st.lists(st.integers(1, n - 1), max_size=8), label="cuts")
    s = stats_of(*zip(split(x, cuts), split(y, cuts)))
    result = s.compute()
    assert not result.degenerate
    assert result.n == n
    assert result.r == pytest.approx(reference_r(x, y), abs=tol.pearson(n))


@settings(max_examples=150, deadline=None)
@given(
    xy=st.integers(3, 64).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.int32, n, elements=st.integers(-50, 50), fill=st.nothing()),
            hnp.arrays(np.int32, n, elements=st.integers(-50, 50), fill=st.nothing()),
        )
    ),
    offset=OFFSETS,
    scale=st.sampled_from([1.0, 1e-3]),
    data=st.data(),
)
def test_matches_numpy_on_arbitrary_arrays(xy, offset, scale, data) -> None:
    """Ties, skew and outliers (also as the first value), not only bell-shaped data."""
    x = (offset + scale * xy[0]).astype(np.float32)
    y = (scale * xy[1] - offset).astype(np.float32)
    assume(well_spread(x) and well_spread(y))
    n = x.size
    cuts = data.draw(st.lists(st.integers(1, n - 1), max_size=5), label="cuts")
    result = stats_of(*zip(split(x, cuts), split(y, cuts))).compute()
    assert not result.degenerate
    assert result.r == pytest.approx(reference_r(x, y), abs=tol.pearson(n))


def test_batch_by_batch_matches_numpy_on_the_prefix() -> None:
    x, y = correlated(7, 600, 0.3, (1e4, -2.0), 1.0)
    s = PearsonStats()
    for end in range(100, 601, 100):
        s.update(torch.from_numpy(x[end - 100 : end]), torch.from_numpy(y[end - 100 : end]))
        assert s.compute().r == pytest.approx(reference_r(x[:end], y[:end]), abs=tol.pearson(end))
        assert s.count == end


def test_one_value_per_update_equals_one_batch() -> None:
    x, y = correlated(3, 50, -0.6, (1e4, 1e4), 1e-1)
    singles = stats_of(*((x[i : i + 1], y[i : i + 1]) for i in range(50)))
    whole = stats_of((x, y))
    assert singles.compute().r == pytest.approx(whole.compute().r, abs=tol.pearson(50))
    assert singles.compute().r == pytest.approx(reference_r(x, y), abs=tol.pearson(50))


def test_single_value_is_degenerate() -> None:
    result = stats_of((np.array([3.0], np.float32), np.array([4.0], np.float32))).compute()
    assert result == PearsonResult(0.0, 1, True)


def test_scalars_and_multidimensional_tensors_are_flattened() -> None:
    s = PearsonStats()
    s.update(torch.tensor(1.0), torch.tensor(2.0))
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    s.update(x, 2 * x)
    assert s.count == 13
    flat_x = np.concatenate([[1.0], np.arange(12)]).astype(np.float32)
    flat_y = np.concatenate([[2.0], 2 * np.arange(12)]).astype(np.float32)
    assert s.compute().r == pytest.approx(reference_r(flat_x, flat_y), abs=tol.pearson(13))


@pytest.mark.parametrize("value", [0.0, 1.0, 1e4, -3.25])
def test_constant_x_is_degenerate_never_nan(value: float) -> None:
    x = np.full(100, value, np.float32)
    y = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    for a, b in ((x, y), (y, x), (x, x)):
        result = stats_of((a[:30], b[:30]), (a[30:], b[30:])).compute()
        assert result.degenerate
        assert result.r == 0.0
        assert not math.isnan(result.r)
        assert result.n == 100


def test_dead_relu_output_is_degenerate() -> None:
    torch.manual_seed(0)
    z = -torch.rand(1000) - 0.1  # every input negative: ReLU outputs only zeros
    s = PearsonStats()
    s.update(z, torch.relu(z))
    result = s.compute()
    assert result.degenerate and result.r == 0.0 and result.n == 1000


def test_partly_alive_relu_matches_numpy() -> None:
    torch.manual_seed(1)
    z = torch.randn(1000)
    s = PearsonStats()
    s.update(z, torch.relu(z))
    result = s.compute()
    assert not result.degenerate
    assert result.r == pytest.approx(reference_r(z.numpy(), torch.relu(z).numpy()), abs=tol.pearson(1000))
    assert 0.5 < result.r < 1.0


@pytest.mark.parametrize(("slope", "sign"), [(2.0, 1.0), (-0.5, -1.0)])
def test_perfect_correlation_is_clamped_to_one(slope: float, sign: float) -> None:
    x = torch.linspace(-3, 3, 1001) + 1e4
    s = PearsonStats()
    s.update(x, slope * x + 7)
    r = s.compute().r
    assert abs(r) <= 1.0
    assert r == pytest.approx(sign, abs=tol.pearson(1001))


def test_empty_stats() -> None:
    s = PearsonStats()
    assert s.moments() == PearsonMoments.empty()
    assert s.compute() == PearsonResult(0.0, 0, True)
    s.update(torch.empty(0), torch.empty(0))
    assert s.count == 0
    assert s.compute() == PearsonResult(0.0, 0, True)
    assert PearsonStats.pooled([]) == PearsonResult(0.0, 0, True)
    assert PearsonStats.pooled([PearsonStats(), PearsonStats()]) == PearsonResult(0.0, 0, True)


def test_reset_forgets_everything_and_restarts_from_a_new_offset() -> None:
    s = PearsonStats()
    s.update(torch.arange(10.0), torch.arange(10.0))
    s.reset()
    assert s.count == 0
    assert s.compute() == PearsonResult(0.0, 0, True)
    x, y = correlated(2, 300, 0.4, (-1e4, 1e4), 1.0)
    s.update(torch.from_numpy(x), torch.from_numpy(y))
    assert s.compute().r == pytest.approx(reference_r(x, y), abs=tol.pearson(300))


def test_mismatched_sizes_message() -> None:
    s = PearsonStats()
    with pytest.raises(ValueError, match=r"PearsonStats\.update needs as many x as y values, got 3 and 4\."):
        s.update(torch.zeros(3), torch.zeros(4))
    assert s.count == 0


def test_mixed_dtypes_use_x_dtype() -> None:
    x, y = correlated(5, 200, 0.8, (0.0, 0.0), 1.0)
    s = PearsonStats()
    s.update(torch.from_numpy(x).double(), torch.from_numpy(y))
    s.update(torch.from_numpy(x).double(), torch.from_numpy(y).double())
    assert s.compute().r == pytest.approx(reference_r(x, y), abs=tol.pearson(400))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_inputs_are_accumulated_in_float32(dtype: torch.dtype) -> None:
    """Half-precision activations (autocast, model.half()): Σx² of 50 000 values overflows float16."""
    torch.manual_seed(0)
    z = (torch.randn(200_000) * 2).to(dtype)
    s = PearsonStats()
    for part in z.split(50_000):
        s.update(part, torch.relu(part))
    result = s.compute()
    assert not result.degenerate and result.n == 200_000
    expected = reference_r(z.float().numpy(), torch.relu(z).float().numpy())
    assert result.r == pytest.approx(expected, abs=tol.pearson(200_000))


def test_integer_inputs() -> None:
    x = torch.arange(-300, 300, dtype=torch.int32)
    y = x * x  # Σy² of these overflows int32
    s = PearsonStats()
    s.update(x, y)
    s.update(torch.tensor([5], dtype=torch.int64), torch.tensor([25], dtype=torch.int64))
    xs = np.concatenate([x.numpy(), [5]]).astype(np.float32)
    ys = np.concatenate([y.numpy(), [25]]).astype(np.float32)
    assert s.compute().r == pytest.approx(reference_r(xs, ys), abs=tol.pearson(xs.size))


def test_moments_are_centred() -> None:
    x = np.array([1e4 + 1, 1e4 + 2, 1e4 + 4], np.float32)
    y = np.array([3.0, 1.0, 2.0], np.float32)
    m = stats_of((x[:1], y[:1]), (x[1:], y[1:])).moments()
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    assert m.n == 3
    assert m.mean_x == pytest.approx(x64.mean())
    assert m.mean_y == pytest.approx(y64.mean())
    assert m.m2_x == pytest.approx(((x64 - x64.mean()) ** 2).sum())
    assert m.m2_y == pytest.approx(((y64 - y64.mean()) ** 2).sum())
    assert m.c_xy == pytest.approx(((x64 - x64.mean()) * (y64 - y64.mean())).sum())


# --- merging ----------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_a=st.integers(1, 200),
    n_b=st.integers(1, 200),
    shift=st.sampled_from([0.0, 5.0, 1e4]),
    rho_a=st.floats(-0.95, 0.95),
    rho_b=st.floats(-0.95, 0.95),
)
def test_pooled_equals_r_over_the_concatenation(seed, n_a, n_b, shift, rho_a, rho_b) -> None:
    xa, ya = correlated(seed, n_a, rho_a, (0.0, 0.0), 1.0)
    xb, yb = correlated(seed + 1, n_b, rho_b, (shift, -shift), 1.0)  # a different first value and mean
    x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    assume(well_spread(x) and well_spread(y))
    pooled = PearsonStats.pooled([stats_of((xa, ya)), stats_of((xb, yb))])
    assert not pooled.degenerate
    assert pooled.n == n_a + n_b
    assert pooled.r == pytest.approx(reference_r(x, y), abs=tol.pearson(x.size))


def test_pooled_constant_parts_are_not_degenerate_together() -> None:
    """Each part has a constant x, but the union does not: the merge must see the means differ."""
    y = np.random.default_rng(4).standard_normal(200).astype(np.float32)
    xa, xb = np.full(100, 1.0, np.float32), np.full(100, 2.0, np.float32)
    a, b = stats_of((xa, y[:100])), stats_of((xb, y[100:]))
    assert a.compute().degenerate and b.compute().degenerate
    pooled = PearsonStats.pooled([a, b])
    assert not pooled.degenerate
    assert pooled.r == pytest.approx(reference_r(np.concatenate([xa, xb]), y), abs=tol.pearson(200))


def test_pooled_ignores_empty_members() -> None:
    x, y = correlated(9, 100, 0.5, (1.0, 2.0), 1.0)
    s = stats_of((x, y))
    assert PearsonStats.pooled([PearsonStats(), s, PearsonStats()]).r == pytest.approx(s.compute().r, abs=tol.pearson(100))


def _moments(seed: int, n: int, offset: float) -> PearsonMoments:
    x, y = correlated(seed, n, 0.3, (offset, -offset), 2.0)
    return stats_of((x, y)).moments()


def _assert_moments_close(a: PearsonMoments, b: PearsonMoments, n: int = 100) -> None:
    for field in ("n", "mean_x", "mean_y", "m2_x", "m2_y", "c_xy"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=tol.moments(n)), field


@pytest.mark.parametrize("offsets", [(0.0, 0.0, 0.0), (1e4, -3.0, 7.0)])
def test_merge_moments_is_associative_and_exact(offsets: tuple[float, float, float]) -> None:
    a, b, c = (_moments(i, n, off) for i, (n, off) in enumerate(zip((17, 50, 33), offsets)))
    left = merge_moments(merge_moments(a, b), c)
    right = merge_moments(a, merge_moments(b, c))
    _assert_moments_close(left, right)
    # commutative too
    _assert_moments_close(merge_moments(a, b), merge_moments(b, a))
    # and the same as the moments of all the pairs at once
    xs, ys = zip(*(correlated(i, n, 0.3, (off, -off), 2.0) for i, (n, off) in enumerate(zip((17, 50, 33), offsets))))
    whole = stats_of((np.concatenate(xs), np.concatenate(ys))).moments()
    for field in ("n", "mean_x", "mean_y", "m2_x", "m2_y", "c_xy"):
        assert getattr(left, field) == pytest.approx(getattr(whole, field), rel=tol.moments(100)), field


def test_merge_with_empty_is_identity() -> None:
    a = _moments(1, 20, 3.0)
    empty = PearsonMoments.empty()
    assert merge_moments(a, empty) == a
    assert merge_moments(empty, a) == a
    assert merge_moments(empty, empty) == empty


# --- no host sync while training --------------------------------------------------------------


@pytest.fixture
def no_host_sync(monkeypatch: pytest.MonkeyPatch):
    """Make every tensor → Python conversion raise while the test body runs ``update``."""

    def forbidden(*_args, **_kwargs):
        raise AssertionError("host sync: a tensor was read back to Python")

    def install() -> None:
        for name in ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "numpy"):
            monkeypatch.setattr(torch.Tensor, name, forbidden)

    return install


def test_update_does_not_sync_to_host(no_host_sync, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = correlated(11, 300, 0.7, (1e4, 0.0), 1.0)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    s = PearsonStats()
    no_host_sync()
    for part_x, part_y in zip(tx.split(64), ty.split(64)):
        s.update(part_x, part_y.reshape(-1, 1))
    s.update(tx[:0], ty[:0])
    # The guard is really in place: reading r (one sync by design) is refused here.
    with pytest.raises(AssertionError, match="host sync"):
        s.compute()
    monkeypatch.undo()
    assert s.compute().r == pytest.approx(reference_r(x, y), abs=tol.pearson(300))
