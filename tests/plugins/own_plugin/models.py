"""Model factories as a user writes them: ``factory(input_shape, n_outputs, **params)``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ResidualMLP(nn.Module):
    """Two residual blocks; one activation is a module, the others are ``F.relu`` / ``torch.tanh`` calls."""

    def __init__(self, n_inputs: int, n_outputs: int, width: int) -> None:
        super().__init__()
        self.stem = nn.Linear(n_inputs, width)
        self.block1 = nn.Linear(width, width)
        self.block2 = nn.Linear(width, width)
        self.act = nn.ReLU()
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.stem(x))
        h = h + F.relu(self.block1(h))
        h = h + torch.tanh(self.block2(h))
        return self.head(h)


def residual_mlp(input_shape: tuple[int, ...], n_outputs: int, width: int = 16) -> nn.Module:
    """The plugin's model: a small residual MLP on the flat features."""
    return ResidualMLP(math.prod(input_shape), n_outputs, width)


def no_module(input_shape: tuple[int, ...], n_outputs: int) -> object:
    return "not a model"


def raises(input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    raise RuntimeError("out of ideas")


def wrong_shape(input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    return nn.Sequential(nn.Linear(math.prod(input_shape), 7), nn.ReLU())


def no_activation(input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    return nn.Linear(math.prod(input_shape), n_outputs)


NOT_CALLABLE = 3
