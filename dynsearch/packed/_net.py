"""K models of one shape as one: the layer plan, stacked parameters and the packed forward pass.

Members' tensors carry the member on a leading axis (``[K, ...]``): a linear layer is one
batched product (``baddbmm``), a convolution one grouped convolution (``groups=K``) on CUDA and
one convolution per member on the CPU, where that is faster. Each
member keeps its own activation family and α per site (see ``_plans``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import SmallCNN
from ..signals import first_shift, shifted_gram
from ..sites import ActivationSite
from ._plans import SitePlan, activate

__all__ = ["Op", "layer_plan", "stack_parameters", "SitePlan", "packed_forward", "observe"]


@dataclass(frozen=True)
class Op:
    """One step of the forward pass: ``kind`` with its parameter or site index and static arguments."""

    kind: str  # "image", "linear", "conv", "act", "pool", "flatten"
    index: int = -1
    args: tuple = ()


def _leaves(model: nn.Module) -> list[nn.Module] | None:
    if isinstance(model, SmallCNN):
        return [nn.Unflatten(1, model.input_shape), *model.features, model.pool, *model.head]
    if type(model) is nn.Sequential:
        return list(model)
    return None


def layer_plan(model: nn.Module) -> tuple[list[Op], str]:
    """The plan of a built trainer model, or ``([], reason)`` when the engine cannot run it."""
    leaves = _leaves(model)
    if leaves is None:
        return [], f"a {type(model).__name__} is not one of the trainer's models"
    plan: list[Op] = []
    n_params = n_sites = 0
    for m in leaves:
        if isinstance(m, nn.Unflatten):
            plan.append(Op("image", args=tuple(m.unflattened_size)))
        elif type(m) is nn.Linear and m.bias is not None:
            plan.append(Op("linear", n_params))
            n_params += 1
        elif type(m) is nn.Conv2d and m.bias is not None and m.groups == 1 and m.padding_mode == "zeros":
            plan.append(Op("conv", n_params, (m.stride, m.padding, m.dilation)))
            n_params += 1
        elif isinstance(m, ActivationSite):
            plan.append(Op("act", n_sites))
            n_sites += 1
        elif type(m) is nn.AdaptiveAvgPool2d:
            plan.append(Op("pool", args=(m.output_size,)))
        elif type(m) is nn.Flatten and m.start_dim == 1 and m.end_dim == -1:
            plan.append(Op("flatten"))
        else:
            # Dropout draws its masks from the global generator in each member's own order, which
            # a pack cannot reproduce; other layers are not the trainer's.
            return [], f"layer {type(m).__name__} is not supported packed"
    return plan, ""


def stack_parameters(models: Sequence[nn.Module], plan: Sequence[Op]) -> list[Tensor]:
    """``[weight, bias]`` of every linear/conv layer, each stacked over members: ``[K, ...]``."""
    per_model = [[m for m in _leaves(model) if type(m) in (nn.Linear, nn.Conv2d)] for model in models]  # type: ignore[union-attr]
    stacked: list[Tensor] = []
    for layer in range(len(per_model[0])):
        for name in ("weight", "bias"):
            stacked.append(torch.stack([getattr(layers[layer], name).detach() for layers in per_model]).clone())
    return stacked


def packed_forward(
    plan: Sequence[Op],
    params: Sequence[Tensor],
    alphas: Sequence[Tensor],
    sites: Sequence[SitePlan],
    x: Tensor,
    *,
    shifts: Sequence[Tensor] | None = None,
    fresh: Sequence[Tensor] | None = None,
    taps: Sequence[Callable[[Tensor, Tensor], None] | None] | None = None,
) -> tuple[Tensor, list[Tensor]]:
    """Output ``[K, B, n_outputs]`` for inputs ``x`` ``[K, B, features]``.

    With ``shifts`` (one ``[K, 3, 1]`` per site), each site's ``shifted_gram`` of (input, output)
    per member is returned too. With ``fresh`` (one bool ``[K, 1, 1]`` per site), the members
    whose sums start afresh first take their shift from this batch, as ``PearsonStats`` does.
    With ``taps`` (one callback or None per site), ``tap(z, f(z))`` feeds the site's other signals.
    """
    k = x.shape[0]
    grams: list[Tensor] = []
    for op in plan:  # every tensor keeps the member on axis 0: [K, B, ...]
        if op.kind == "image":
            x = x.reshape(k, x.shape[1], *op.args)
        elif op.kind == "linear":
            w, bias = params[2 * op.index], params[2 * op.index + 1]
            x = torch.baddbmm(bias.unsqueeze(1), x, w.transpose(1, 2))
        elif op.kind == "conv":
            x = _conv(x, params[2 * op.index], params[2 * op.index + 1], op.args)
        elif op.kind == "act":
            z = x
            x = activate(z.reshape(k, z.shape[1], -1), alphas[op.index], sites[op.index], 0).view(z.shape)
            if shifts is not None:
                grams.append(observe(z.detach().reshape(k, -1), x.detach().reshape(k, -1), shifts[op.index],
                                     None if fresh is None else fresh[op.index]))
            if taps is not None and taps[op.index] is not None:
                taps[op.index](z, x)  # type: ignore[misc]
        elif op.kind == "pool":
            pooled = F.adaptive_avg_pool2d(x.flatten(0, 1), op.args[0])
            x = pooled.view(k, -1, *pooled.shape[1:])
        elif op.kind == "flatten":
            x = x.flatten(2)
    return x, grams


def _conv(x: Tensor, w: Tensor, bias: Tensor, args: tuple, grouped: bool | None = None) -> Tensor:
    """K members' convolutions of ``x`` ``[K, B, C, H, W]``: grouped on CUDA (or when asked)."""
    k, b = x.shape[:2]
    stride, padding, dilation = args
    if not (x.device.type == "cuda" if grouped is None else grouped):
        # On the CPU one convolution per member beats a grouped one: mkldnn's grouped kernels with
        # few channels per group measured 2-3x slower here. unbind/stack keep the gradients cheap.
        return torch.stack([
            F.conv2d(xi, wi, bi, stride, padding, dilation) for xi, wi, bi in zip(x.unbind(0), w.unbind(0), bias.unbind(0))
        ])
    stacked = x.transpose(0, 1).reshape(b, -1, *x.shape[3:])
    y = F.conv2d(stacked, w.reshape(-1, *w.shape[2:]), bias.reshape(-1), stride, padding, dilation, groups=k)
    return y.view(b, k, -1, *y.shape[2:]).transpose(0, 1)


def observe(x: Tensor, y: Tensor, shift: Tensor, fresh: Tensor | None) -> Tensor:
    """``shifted_gram`` of K rows of pairs; with ``fresh``, those members' ``shift`` is set first."""
    if fresh is not None:
        shift.copy_(torch.where(fresh, first_shift(x, y), shift))
    return shifted_gram(x, y, shift)
