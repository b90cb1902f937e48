"""Streaming, mergeable Pearson statistics kept on the device.

Each update adds one batch of paired values (x, y) with a handful of tensor ops and no host
sync: the values are shifted by the first batch's means (the subtraction is exact in float32 for
nearby values, by Sterbenz's lemma), and their shifted sums Σx, Σy, Σx², Σy², Σxy go into a float64 accumulator. Shifting keeps the sums small, so large offsets do not
cancel catastrophically; converting to centred form and merging (Chan et al.) happens only
when r is read, once per adjustment.

Example:
    >>> import torch
    >>> stats = PearsonStats()
    >>> x = torch.linspace(-1, 1, 100)
    >>> stats.update(x, 2 * x + 1)
    >>> round(stats.compute().r, 6)
    1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor

__all__ = ["PearsonStats", "PearsonMoments", "PearsonResult", "merge_moments"]

# A spread this small relative to the values' magnitude (n·mean²) is rounding noise, not
# variance: r is then 0 and flagged. Far below what float32 data can show (~1e-14 at offset 1e4).
_DEGENERATE_EPS = 1e-20
# Batches larger than this are summed in float64 (the per-op cost is amortized at that size).
_FLOAT64_ABOVE = 1 << 16


@dataclass(frozen=True)
class PearsonMoments:
    """Centred moments of a set of pairs: count, means, sums of squared deviations, co-moment."""

    n: float
    mean_x: float
    mean_y: float
    m2_x: float
    m2_y: float
    c_xy: float

    @staticmethod
    def empty() -> PearsonMoments:
        return PearsonMoments(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class PearsonResult:
    """r with the number of pairs it was computed from; ``degenerate`` marks zero variance."""

    r: float
    n: int
    degenerate: bool


def merge_moments(a: PearsonMoments, b: PearsonMoments) -> PearsonMoments:
    """Chan et al.'s pairwise merge of two sets of centred moments."""
    if a.n == 0:
        return b
    if b.n == 0:
        return a
    n = a.n + b.n
    dx = b.mean_x - a.mean_x
    dy = b.mean_y - a.mean_y
    weight = a.n * b.n / n
    return PearsonMoments(
        n=n,
        mean_x=a.mean_x + dx * b.n / n,
        mean_y=a.mean_y + dy * b.n / n,
        m2_x=a.m2_x + b.m2_x + dx * dx * weight,
        m2_y=a.m2_y + b.m2_y + dy * dy * weight,
        c_xy=a.c_xy + b.c_xy + dx * dy * weight,
    )


def pearson_from_moments(m: PearsonMoments) -> PearsonResult:
    """r from centred moments; zero variance on either side gives r = 0 with the flag set."""
    if (
        m.n < 2
        or m.m2_x <= _DEGENERATE_EPS * m.n * m.mean_x * m.mean_x
        or m.m2_y <= _DEGENERATE_EPS * m.n * m.mean_y * m.mean_y
    ):
        return PearsonResult(0.0, int(m.n), True)
    r = m.c_xy / math.sqrt(m.m2_x * m.m2_y)
    return PearsonResult(max(-1.0, min(1.0, r)), int(m.n), False)


class PearsonStats:
    """Streaming Pearson statistics of paired values, updated on the device without host syncs.

    ``update`` may be called with tensors of any shape (they are flattened and paired
    element-wise); ``moments()`` and ``compute()`` read the state back (one host sync).
    Instances merge: ``a.merge(b)`` or ``PearsonStats.pooled([a, b, ...])``.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (called after each adjustment)."""
        self.count: int = 0
        self._shift_x: Tensor | None = None  # the first batch's mean x and y
        self._shift_y: Tensor | None = None
        self._sums: Tensor | None = None  # float64 [Σx, Σy, Σx², Σy², Σxy] of shifted values

    @torch.no_grad()
    def update(self, x: Tensor, y: Tensor) -> None:
        """Add the pairs (x[i], y[i]) of two same-sized tensors."""
        x = x.detach().reshape(-1)
        y = y.detach().reshape(-1)
        if x.numel() != y.numel():
            raise ValueError(f"PearsonStats.update needs as many x as y values, got {x.numel()} and {y.numel()}.")
        if x.numel() == 0:
            return
        if not x.is_floating_point() or x.element_size() < 4:
            # float16 sums overflow (max 65504) and bfloat16 ones keep 8 bits; integers can overflow too.
            x = x.float()
        if y.dtype != x.dtype:
            y = y.to(x.dtype)
        if x.numel() > _FLOAT64_ABOVE and x.dtype == torch.float32:
            # float32 dot products over this many elements drift past 1e-5 in r: sum in float64.
            x, y = x.double(), y.double()
        if self._sums is None or self._sums.device != x.device:
            # Shift by the first batch's means (once): the shifted values are small, so the raw sums
            # don't cancel, even at large offsets or when the first value is an outlier.
            self._shift_x, self._shift_y = x.mean().reshape(1), y.mean().reshape(1)
            self._sums = torch.zeros(5, dtype=torch.float64, device=x.device)
            self.count = 0
        # Five reductions and one add: per-op overhead dominates on small layers, so no more ops.
        xs = x - self._shift_x
        ys = y - self._shift_y
        self._sums += torch.stack((xs.sum(), ys.sum(), xs.dot(xs), ys.dot(ys), xs.dot(ys)))
        self.count += x.numel()

    def moments(self) -> PearsonMoments:
        """The centred moments of everything seen since the last reset (one host sync)."""
        if self._sums is None or self.count == 0:
            return PearsonMoments.empty()
        sx, sy, sxx, syy, sxy = self._sums.tolist()
        shift_x = float(self._shift_x.double())
        shift_y = float(self._shift_y.double())
        n = float(self.count)
        mx, my = sx / n, sy / n
        return PearsonMoments(
            n=n,
            mean_x=mx + shift_x,
            mean_y=my + shift_y,
            m2_x=max(sxx - sx * mx, 0.0),
            m2_y=max(syy - sy * my, 0.0),
            c_xy=sxy - sx * my,
        )

    def compute(self) -> PearsonResult:
        """Pearson r of everything seen since the last reset."""
        return pearson_from_moments(self.moments())

    @staticmethod
    def pooled(stats: Iterable[PearsonStats]) -> PearsonResult:
        """One r over the union of the pairs seen by several statistics (global scope)."""
        total = PearsonMoments.empty()
        for s in stats:
            total = merge_moments(total, s.moments())
        return pearson_from_moments(total)
