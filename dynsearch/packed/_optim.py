"""Adam, AdamW and SGD with momentum over stacked parameters, one learning rate and weight decay per member.

The arithmetic follows ``torch.optim`` (Adam's L2 decay added to the gradient, AdamW's decoupled
decay, SGD's momentum buffer started from the first gradient), with the per-member settings as
tensors broadcast over each member's rows, so a member's update equals its own optimizer's
within float32 rounding (``tests/test_packed_optim.py`` holds it to ``tolerances.optimizer_steps``).

Adam and AdamW run torch's fused kernel (``torch._fused_adam_``, which torch has for the CPU and
CUDA): one pass over a parameter tensor updates both moments and computes the step. The kernel takes
one scalar learning rate for all its tensors, so it runs with lr = 1 into a zeroed scratch tensor, leaving
``delta = −m̂ / (√v̂ + ε)`` there, and ``p.addcmul_(lr, delta)`` applies each member's own rate.
Weight decay stays outside the kernel (its parameter is the scratch): AdamW scales ``p`` by
``1 − lr·wd`` first, Adam adds ``wd·p`` to the gradient, both as torch.optim does. That is three
passes over memory per tensor (zero, kernel, apply) where the plain arithmetic took nine
element-wise kernels over it and four parameter-sized temporaries. On a 2-core AMD EPYC (Zen 4) that
made the update 7–9× faster for members of a 256-wide MLP (2.2–2.5× for 64-wide ones) and the whole
packed step 0.65–0.71× (0.86–0.88×) of what it was: ``benchmarks/optimizer_step.py``, figures in
``benchmarks/README.md``. One fused call per member (the rate as a scalar) was no faster in the step,
and 1.5× slower than the plain update on 256 members of the 64-wide MLP.

``torch.compile`` fails on the fused kernel (torch 2.13's functionalization rejects it: "mutating
a non-functional tensor with a functional tensor"), and the compiled plain arithmetic measured
slower than this eager update, so a compiled pack compiles its forward pass and keeps this eager.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["PackedOptimizer", "optimizer_update"]

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults, which the trainer uses


def _per_member(values: Tensor, like: Tensor) -> Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


def _sgd(
    params: Sequence[Tensor], grads: Sequence[Tensor], states: Sequence[Sequence[Tensor]], lrs: Sequence[Tensor],
    decays: Sequence[Tensor | None], momentum: Sequence[Tensor], first: bool,
) -> None:
    # The fused SGD kernel takes one momentum for all members; the plain ops are three passes already.
    for p, g, (buf,), lr, wd, mom in zip(params, grads, states, lrs, decays, momentum):
        if wd is not None:
            g = torch.addcmul(g, wd, p)  # L2: torch's grad.add(param, alpha=wd), one pass
        if first:
            buf.copy_(g)  # torch starts the momentum buffer from the first gradient
        else:
            buf.mul_(mom).add_(g)
        p.addcmul_(lr, buf, value=-1)


def optimizer_update(
    kind: str,
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    states: Sequence[Sequence[Tensor]],
    lrs: Sequence[Tensor],
    decays: Sequence[Tensor | None],
    momentum: Sequence[Tensor],
    step: Tensor,
    first: bool,
    scratch: Tensor,
) -> None:
    """One update of every parameter in place; ``lrs``/``decays``/``momentum`` are per-member and
    pre-broadcast per parameter, ``step`` the (already advanced) step count as a tensor, ``scratch``
    a flat buffer at least as long as the largest parameter (Adam's delta; SGD leaves it alone)."""
    with torch.no_grad():
        if kind == "sgd":
            _sgd(params, grads, states, lrs, decays, momentum, first)
            return
        steps = [step]
        for p, g, (exp_avg, exp_avg_sq), lr, wd in zip(params, grads, states, lrs, decays):
            if wd is not None:
                if kind == "adamw":
                    p.mul_(1 - lr * wd)
                else:
                    g = torch.addcmul(g, wd, p)
            delta = scratch[: p.numel()].view_as(p).zero_()
            torch._fused_adam_(
                [delta], [g.contiguous()], [exp_avg], [exp_avg_sq], [], steps,
                lr=1.0, beta1=_BETA1, beta2=_BETA2, weight_decay=0.0, eps=_EPS, amsgrad=False, maximize=False,
            )
            p.addcmul_(lr, delta)


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
        self.step_count = torch.zeros((), dtype=torch.float64, device=lr.device)
        self.states: list[list[Tensor]] = [
            [torch.zeros_like(p), torch.zeros_like(p)] if kind != "sgd" else [torch.zeros_like(p)] for p in params
        ]
        self.update: Callable[..., None] = optimizer_update
        self._broadcast()

    def _broadcast(self) -> None:
        like = self.states
        self.lrs = [
            _per_member(self.lr if mask is None else self.lr * mask, s[0]) for mask, s in zip(self.lr_masks, like)
        ]
        self.wds = [
            _per_member(self.weight_decay, s[0]) if decay and self.any_decay else None for decay, s in zip(self.decays, like)
        ]
        self.moms = [_per_member(self.momentum, s[0]) for s in like]
        # One parameter's delta at a time: the largest parameter's size, not a copy of every parameter.
        size = max((s[0].numel() for s in like), default=0) if self.kind != "sgd" else 0
        self.scratch = torch.empty(size, dtype=self.lr.dtype, device=self.lr.device)

    def select(self, keep: Tensor) -> None:
        """Keep only the members at ``keep`` (the pack compacts)."""
        self.lr, self.weight_decay, self.momentum = self.lr[keep], self.weight_decay[keep], self.momentum[keep]
        self.lr_masks = [None if m is None else m[keep] for m in self.lr_masks]
        self.states = [[s[keep] for s in states] for states in self.states]
        self._broadcast()

    def step(self, params: Sequence[Tensor], grads: Sequence[Tensor]) -> None:
        self.steps += 1
        self.step_count += 1
        self.update(self.kind, params, grads, self.states, self.lrs, self.wds, self.moms, self.step_count,
                    self.steps == 1, self.scratch)
