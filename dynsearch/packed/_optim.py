"""Adam, AdamW and SGD with momentum over stacked parameters, one learning rate and weight decay per member.

The arithmetic follows ``torch.optim`` (Adam's L2 decay added to the gradient, AdamW's decoupled
decay, SGD's momentum buffer started from the first gradient), with the per-member settings as
tensors broadcast over each member's rows, so a member's update equals its own optimizer's.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

__all__ = ["PackedOptimizer"]

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults, which the trainer uses


def _per_member(values: Tensor, like: Tensor) -> Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


class PackedOptimizer:
    """One optimizer for all members.

    Args:
        kind: "adam", "adamw" or "sgd".
        lr, weight_decay, momentum: ``[K]`` per-member settings.
        decays: per parameter, whether weight decay applies (a learned α never decays).
        lr_masks: per parameter, an optional ``[K]`` 0/1 factor on the learning rate (α rows of
            members that do not learn α stay put).
    """

    def __init__(
        self,
        kind: str,
        params: Sequence[Tensor],
        *,
        lr: Tensor,
        weight_decay: Tensor,
        momentum: Tensor,
        decays: Sequence[bool],
        lr_masks: Sequence[Tensor | None],
    ) -> None:
        self.kind = kind
        self.lr, self.weight_decay, self.momentum = lr, weight_decay, momentum
        self.decays = list(decays)
        self.lr_masks = list(lr_masks)
        self.any_decay = bool((weight_decay != 0).any())
        self.steps = 0
        self.state: list[list[Tensor]] = [
            [torch.zeros_like(p), torch.zeros_like(p)] if kind != "sgd" else [torch.zeros_like(p)] for p in params
        ]

    def select(self, keep: Tensor) -> None:
        """Keep only the members at ``keep`` (the pack compacts)."""
        self.lr, self.weight_decay, self.momentum = self.lr[keep], self.weight_decay[keep], self.momentum[keep]
        self.lr_masks = [None if m is None else m[keep] for m in self.lr_masks]
        self.state = [[s[keep] for s in states] for states in self.state]

    @torch.no_grad()
    def step(self, params: Sequence[Tensor], grads: Sequence[Tensor]) -> None:
        self.steps += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            lr = self.lr if self.lr_masks[i] is None else self.lr * self.lr_masks[i]
            lr = _per_member(lr, p)
            decay = self.decays[i] and self.any_decay
            wd = _per_member(self.weight_decay, p) if decay else None
            if self.kind == "sgd":
                self._sgd(p, g, self.state[i][0], lr, wd, _per_member(self.momentum, p))
            else:
                self._adam(p, g, self.state[i], lr, wd)

    def _adam(self, p: Tensor, g: Tensor, state: list[Tensor], lr: Tensor, wd: Tensor | None) -> None:
        exp_avg, exp_avg_sq = state
        if wd is not None:
            if self.kind == "adamw":
                p.mul_(1 - lr * wd)
            else:
                g = g + wd * p
        exp_avg.lerp_(g, 1 - _BETA1)
        exp_avg_sq.mul_(_BETA2).addcmul_(g, g, value=1 - _BETA2)
        bias_correction1 = 1 - _BETA1**self.steps
        bias_correction2_sqrt = math.sqrt(1 - _BETA2**self.steps)
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(_EPS)
        p.sub_(lr / bias_correction1 * exp_avg / denom)

    def _sgd(self, p: Tensor, g: Tensor, buf: Tensor, lr: Tensor, wd: Tensor | None, momentum: Tensor) -> None:
        if wd is not None:
            g = g + wd * p
        if self.steps == 1:
            buf.copy_(g)  # torch starts the momentum buffer from the first gradient
        else:
            buf.mul_(momentum).add_(g)
        p.sub_(lr * buf)
