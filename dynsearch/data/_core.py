"""Dataset splits: the container, deterministic stratified splitting, scaling and batching."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from numbers import Real
from typing import Callable, Iterator

import numpy as np
import torch

from .._constraints import SEED, Integer, check

__all__ = [
    "DatasetError",
    "DatasetSplits",
    "RawDataset",
    "iter_batches",
    "split_rows",
    "check_fractions",
    "check_split_seed",
    "assemble",
]

TASKS = ("classification", "regression")


class DatasetError(ValueError):
    """A dataset cannot be loaded as asked; the message says what, where and what is allowed.

    Example:
        >>> from dynsearch.data import DatasetError, load_dataset
        >>> try:
        ...     load_dataset("iris", noise=0.1)
        ... except DatasetError as err:
        ...     print(err)
        Unknown option 'noise' for dataset 'iris'; allowed: none.
    """


@dataclass(eq=False)
class DatasetSplits:
    """Train / validation / test tensors of one dataset, ready for training on one device.

    ``x_*`` are float32 ``(n, n_features)`` (flat, also for image-like data, whose shape is
    ``input_shape``). ``y_*`` are int64 class indices for classification and float32 targets for
    regression, standardized with the train split's ``target_mean`` / ``target_std``.
    ``*_rows`` are the positions of each split's rows in the source data (numpy, host side).

    Example:
        >>> from dynsearch.data import load_dataset
        >>> splits = load_dataset("digits")
        >>> splits.input_shape, splits.n_outputs, splits.x_train.dtype
        ((1, 8, 8), 10, torch.float32)
    """

    name: str
    task: str
    n_features: int
    n_outputs: int
    input_shape: tuple[int, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    feature_names: list[str]
    class_names: list[str] = field(default_factory=list)
    target_mean: float = 0.0
    target_std: float = 1.0
    train_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    val_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    test_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    source: str = ""  # where a real dataset comes from (a package and its table); "" when not recorded

    @property
    def device(self) -> torch.device:
        """The device all tensors live on."""
        return self.x_train.device

    def to(self, device: str | torch.device) -> DatasetSplits:
        """A copy with every tensor moved to ``device`` (once, so batches need no transfer).

        Example:
            >>> from dynsearch.data import load_dataset
            >>> load_dataset("iris").to("cpu").device.type
            'cpu'
        """
        moved = {
            key: getattr(self, key).to(device)
            for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        }
        return replace(self, **moved)

    def __repr__(self) -> str:
        sizes = f"train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}"
        return (
            f"DatasetSplits(name={self.name!r}, task={self.task!r}, n_features={self.n_features}, "
            f"n_outputs={self.n_outputs}, input_shape={self.input_shape}, {sizes}, device={self.device})"
        )


@dataclass
class RawDataset:
    """A dataset before splitting: targets, plus how to build features once train rows are known.

    ``features(train_rows)`` returns the full ``(n, d)`` float matrix and its column names; an
    encoder that learns from data (one-hot categories, medians) must fit on ``train_rows`` only.
    """

    name: str
    task: str
    y: np.ndarray  # int64 class codes or float64 targets, one per row
    features: Callable[[np.ndarray], tuple[np.ndarray, list[str]]]
    class_names: list[str] = field(default_factory=list)
    input_shape: tuple[int, ...] | None = None  # None: flat (n_features,)
    source: str = ""  # where a real dataset comes from (a package and its table); "" when not recorded


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Reject fractions outside (0, 1) or summing to 1 or more."""
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 < float(value) < 1.0:
            raise DatasetError(f"{key}={value!r} is not allowed; it must be a number in (0, 1).")
    if val_fraction + test_fraction >= 1.0:
        raise DatasetError(
            f"val_fraction={val_fraction!r} + test_fraction={test_fraction!r} must be below 1 to leave rows for training."
        )


def check_split_seed(split_seed: int) -> None:
    """Reject split seeds scikit-learn cannot use as a random_state."""
    if not SEED.accepts(split_seed):
        raise DatasetError(f"split_seed={split_seed!r} is not allowed; it must be {SEED}.")


def _can_stratify(labels: np.ndarray, n_held: int) -> bool:
    # The same conditions under which scikit-learn's stratified split raises: every class needs two
    # rows and each side one row per class. We fall back to a plain shuffle split then (no error),
    # since tiny classes in small CSV files are legitimate data, not a user mistake.
    _, counts = np.unique(labels, return_counts=True)
    return bool(counts.min() >= 2 and min(n_held, len(labels) - n_held) >= len(counts))


def split_rows(
    raw: RawDataset, *, split_seed: int, val_fraction: float, test_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions of train, val and test; the test rows are drawn first, from ``split_seed`` alone.

    Sizes are ``ceil(fraction * n)`` of all rows for test and val, so the test rows do not depend
    on ``val_fraction`` (nor on any training seed). Classification splits are stratified.
    """
    n = len(raw.y)
    n_test = math.ceil(test_fraction * n)
    n_val = math.ceil(val_fraction * n)
    if n - n_test - n_val < 1:
        raise DatasetError(
            f"Dataset {raw.name!r} has {n} row(s), too few for val_fraction={val_fraction} and "
            f"test_fraction={test_fraction}; every split needs at least one row."
        )
    classify = raw.task == "classification"
    rows = np.arange(n, dtype=np.int64)
    stratify = raw.y if classify and _can_stratify(raw.y, n_test) else None
    # Imported here: a search worker that reads cached splits never loads scikit-learn.
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(rows, test_size=n_test, random_state=split_seed, stratify=stratify)
    stratify = raw.y[rest] if classify and _can_stratify(raw.y[rest], n_val) else None
    train, val = train_test_split(rest, test_size=n_val, random_state=split_seed, stratify=stratify)
    return train, val, test


def _tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(dtype)


def assemble(
    raw: RawDataset,
    *,
    split_seed: int,
    val_fraction: float,
    test_fraction: float,
    device: str | torch.device,
) -> DatasetSplits:
    """Split, build features, standardize on the train split only and move to ``device``."""
    train, val, test = split_rows(raw, split_seed=split_seed, val_fraction=val_fraction, test_fraction=test_fraction)
    x, feature_names = raw.features(train)
    if x.shape[1] == 0:
        raise DatasetError(f"Dataset {raw.name!r} has no usable feature values in its train rows.")
    # scikit-learn loads on first use: a search worker that does not need it never imports it
    from sklearn.preprocessing import StandardScaler

    # StandardScaler maps constant columns to 0 (scale 1), never NaN.
    scaler = StandardScaler().fit(x[train])
    xs = [scaler.transform(x[rows]) for rows in (train, val, test)]
    if raw.task == "classification":
        ys = [_tensor(raw.y[rows], torch.int64) for rows in (train, val, test)]
        n_outputs, target_mean, target_std = len(raw.class_names), 0.0, 1.0
    else:
        target_mean = float(raw.y[train].mean())
        target_std = float(raw.y[train].std())
        if not target_std > 1e-12:
            target_std = 1.0  # a constant training target: centre it, don't divide by zero
        ys = [_tensor((raw.y[rows] - target_mean) / target_std, torch.float32) for rows in (train, val, test)]
        n_outputs = 1
    n_features = x.shape[1]
    splits = DatasetSplits(
        name=raw.name,
        task=raw.task,
        n_features=n_features,
        n_outputs=n_outputs,
        input_shape=raw.input_shape or (n_features,),
        x_train=_tensor(xs[0], torch.float32),
        y_train=ys[0],
        x_val=_tensor(xs[1], torch.float32),
        y_val=ys[1],
        x_test=_tensor(xs[2], torch.float32),
        y_test=ys[2],
        feature_names=list(feature_names),
        class_names=list(raw.class_names),
        target_mean=target_mean,
        target_std=target_std,
        train_rows=train,
        val_rows=val,
        test_rows=test,
        source=raw.source,
    )
    return splits if torch.device(device).type == "cpu" else splits.to(device)


def iter_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(xb, yb)`` slices of one permutation of on-device tensors; the last batch may be short.

    One gather per epoch, then views: no DataLoader, no host transfer. A seeded ``generator``
    makes the order reproducible; it may live on the CPU while the data lives on a GPU.

    Example:
        >>> import torch
        >>> x, y = torch.arange(10.0).reshape(5, 2), torch.arange(5)
        >>> [len(yb) for _, yb in iter_batches(x, y, 2, generator=torch.Generator().manual_seed(0))]
        [2, 2, 1]
    """
    check(batch_size, Integer(1), "batch_size")
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x and y must have the same number of rows, got {n} and {y.shape[0]}.")
    if shuffle:
        perm_device = generator.device if generator is not None else x.device
        perm = torch.randperm(n, generator=generator, device=perm_device).to(x.device)
        x, y = x[perm], y[perm]
    for start in range(0, n, batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]
