"""Pure streaming statistics per member and unit, as tensors on the device (no host sync).

A batch tensor is laid out ``(B, U, *S)`` for one model or ``(M, B, U, *S)`` with ``members=True``
(a packed engine's leading member dimension): B samples, U units (an MLP layer's features, a CNN's
channels; a ``(B,)`` tensor has one unit), and any trailing dims S (spatial positions) pooled into
their unit. Statistics are kept per member and unit, shape ``(M, U, ...)`` (M = 1 for one model), so
a reduction over units (``pooled`` or ``unit_mean``) is chosen when the value is read, and the
statistics of several sites combine by concatenating units (global scope).

Pearson state: ``n`` (M, U) float64 counts, ``shift`` (M, U, 2) the first batch's means of x and y
(float64, so the shift applied and the one added back are the same number),
``sums`` (M, U, 5) float64 sums of shifted Σx, Σy, Σx², Σy², Σxy (see ``dynsearch.signals._pearson`` for why
shifting keeps float32 data exact enough). Share state: ``n`` and ``hits`` (M, U) float64.
Every update returns a new state; ``copy_state_`` writes one into existing tensors (buffers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor

__all__ = [
    "REDUCTIONS",
    "SignalValue",
    "as_members",
    "pearson_update",
    "pearson_moments",
    "pearson_value",
    "share_update",
    "share_value",
    "copy_state_",
    "reset_state",
]

REDUCTIONS = ("pooled", "unit_mean")
State = dict[str, Tensor]

# Same conventions as signals._pearson: a spread this small relative to n·mean² is rounding noise.
_DEGENERATE_EPS = 1e-20


@dataclass(frozen=True)
class SignalValue:
    """A signal's value per member: ``value`` (M,) float64, ``n`` (M,) elements seen, ``degenerate`` (M,)
    bool (no spread or nothing seen: ``value`` is then 0). Tensors stay on the device until read."""

    value: Tensor
    n: Tensor
    degenerate: Tensor

    def item(self, member: int = 0) -> tuple[float, int, bool]:
        """``(value, n, degenerate)`` of one member as Python numbers (one host sync)."""
        return float(self.value[member]), int(self.n[member]), bool(self.degenerate[member])


def as_members(t: Tensor, members: bool) -> Tensor:
    """A view of ``t`` as ``(M, B, U, *S)``: adds M = 1 without ``members`` and U = 1 for per-sample values."""
    if not members:
        t = t.unsqueeze(0)
    if t.dim() < 2:
        raise ValueError(f"A batch needs a sample dimension{' after the member dimension' if members else ''}; "
                         f"got shape {tuple(t.shape)}.")  # fmt: skip
    return t.unsqueeze(-1) if t.dim() == 2 else t


def _unit_sum(t: Tensor) -> Tensor:
    """Sum of an ``(M, B, U, *S)`` tensor over everything but members and units: ``(M, U)``."""
    return t.sum(dim=[1, *range(3, t.dim())])


def _per_unit_count(t: Tensor) -> int:
    return t.numel() // (t.shape[0] * t.shape[2])


def _float(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    # Widened before any product or sum: float16 sums overflow, bfloat16 ones keep 8 bits, integers
    # can overflow, and float32 sums depend on the order a CPU's kernel adds them in. In float64 a
    # product of float32 values is exact and a sum of N of them is off by at most about log2(N)·2⁻⁵³.
    return x.to(torch.float64), y.to(torch.float64)


@torch.no_grad()
def pearson_update(state: State | None, x: Tensor, y: Tensor, *, members: bool = False) -> State:
    """Add the pairs (x[i], y[i]) of two same-shaped batches, per member and unit. Pure: returns a new state.

    ``state`` None starts one from this batch, whose per-unit means become the shift that every later
    batch is centred by (``reset_state`` keeps it, so no batch after the first pays for computing it).
    """
    x, y = as_members(x.detach(), members), as_members(y.detach(), members)
    if x.shape != y.shape:
        raise ValueError(f"Pearson statistics pair x and y element-wise; got shapes {tuple(x.shape)} and {tuple(y.shape)}.")
    x, y = _float(x, y)
    m, u = x.shape[0], x.shape[2]
    count = _per_unit_count(x)
    if state is None:
        zeros = torch.zeros(m, u, dtype=torch.float64, device=x.device)
        means = torch.stack((_unit_sum(x), _unit_sum(y)), dim=-1) / count
        state = {"n": zeros, "shift": means, "sums": torch.zeros(m, u, 5, dtype=torch.float64, device=x.device)}
    elif state["n"].shape != (m, u):
        raise ValueError(f"This state holds {tuple(state['n'].shape)} (members, units); the batch has ({m}, {u}).")
    shift = state["shift"] if state["shift"].dtype == x.dtype else state["shift"].to(x.dtype)
    view = (m, 1, u) + (1,) * (x.dim() - 3)
    xs = x - shift[..., 0].view(view)
    ys = y - shift[..., 1].view(view)
    batch = torch.stack((_unit_sum(xs), _unit_sum(ys), _unit_sum(xs * xs), _unit_sum(ys * ys), _unit_sum(xs * ys)), -1)
    return {"n": state["n"] + count, "shift": state["shift"], "sums": state["sums"] + batch.double()}


def reset_state(state: State) -> State:
    """The state with nothing seen (counts and sums zero); a Pearson state keeps its shift. Pure."""
    return {key: (t if key == "shift" else torch.zeros_like(t)) for key, t in state.items()}


def pearson_moments(state: State) -> tuple[Tensor, ...]:
    """Centred moments per member and unit, ``(n, mean_x, mean_y, m2_x, m2_y, c_xy)``, each (M, U) float64."""
    n = state["n"]
    safe = n.clamp(min=1.0)
    sx, sy, sxx, syy, sxy = state["sums"].unbind(-1)
    mx, my = sx / safe, sy / safe
    shift = state["shift"].double()
    return (n, mx + shift[..., 0], my + shift[..., 1], (sxx - sx * mx).clamp(min=0.0),
            (syy - sy * my).clamp(min=0.0), sxy - sx * my)  # fmt: skip


def _r(n: Tensor, mx: Tensor, my: Tensor, m2x: Tensor, m2y: Tensor, cxy: Tensor) -> tuple[Tensor, Tensor]:
    degenerate = (n < 2) | (m2x <= _DEGENERATE_EPS * n * mx * mx) | (m2y <= _DEGENERATE_EPS * n * my * my)
    r = cxy / torch.sqrt(torch.where(degenerate, torch.ones_like(m2x), m2x * m2y))
    return torch.where(degenerate, torch.zeros_like(r), r.clamp(-1.0, 1.0)), degenerate


def _concat(states: State | Sequence[State], keys: tuple[str, ...]) -> State:
    # Several sites (global scope) are one set of units.
    if isinstance(states, Mapping):
        return dict(states)
    states = list(states)
    if not states:
        raise ValueError("A signal value needs at least one state.")
    return {key: torch.cat([s[key] for s in states], dim=1) for key in keys}


@torch.no_grad()
def pearson_value(states: State | Sequence[State], reduction: str = "pooled") -> SignalValue:
    """r per member: ``pooled`` over every pair of every unit (of every state given), or ``unit_mean``, the
    mean of the units' own r over units with spread (0 and degenerate when no unit has any)."""
    n, mx, my, m2x, m2y, cxy = pearson_moments(_concat(states, ("n", "shift", "sums")))
    total = n.sum(dim=1)
    if reduction == "pooled":
        # Exact merge of the units' centred moments (parallel form of Chan et al.).
        w = n / total.clamp(min=1.0).unsqueeze(1)
        gx, gy = (w * mx).sum(1), (w * my).sum(1)
        dx, dy = mx - gx.unsqueeze(1), my - gy.unsqueeze(1)
        r, degenerate = _r(total, gx, gy, (m2x + n * dx * dx).sum(1), (m2y + n * dy * dy).sum(1), (cxy + n * dx * dy).sum(1))
        return SignalValue(r, total, degenerate)
    if reduction != "unit_mean":
        raise ValueError(f"Unknown reduction {reduction!r}; allowed: {', '.join(REDUCTIONS)}.")
    r, degenerate = _r(n, mx, my, m2x, m2y, cxy)
    valid = (~degenerate).double()
    units = valid.sum(1)
    mean = (r * valid).sum(1) / units.clamp(min=1.0)
    return SignalValue(mean, total, units == 0)


@torch.no_grad()
def share_update(state: State | None, hits: Tensor, *, members: bool = False) -> State:
    """Count, per member and unit, the elements of a boolean batch and how many are True. Pure."""
    hits = as_members(hits.detach(), members)
    m, u = hits.shape[0], hits.shape[2]
    if state is None:
        state = {key: torch.zeros(m, u, dtype=torch.float64, device=hits.device) for key in ("n", "hits")}
    if state["n"].shape != (m, u):
        raise ValueError(f"This state holds {tuple(state['n'].shape)} (members, units); the batch has ({m}, {u}).")
    return {"n": state["n"] + _per_unit_count(hits), "hits": state["hits"] + _unit_sum(hits.double())}


@torch.no_grad()
def share_value(states: State | Sequence[State], reduction: str = "pooled") -> SignalValue:
    """The share of True elements per member: ``pooled`` over all elements, or ``unit_mean`` over units."""
    state = _concat(states, ("n", "hits"))
    n, hits = state["n"], state["hits"]
    total = n.sum(1)
    if reduction == "pooled":
        return SignalValue(hits.sum(1) / total.clamp(min=1.0), total, total == 0)
    if reduction != "unit_mean":
        raise ValueError(f"Unknown reduction {reduction!r}; allowed: {', '.join(REDUCTIONS)}.")
    seen = (n > 0).double()
    units = seen.sum(1)
    return SignalValue((hits / n.clamp(min=1.0) * seen).sum(1) / units.clamp(min=1.0), total, units == 0)


def copy_state_(target: State, source: State) -> None:
    """Write ``source`` into ``target``'s tensors in place (for statistics kept as module buffers)."""
    for key, tensor in source.items():
        target[key].copy_(tensor)
