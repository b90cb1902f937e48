"""The built-in signals: io, target, dead, saturation, gradient and data.

``io`` and ``target`` keep the semantics strategies have read so far; the others move during
training (dead, saturation, gradient) or are the write-up's literal r(x, y) (data, a constant).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ._base import Signal, register_signal
from ._derivatives import derivative
from ._stats import SignalValue, State, as_members, pearson_update, pearson_value, share_update, share_value

__all__ = ["IOSignal", "TargetSignal", "DeadSignal", "SaturationSignal", "GradientSignal", "DataSignal"]


class _PearsonSignal(Signal):
    def value(self, states: State | Sequence[State]) -> SignalValue:
        return pearson_value(states, self.reduction)


class _ShareSignal(Signal):
    value_range = (0.0, 1.0)
    needs_family = True

    def value(self, states: State | Sequence[State]) -> SignalValue:
        return share_value(states, self.reduction)

    def _slopes(self, z: Tensor, family: str | None, alpha: float | Tensor | None) -> Tensor:
        if family is None:
            raise ValueError(f"The {self.name!r} signal needs the site's family (and α) to evaluate f'(z).")
        with torch.no_grad():
            return derivative(z.detach(), family, alpha.detach() if isinstance(alpha, Tensor) else alpha)


@register_signal("io")
class IOSignal(_PearsonSignal):
    """r between a site's input z and its output f(z): how linear the site is on its data.

    For a monotone family it sits near 1 (z ~ N(0, 1): relu 0.856, tanh 0.965, sigmoid 0.992)."""

    measures = "Pearson r between a site's pre-activation z and its output f(z) (how linear the site acts)"
    source = "site"
    # z and a non-decreasing f(z) never covary negatively (silu and gelu dip only slightly below zero).
    expected_range = (0.0, 1.0)

    def update(self, state, a, b, *, members=False, family=None, alpha=None):  # noqa: D102 - see Signal.update
        return pearson_update(state, a, b, members=members)


@register_signal("target")
class TargetSignal(_PearsonSignal):
    """r between the network's output and the target: softmax probabilities against one-hot targets for
    classification (integer targets), prediction against target for regression. Units are classes.

    A progress measure: it rises as the network fits."""

    measures = "Pearson r between the network's output (softmax for classes) and the target (one-hot)"
    source = "network"
    per_network = True

    def update(self, state, a, b, *, members=False, family=None, alpha=None):  # noqa: D102
        output, target = a.detach(), b.detach()
        if members and target.dim() == output.dim() - 2:
            target = target.unsqueeze(0).expand(output.shape[0], *target.shape)  # one target for every member
        if not target.is_floating_point() and output.shape[-1] > 1:
            probs = torch.softmax(output, dim=-1)
            return pearson_update(state, probs, F.one_hot(target, output.shape[-1]).to(probs.dtype), members=members)
        return pearson_update(state, output.reshape(target.shape), target.to(output.dtype), members=members)


@register_signal("dead")
class DeadSignal(_ShareSignal):
    """Share of a site's elements in the zero-gradient regime, f′(z) = 0 (relu's negative side)."""

    measures = "share of a site's elements where f'(z) = 0 (no gradient flows back: dead)"
    source = "site"

    def update(self, state, a, b, *, members=False, family=None, alpha=None):  # noqa: D102
        return share_update(state, self._slopes(a, family, alpha) == 0, members=members)


@register_signal("saturation")
class SaturationSignal(_ShareSignal):
    """Share of a site's elements with |f′(z)| < ε: flat parts of the family (tanh/sigmoid tails, relu's
    negative side, a small leaky slope).

    Args:
        eps: the slope below which an element counts as saturated, > 0.
    """

    measures = "share of a site's elements where |f'(z)| < eps (saturated: little gradient flows back)"
    source = "site"

    def __init__(self, *, eps: float = 0.05, reduction: str = "pooled") -> None:
        super().__init__(reduction=reduction)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
            raise ValueError(f"The 'eps' parameter of SaturationSignal must be a finite number > 0. Got {eps!r} instead.")
        self.eps = float(eps)

    def update(self, state, a, b, *, members=False, family=None, alpha=None):  # noqa: D102
        return share_update(state, self._slopes(a, family, alpha).abs() < self.eps, members=members)


@register_signal("gradient")
class GradientSignal(_PearsonSignal):
    """r between a site's pre-activation z and the loss gradient ∂L/∂z (fed from a backward hook on z).

    Positive when the loss pushes large z down (and small z up), i.e. the site's scale is too large."""

    measures = "Pearson r between a site's pre-activation z and the loss gradient dL/dz"
    source = "site_gradient"

    def update(self, state, a, b, *, members=False, family=None, alpha=None):  # noqa: D102
        return pearson_update(state, a, b, members=members)


@register_signal("data")
class DataSignal(_PearsonSignal):
    """The write-up's literal r(x, y): the network's input x against the target y, paired the way its
    example pairs them, every input value with its sample's target. It does not depend on the network,
    so it is a **per-dataset constant**: thresholding it picks an activation once per dataset; it is not
    a dynamic rule.

    ``b`` is the target as the data holds it: class indices (as numbers, so for more than two classes
    the value depends on the arbitrary class order, as the write-up's would) or regression values, or
    a float matrix ``(B, C)`` whose every column is paired with every feature. Units are (feature,
    target column) pairs: ``pooled`` is r over all pairs, ``unit_mean`` the mean of each feature's r."""

    measures = "Pearson r between the network's input x and the target y (a constant of the dataset)"
    source = "input"
    per_network = True

    def update(self, state, a, b, *, members=False, family=None, alpha=None):  # noqa: D102
        x = as_members(a.detach(), members)
        t = as_members(b.detach(), members)
        m, n = x.shape[0], x.shape[1]
        x = x.reshape(m, n, -1).to(torch.float64)  # features per sample; float64: few elements, exact sums
        t = t.reshape(m, n, -1).to(torch.float64)
        return _outer_pearson_update(state, x, t)


@torch.no_grad()
def _outer_pearson_update(state: State | None, x: Tensor, t: Tensor) -> State:
    """Pearson sums of every (feature f, target column c) pair as unit f·C + c, without materializing pairs."""
    m, n, nf = x.shape
    nc = t.shape[2]
    if state is None:
        state = {"n": torch.zeros(m, nf * nc, dtype=torch.float64, device=x.device),
                 "shift": torch.zeros(m, nf * nc, 2, dtype=torch.float64, device=x.device),
                 "sums": torch.zeros(m, nf * nc, 5, dtype=torch.float64, device=x.device)}  # fmt: skip
    if state["n"].shape != (m, nf * nc):
        raise ValueError(f"This state holds {tuple(state['n'].shape)} (members, pairs); the batch has ({m}, {nf * nc}).")
    first = (state["n"] == 0).view(m, nf, nc)
    new_x = x.mean(1).unsqueeze(2).expand(m, nf, nc)
    new_t = t.mean(1).unsqueeze(1).expand(m, nf, nc)
    old = state["shift"].view(m, nf, nc, 2)
    shift_x = torch.where(first, new_x, old[..., 0])  # every pair of a member starts at the same batch
    shift_t = torch.where(first, new_t, old[..., 1])
    xs = x - shift_x[:, :, 0].unsqueeze(1)
    ts = t - shift_t[:, 0, :].unsqueeze(1)
    sums = torch.stack(
        (
            xs.sum(1).unsqueeze(2).expand(m, nf, nc),
            ts.sum(1).unsqueeze(1).expand(m, nf, nc),
            (xs * xs).sum(1).unsqueeze(2).expand(m, nf, nc),
            (ts * ts).sum(1).unsqueeze(1).expand(m, nf, nc),
            torch.bmm(xs.transpose(1, 2), ts),
        ),
        dim=-1,
    ).reshape(m, nf * nc, 5)
    shift = torch.stack((shift_x, shift_t), dim=-1).reshape(m, nf * nc, 2)
    return {"n": state["n"] + n, "shift": shift, "sums": state["sums"] + sums}
