"""The suite's floating-point tolerances come from one place, ``tests/tolerances.py``, and the bounds there hold."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tolerances as tol
import torch

pytestmark = pytest.mark.numerics

TESTS = Path(__file__).parent
# A numeric literal given as a tolerance: abs=1e-5, rtol=0.1, abs_tol=2, TOL = 1e-4 ... (a zero is exactness, not one).
BARE = re.compile(r"\b(abs|rel|atol|rtol|abs_tol|rel_tol)\s*=\s*[-+]?(?!0(?![.\dex]))\.?[0-9]|^\s*[A-Z_]*TOL\s*=\s*[0-9]")
MARK = "# not rounding:"


def bare_tolerances(text: str) -> list[str]:
    """Lines of a test file that bound something by a literal without saying it is not rounding."""
    return [line.strip() for line in text.splitlines() if BARE.search(line) and MARK not in line]


def test_no_test_bounds_rounding_by_a_bare_literal() -> None:
    found = {
        path.name: lines
        for path in sorted(TESTS.glob("*.py"))
        if path.name not in {"tolerances.py", Path(__file__).name} and (lines := bare_tolerances(path.read_text()))
    }
    assert not found, f"tolerances that are not from tests/tolerances.py (or marked '{MARK} …'): {found}"


def test_the_check_sees_a_bare_literal_and_accepts_the_marked_and_derived_ones() -> None:
    assert bare_tolerances("assert x == pytest.approx(y, abs=1e-5)")
    assert bare_tolerances("TOL = 1e-4")
    assert bare_tolerances("torch.testing.assert_close(a, b, rtol=.1, atol=0)")
    assert not bare_tolerances("assert x == pytest.approx(y, abs=tol.pearson(n))")
    assert not bare_tolerances("assert p == pytest.approx(0.8, abs=0.03)  # not rounding: 4,000 draws")
    assert not bare_tolerances("config = TrainConfig(lr=1e-3, weight_decay=1e-4)")
    assert not bare_tolerances("assert np.allclose(a, b, rtol=0, atol=bound)")
    assert bare_tolerances("assert np.allclose(a, b, rtol=0.5)")


def test_gamma_is_higham_and_refuses_where_it_is_undefined() -> None:
    assert tol.gamma(1, torch.float32) == pytest.approx(2**-24 / (1 - 2**-24), rel=tol.closed_form(2))
    assert tol.gamma(1000) == pytest.approx(1000 * 2**-53, rel=tol.closed_form(2) + 1000 * 2**-53)
    with pytest.raises(ValueError, match="undefined for n·u ≥ 1"):
        tol.gamma(2**24, torch.float32)


@pytest.mark.parametrize("n", [10, 1000, 100_000])
def test_a_float32_sum_in_any_order_stays_inside_gamma(n: int) -> None:
    """The rule every bound rests on, tried on the orders kernels use: sequential, reversed, pairwise, blocked."""
    values = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    exact = float(np.sum(values.astype(np.float64)))  # float32 values summed exactly enough in float64
    bound = tol.gamma(n, torch.float32) * float(np.abs(values).astype(np.float64).sum())

    def sequential(v: np.ndarray) -> float:
        acc = np.float32(0)
        for x in v:
            acc = np.float32(acc + x)
        return float(acc)

    orders = [sequential(values[: min(n, 20_000)]) if n <= 20_000 else None, float(np.sum(values)),
              float(torch.from_numpy(values).sum()), float(values.reshape(-1, 10).sum(0, dtype=np.float32).sum())]  # fmt: skip
    for got in orders:
        if got is not None:
            assert abs(got - exact) <= bound


def test_the_packed_bound_is_far_inside_what_a_flipped_prediction_costs() -> None:
    # A packed/alone difference in one validation prediction of the suite's largest split (80 rows) moves
    # accuracy by 1/80: the drift bound must stay far below, so such a difference fails.
    assert tol.PACKED < (1 / 80) / 10
