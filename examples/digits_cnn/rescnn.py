"""A small residual CNN on scikit-learn's 8x8 digits, with ``F.relu`` calls in its forward.

``load_digits`` is the dataset loader: it returns the images as ``(n, 1, 8, 8)`` tensors with the train /
validation / test split made here. ``rescnn`` is the model factory. dynsearch turns every activation into a
site, the ``F.relu`` calls included (through ``torch.fx``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dynsearch import LoadedData


def load_digits(n: int = 1797, split_seed: int = 0) -> LoadedData:
    """The first ``n`` digits, scaled to [0, 1], split 60 / 20 / 20 by ``split_seed``."""
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    order = np.random.default_rng(split_seed).permutation(len(data.target))[:n]
    x = torch.tensor(data.images[order] / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target[order], dtype=torch.int64)
    a, b = int(0.6 * len(y)), int(0.8 * len(y))
    return LoadedData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], task="classification",
                      class_names=[str(d) for d in range(10)])  # fmt: skip


class ResidualCNN(nn.Module):
    """conv → relu, a residual conv block, then a linear head on the flattened maps (8x8 is too small to pool)."""

    def __init__(self, input_shape: tuple[int, ...], n_outputs: int, channels: int) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.stem = nn.Conv2d(input_shape[0], channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Linear(channels * math.prod(input_shape[1:]), n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *self.input_shape)  # dynsearch hands the features flat
        h = F.relu(self.stem(x))
        h = h + self.conv2(F.relu(self.conv1(h)))
        h = self.act(h)
        return self.head(h.flatten(1))


def rescnn(input_shape: tuple[int, ...], n_outputs: int, channels: int = 16) -> nn.Module:
    """The factory: ``input_shape`` is ``(1, 8, 8)`` for the digits."""
    return ResidualCNN(input_shape, n_outputs, channels)
