"""A residual MLP for tabular data, as a model factory: ``resmlp(input_shape, n_outputs, width, blocks)``.

The study (``study.toml``) trains it on ``wine.csv``, scikit-learn's wine data written as a CSV (178 rows,
13 features, the class in the ``target`` column).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Block(nn.Module):
    """``x + Linear(act(Linear(x)))``: the activation inside the residual branch becomes a site."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, width)
        self.act = nn.ReLU()
        self.outer = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.outer(self.act(self.inner(x)))


def resmlp(input_shape: tuple[int, ...], n_outputs: int, width: int = 32, blocks: int = 2) -> nn.Module:
    """A stem, ``blocks`` residual blocks and a linear head."""
    return nn.Sequential(
        nn.Linear(math.prod(input_shape), width),
        nn.ReLU(),
        *(Block(width) for _ in range(blocks)),
        nn.Linear(width, n_outputs),
    )
