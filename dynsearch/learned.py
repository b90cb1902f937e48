"""Learned activation parameters: their shape, initial values, and how they meet a site's input.

The ``learned`` strategy trains a site's α as an ``nn.Parameter``: one value per site, or one per
channel (``per_channel``, PReLU-style), always on axis 1 of the input as ``nn.PReLU`` does (the unit
axis of an MLP's ``[B, units]``, the channel axis of a CNN's ``[B, C, H, W]``). A learned-only family
(ACON-C) stacks its parameters on a leading axis: ``[α, *extras]`` (ACON-C: β, p1, p2).

Shapes: ``[]`` one α per site, ``[C]`` per channel, ``[1 + n_extra]`` or ``[1 + n_extra, C]`` for a
learned-only family.

Example:
    >>> from dynsearch.activations import get_family
    >>> initial_learned(get_family("acon_c"), 1.0, channels=2).tolist()
    [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .activations import Family, Params, family_from_module

__all__ = ["initial_learned", "learned_params", "alpha_rows", "channel_counts"]


def initial_learned(family: Family, alpha: float, channels: int | None = None) -> Tensor:
    """The starting value of a site's learned parameter: α (and the family's extras), per site or per channel."""
    values = [float(alpha), *(value for _, value in family.extra_params)]
    start = torch.tensor(values if family.learned_only else values[0], dtype=torch.float32)
    if channels is not None:
        start = start.unsqueeze(-1).expand(*start.shape, channels)
    return start.clone()


def alpha_rows(param: Tensor, family: Family) -> Tensor:
    """The α part of a learned parameter (a view): all of it, or its first row for a learned-only family."""
    return param[0] if family.learned_only else param


def learned_params(param: Tensor, family: Family, x: Tensor) -> Params:
    """What ``family.fn`` takes for input ``x``: per-channel values on axis 1, a tuple for a learned-only family.

    Raises:
        ValueError: when a per-channel parameter does not match the size of ``x``'s axis 1.
    """

    def on_channels(values: Tensor) -> Tensor:
        if values.dim() == 0:
            return values
        if x.dim() < 2 or x.shape[1] != values.shape[0]:
            raise ValueError(
                f"A per-channel {family.name} site has {values.shape[0]} channels, but its input has shape "
                f"{tuple(x.shape)}; per-channel parameters need the channels on axis 1, as nn.PReLU does."
            )
        return values.view(-1, *([1] * (x.dim() - 2)))

    if family.learned_only:
        return tuple(on_channels(row) for row in param.unbind(0))
    return on_channels(param)


def channel_counts(model: nn.Module) -> dict[int, int | None]:
    """Each activation module's channel count (by ``id``), from the layer before it in module order.

    A linear layer's ``out_features``, a convolution's ``out_channels`` or a batch norm's
    ``num_features``; None when no such layer precedes the activation.
    """
    counts: dict[int, int | None] = {}
    last: int | None = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module.out_features
        elif isinstance(module, nn.modules.conv._ConvNd):
            last = module.out_channels
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            last = module.num_features
        elif family_from_module(module) is not None or hasattr(module, "initial_family"):  # an activation or a site
            counts[id(module)] = last
    return counts
