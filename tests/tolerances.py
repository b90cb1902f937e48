"""Every floating-point tolerance of the test suite, derived once from the arithmetic it bounds.

A bound here holds on any CPU, BLAS kernel and thread count, because it is a worst case over the order
in which a kernel adds terms, not what one machine happened to give. The one rule used throughout
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., 2002, §4.2): a sum of n terms,
computed in any order in a format with unit roundoff u, is off by at most γ_n · Σ|terms|, where
γ_n = n·u / (1 − n·u). A product of two float32 values is exact in float64, so dynsearch's signal sums
(widened to float64 before any product) only pay the float64 γ_n.

``tests/test_tolerances.py`` fails on a bare numeric tolerance anywhere else in ``tests/``: a tolerance
that bounds rounding comes from here; one that bounds sampling noise (a Monte Carlo estimate, a bootstrap)
is marked ``# sampling:`` where it stands, with what it bounds.
"""

from __future__ import annotations

import math

import torch

__all__ = ["unit_roundoff", "gamma", "moments", "pearson", "float32_mean", "training_drift", "closed_form", "optimizer_steps", "PACKED", "ALPHA"]


def unit_roundoff(dtype: torch.dtype = torch.float64) -> float:
    """u of a floating-point format: half the distance from 1 to the next number (2⁻²⁴ for float32)."""
    return torch.finfo(dtype).eps / 2


def gamma(n: int, dtype: torch.dtype = torch.float64) -> float:
    """Higham's γ_n: the relative error, against Σ|terms|, of n terms summed in any order."""
    nu = n * unit_roundoff(dtype)
    if nu >= 1:
        raise ValueError(f"γ_n is undefined for n·u ≥ 1 (n = {n}, {dtype}).")
    return nu / (1 - nu)


def _spread(n: int, spread: float | None) -> float:
    # Samuelson's inequality: every value, so every mean of a subset (the first batch's, the shift), lies within
    # √(n−1)·σ of the whole's mean, so the shifted values' raw sum of squares is at most n times the centred one.
    return float(n) if spread is None else spread


def moments(n: int, dtype: torch.dtype = torch.float64, *, spread: float | None = None) -> float:
    """Relative |Δ| between two computations of a centred moment (Σ(x−x̄)², Σ(x−x̄)(y−ȳ)) over n values.

    Each is Σx_s² − (Σx_s)²/n of values shifted by some s: both sums carry γ_n against Σx_s², which is
    ``spread`` times the centred sum (at most n by Samuelson's inequality, 1 when s is the mean); the
    square of Σx_s over n adds twice that, so 3·γ_n·spread per computation, twice that between two.
    """
    return 6 * gamma(n, dtype) * _spread(n, spread)


def pearson(n: int, dtype: torch.dtype = torch.float64, *, spread: float | None = None) -> float:
    """|Δr| between two computations of Pearson r over n pairs, each from sums carrying γ_n(dtype).

    r = c / √(a·b) from the co-moment c and the centred sums of squares a, b. By Cauchy–Schwarz
    Σ|xy| ≤ √(Σx²·Σy²), so against √(a·b) the error of each is at most 3·γ_n·``spread`` (see ``moments``).
    Then |Δr| ≤ δc + δa/2 + δb/2 ≤ 6·γ_n·spread per computation, twice that between two, plus a few u
    for the final division and square root.
    """
    return 12 * gamma(n, dtype) * _spread(n, spread) + 4 * unit_roundoff(dtype)


def float32_mean(n: int) -> float:
    """Relative error of a float32 mean over n values (a loss or a metric averaged over a batch): γ_n + u."""
    return gamma(n, torch.float32) + unit_roundoff(torch.float32)


def training_drift(steps: int, inner: int) -> float:
    """How far two float32 trainings may drift when they differ only in the order their products add terms.

    A packed member and the same run alone do the same float32 operations; their matrix products (forward,
    and the backward's weight gradients, which sum over the batch) add their ``inner`` terms in another
    order, so each differs by at most γ_inner(float32) relative. Each optimizer step carries the difference
    into the weights; to first order it adds up over ``steps`` steps: steps · γ_inner. The worst measured
    drift (the suite's packed tests under oneDNN on and off, 1 and 2 threads and flushed denormals, on an
    AMD EPYC with AVX-512 bf16: 2.7e-7 absolute, relative 4.8e-6 on values near 3e-9) is 100× inside it.
    """
    return steps * gamma(inner, torch.float32)


# Packed/alone comparisons that do not derive their own bound (``study_helpers.drift``): MLP runs of at most
# 64 optimizer steps whose widest sum (batch size, input features or width) has at most 128 terms.
PACKED = training_drift(steps=64, inner=128)


def closed_form(ops: int, dtype: torch.dtype = torch.float64) -> float:
    """Relative |Δ| between two evaluations of one closed-form expression of ``ops`` operations on a few values
    (an α clipped from r, a derivative at a point, an activation against its reference), each op off by u."""
    return 2 * ops * unit_roundoff(dtype)


def optimizer_steps(steps: int, ops: int = 16) -> float:
    """Relative |Δ|, against the parameters' scale, between two float32 runs of one optimizer that evaluate each
    step's element-wise update (``ops`` operations: decay, both moments, bias corrections, √, ε, the division,
    the rate and the add) in another order or with fused multiply-adds. Each step's update differs by at most
    ``closed_form(ops, float32)``; the difference stays in the weights and moments and, to first order, adds up
    over the steps (Adam's moments are convex combinations, so they do not amplify it)."""
    return steps * closed_form(ops, torch.float32)


# α = clip(α₀ + λ·r) computed in float64 and kept in a float32 buffer: three operations and one store.
ALPHA = closed_form(3, torch.float32)


def _check() -> None:
    # The derived bounds stay usable: tight enough to catch a wrong sum, wide enough for any kernel.
    assert 1e-5 < PACKED < 1e-3, PACKED
    assert math.isclose(gamma(1, torch.float32), 2**-24, rel_tol=1e-6)


_check()
