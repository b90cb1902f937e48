"""Dataset loaders as a user writes them: they split their data themselves."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from dynsearch import LoadedData


def blobs(n: int = 120, split_seed: int = 0) -> LoadedData:
    """Two noisy Gaussian blobs in 4 dimensions; the validation split is a ``Dataset``."""
    g = torch.Generator().manual_seed(1234 + split_seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 4, generator=g) * 1.5 + y[:, None].float() * 1.5
    a, b = int(n * 0.6), int(n * 0.8)
    return LoadedData(x[:a], y[:a], TensorDataset(x[a:b], y[a:b]), None, x[b:], y[b:])


def as_dict(n: int = 60) -> dict:
    x, y = torch.randn(n, 3, generator=torch.Generator().manual_seed(0)), torch.randn(n)
    return {"x_train": x[:40], "y_train": y[:40], "x_val": x[40:50], "y_val": y[40:50], "x_test": x[50:], "y_test": y[50:]}


def no_target() -> dict:
    x = torch.randn(10, 2)
    return {"x_train": x, "y_train": None, "x_val": x, "y_val": torch.zeros(10), "x_test": x, "y_test": torch.zeros(10)}


def unknown_task() -> LoadedData:
    x, y = torch.randn(10, 2), torch.ones(10)
    return LoadedData(x, y, x, y, x, y)


def raises() -> LoadedData:
    raise OSError("the share is not mounted")
