"""One packed training step: forward, per-member loss, gradients, optimizer update, signal sums."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..sites import target_pairs
from ._net import Op, SitePlan, observe, packed_forward
from ._optim import PackedOptimizer

__all__ = ["PackedStep", "member_loss"]


def member_loss(output: Tensor, target: Tensor, task: str) -> Tensor:
    """``[K]``: each member's mean loss on its own batch, as ``train`` computes it alone."""
    k, b = target.shape[:2]
    if task == "classification":
        return F.cross_entropy(output.reshape(k * b, -1), target.reshape(-1), reduction="none").view(k, b).mean(1)
    return (output.reshape(k, b) - target).pow(2).mean(1)


class PackedStep:
    """The training step of one pack shape."""

    def __init__(self, plan: Sequence[Op], task: str, *, compile_step: bool = False) -> None:
        self.plan, self.task = list(plan), task

    def __call__(
        self,
        params: Sequence[Tensor],
        alphas: Sequence[Tensor],
        site_plans: Sequence[SitePlan],
        optimizer: PackedOptimizer,
        trainable: Sequence[Tensor],
        xb: Tensor,
        yb: Tensor,
        *,
        sums: Sequence[Tensor],
        shifts: Sequence[Tensor],
        fresh: Sequence[Tensor] | None,
        io: bool,
        target: bool,
    ) -> Tensor:
        """Train one batch; returns the members' losses ``[K]``.

        ``sums`` and ``shifts`` hold one entry per site and a last one for the target signal;
        ``io`` says whether this batch measures the sites, ``target`` whether the target signal
        is watched; ``fresh`` (first batch of an epoch only) marks sums that start afresh.
        """
        output, site_grams = packed_forward(
            self.plan, params, alphas, site_plans, xb,
            shifts=shifts[:-1] if io else None, fresh=fresh[:-1] if io and fresh is not None else None,
        )
        loss = member_loss(output, yb, self.task)
        optimizer.step(trainable, torch.autograd.grad(loss.sum(), trainable))
        with torch.no_grad():
            for total, batch in zip(sums, site_grams):
                total += batch
            if target:
                k = output.shape[0]
                x, y = target_pairs(output.detach(), yb)
                sums[-1].add_(observe(x.reshape(k, -1), y.reshape(k, -1), shifts[-1], None if fresh is None else fresh[-1]))
        return loss.detach()
