"""Which family each member uses at a site, arranged for the packed forward pass.

Eager, each family runs once on just its members' rows (the members grouped by family with
one gather when they are not already), split further by α value while they share few values and none learns
α, so each group runs at one float α (the same fast path a single site takes); the rows are then put back in
member order. Compiled, every family a site has needed runs on all rows and masks pick each
member's, which the compiler fuses and which keeps the graph the same while members switch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from ..activations import get_family

__all__ = ["FamilyGroup", "SitePlan", "site_plan", "activate"]

# Up to this many distinct α of one family run as separate float-α groups (a fused kernel each);
# beyond it, one tensor-α pass is cheaper than the per-group op overhead.
_MAX_ALPHA_GROUPS = 16


@dataclass(frozen=True)
class FamilyGroup:
    """One family at a site: how many members it serves and how their α is given."""

    family: str
    size: int  # members served: the next ``size`` rows once the members are grouped
    alpha: float | None  # one float α for all of them, else each member's from the α tensor
    mask: Tensor | None = None  # [K] bool, for the masked (compiled) form


@dataclass(frozen=True)
class SitePlan:
    groups: tuple[FamilyGroup, ...]
    group_order: Tensor | None = None  # members grouped by family (eager form), if not already
    restore: Tensor | None = None  # back from the grouped order to member order


def site_plan(
    families: Sequence[str],
    alphas: Sequence[float] | None,
    learned: Sequence[bool] | None,
    device: torch.device,
    union: Sequence[str] | None = None,
) -> SitePlan:
    """The plan for one site; ``union`` (the families it has ever needed) selects the masked form.

    ``alphas``/``learned`` (host values) allow the float-α fast path; None always uses the tensor.
    """
    k = len(families)
    if not families:
        return SitePlan((FamilyGroup("identity", 0, None),))
    if union is not None:
        if len(union) == 1:
            return SitePlan((FamilyGroup(union[0], k, None),))
        masks = [torch.tensor([f == name for f in families], device=device) for name in union]
        return SitePlan(tuple(FamilyGroup(name, k, None, mask) for name, mask in zip(union, masks)))
    groups, order = [], []
    for name, alpha, rows in _groups(families, alphas, learned):
        order += rows
        groups.append(FamilyGroup(name, len(rows), alpha))
    if order == list(range(k)):
        return SitePlan(tuple(groups))
    restore = torch.empty(k, dtype=torch.long)
    restore[torch.tensor(order)] = torch.arange(k)
    return SitePlan(tuple(groups), torch.tensor(order, device=device), restore.to(device))


def _groups(families: Sequence[str], alphas: Sequence[float] | None, learned: Sequence[bool] | None
            ) -> list[tuple[str, float | None, list[int]]]:
    """(family, float α or None, member rows): one group per family, split by α value while the
    members share few distinct values and none learns α (float α: the cheap kernels)."""
    out: list[tuple[str, float | None, list[int]]] = []
    for name in dict.fromkeys(families):
        rows = [i for i, f in enumerate(families) if f == name]
        if alphas is None or learned is None or any(learned[i] or math.isnan(alphas[i]) for i in rows):
            # NaN α (a diverging member, about to leave) never equals itself: the tensor α keeps its row.
            out.append((name, None, rows))
            continue
        values = list(dict.fromkeys(alphas[i] for i in rows))
        if len(values) > _MAX_ALPHA_GROUPS:
            out.append((name, None, rows))
            continue
        out += [(name, value, [i for i in rows if alphas[i] == value]) for value in values]
    return out


def activate(x: Tensor, alpha: Tensor, plan: SitePlan, axis: int) -> Tensor:
    """Each member's family at its α; members lie on ``axis`` (0 or 1) of the 3-dim ``x``."""
    shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)

    def alpha_of(group: FamilyGroup, a: Tensor) -> float | Tensor:
        return group.alpha if group.alpha is not None else a.view(shape)

    if plan.groups[0].mask is None:
        if len(plan.groups) == 1:
            group = plan.groups[0]
            return get_family(group.family).fn(x, alpha_of(group, alpha))
        if plan.group_order is not None:
            x, alpha = x.index_select(axis, plan.group_order), alpha.index_select(0, plan.group_order)
        sizes = [g.size for g in plan.groups]
        # split/cat, not slices: their gradients are one concatenation, not a zero fill per family.
        pieces = zip(plan.groups, torch.split(x, sizes, axis), torch.split(alpha, sizes))
        out = torch.cat([get_family(g.family).fn(xs, alpha_of(g, a)) for g, xs, a in pieces], axis)
        return out if plan.restore is None else out.index_select(axis, plan.restore)
    merged: Tensor | None = None
    for group in plan.groups:
        family = get_family(group.family)
        mask = group.mask.view(shape)  # type: ignore[union-attr]
        # Other members' α may be outside this family's range (softplus divides by α): give
        # them its default, so the rows this family does not serve stay finite, in gradients too.
        y = family.fn(x, torch.where(mask, alpha.view(shape), family.alpha_default))
        merged = y if merged is None else torch.where(mask, y, merged)
    assert merged is not None
    return merged
