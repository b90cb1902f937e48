"""Streaming, mergeable Pearson statistics kept on the device.

Each update adds one batch of paired values (x, y) with a handful of tensor ops and no host
sync: the values are shifted by the first batch's means (the subtraction is exact in float32 for
nearby values, by Sterbenz's lemma), widened to float64, and their sums Σx, Σy, Σx², Σy², Σxy and
the count are added to a float64 accumulator. Shifting keeps the sums small, so large offsets do not
cancel catastrophically; converting to centred form and merging (Chan et al.) happens only
when r is read, once per adjustment.

``shifted_gram`` works on a batch of K independent pairs of series at once: a single site uses
it with K = 1, the packed trainer with one row per member, so both share the same arithmetic.

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
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ._native import native_shifted_gram

__all__ = [
    "PearsonStats",
    "PearsonMoments",
    "PearsonResult",
    "merge_moments",
    "pearson_from_moments",
    "moments_from_gram",
    "shifted_gram",
    "first_shift",
]

# A spread this small relative to the values' magnitude (n·mean²) is rounding noise, not
# variance: r is then 0 and flagged. Far below what float32 data can show (~1e-14 at offset 1e4).
_DEGENERATE_EPS = 1e-20


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


def first_shift(x: Tensor, y: Tensor) -> Tensor:
    """The shift ``[K, 3, 1]`` a fresh accumulator takes from its first batch: (mean x, mean y, 0).

    ``x`` and ``y`` are ``[K, N]``; the third row is 0 so the constant row of ``shifted_gram``
    stays 1 and counts the pairs.
    """
    return torch.stack((x.mean(1), y.mean(1), torch.zeros_like(x[:, 0])), 1).unsqueeze(-1)


def shifted_gram(x: Tensor, y: Tensor, shift: Tensor) -> Tensor:
    """Sums of K independent batches of pairs: ``[K, 3, 3]`` float64.

    ``x`` and ``y`` are ``[K, N]`` (row k pairs x[k, i] with y[k, i]); ``shift`` is ``[K, 3, 1]``
    from ``first_shift``. With rows p = (x - sx, y - sy, 1), the result is p·pᵀ: its entries are
    Σx², Σxy, Σy² of the shifted values, Σx and Σy (last column) and the count (corner).
    The values are widened to float64 before any product or sum, and the three products come from one
    float64 matrix product (``[K, 2, N]`` by its transpose): one pass over the values instead of a
    product and a sum each, and the sums carry a relative error of at most about log2(N)·2⁻⁵³ in
    whatever order the CPU's BLAS kernel adds them (Higham's bound holds for any order). A float32
    matrix product is no option: its accumulation order and width depend on that kernel (a 50,000-long
    float32 dot product was off by 0.03 on one CPU, 4e-5 summed element-wise). For float32 rows on the CPU
    the same sums come from one native loop where a C compiler is at hand (``signals._native``): one pass,
    the same float64 arithmetic, a fixed order of additions.
    """
    native = native_shifted_gram(x, y, shift)  # float32 rows on the CPU: one native pass (``_native``)
    if native is not None:
        return native
    k, n = x.shape
    p = torch.empty(k, 2, n, dtype=torch.float64, device=x.device)
    p[:, 0] = x  # widening copies: exact for every float dtype
    p[:, 1] = y
    p -= shift[:, :2].to(torch.float64)
    products = torch.bmm(p, p.transpose(1, 2))
    sums = p.sum(2)
    sx, sy, sxx, syy = sums[:, 0], sums[:, 1], products[:, 0, 0], products[:, 1, 1]
    sxy = products[:, 0, 1]  # used for both off-diagonal entries, so the gram stays exactly symmetric
    count = torch.full_like(sx, float(n))
    return torch.stack((sxx, sxy, sx, sxy, syy, sy, sx, sy, count), 1).view(k, 3, 3)


def moments_from_gram(gram: Sequence[Sequence[float]], shift_x: float, shift_y: float) -> PearsonMoments:
    """Centred moments from one accumulated ``shifted_gram`` (as nested floats) and its shift."""
    n = float(gram[2][2])
    if n == 0:
        return PearsonMoments.empty()
    sx, sy = float(gram[0][2]), float(gram[1][2])
    sxx, syy, sxy = float(gram[0][0]), float(gram[1][1]), float(gram[0][1])
    mx, my = sx / n, sy / n
    return PearsonMoments(
        n=n,
        mean_x=mx + shift_x,
        mean_y=my + shift_y,
        m2_x=max(sxx - sx * mx, 0.0),
        m2_y=max(syy - sy * my, 0.0),
        c_xy=sxy - sx * my,
    )


class PearsonStats(nn.Module):
    """Streaming Pearson statistics of paired values, updated on the device without host syncs.

    The state is two buffers, ``shift`` (the first batch's means) and ``gram`` (float64 sums),
    so it follows ``.to(device)`` and the ``state_dict``. ``update`` may be called with tensors
    of any shape (they are flattened and paired element-wise); ``moments()`` and ``compute()``
    read the state back (one host sync). ``count`` is a host-side mirror of the number of pairs.
    Instances merge: ``PearsonStats.pooled([a, b, ...])``.
    """

    shift: Tensor
    gram: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(1, 3, 1))
        self.register_buffer("gram", torch.zeros(1, 3, 3, dtype=torch.float64))
        self.count = 0

    def reset(self) -> None:
        """Forget everything seen so far (called after each adjustment)."""
        self.gram.zero_()
        self.count = 0

    def update(self, x: Tensor, y: Tensor) -> None:
        """Add the pairs (x[i], y[i]) of two same-sized tensors."""
        # Detached inputs record no graph: no no_grad context needed (it costs per call).
        x = x.detach().reshape(1, -1)
        y = y.detach().reshape(1, -1)
        if x.numel() != y.numel():
            raise ValueError(f"PearsonStats.update needs as many x as y values, got {x.numel()} and {y.numel()}.")
        if x.numel() == 0:
            return
        if not x.is_floating_point() or x.element_size() < 4:
            # float16 sums overflow (max 65504) and bfloat16 ones keep 8 bits; integers can overflow too.
            x = x.float()
        if y.dtype != x.dtype:
            y = y.to(x.dtype)
        if self.count == 0:
            # Shift by the first batch's means: the shifted values are small, so the sums don't
            # cancel, even at large offsets or when the first value is an outlier.
            self.shift.copy_(first_shift(x, y))
        self.gram.add_(shifted_gram(x, y, self.shift))
        self.count += x.numel()

    def moments(self) -> PearsonMoments:
        """The centred moments of everything seen since the last reset (one host sync)."""
        if self.count == 0:
            return PearsonMoments.empty()
        shift = self.shift.double().reshape(3).tolist()
        return moments_from_gram(self.gram[0].tolist(), shift[0], shift[1])

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

    def _apply(self, fn: Any, recurse: bool = True) -> PearsonStats:
        # `.to(device)` moves the sums; a dtype cast (`.half()`, `.double()`) must not make them
        # coarser than float64, nor the shift coarser than float32.
        super()._apply(fn, recurse)
        if self.gram.dtype != torch.float64:
            self.gram = self.gram.double()
        if self.shift.dtype not in (torch.float32, torch.float64):
            self.shift = self.shift.float()
        return self

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        if prefix + "gram" not in state_dict:
            return  # a state_dict from before the statistics were saved: start them afresh
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def get_extra_state(self) -> dict[str, int]:
        return {"count": self.count}

    def set_extra_state(self, state: Mapping[str, int]) -> None:
        self.count = int(state["count"])

    def extra_repr(self) -> str:
        return f"count={self.count}"
