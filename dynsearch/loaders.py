"""Dataset loaders: a user's function that returns train / validation / test data, named like a dataset.

A study lists one as ``datasets = ["my_pkg.data:load_mnist_subset"]`` (options in a table, as for the
built-ins: ``{ name = "my_pkg.data:load_mnist_subset", n = 500 }``) or by a name given to
``register_loader``. The loader is called with the options (and ``split_seed`` when it takes one) and
returns a ``LoadedData`` or a dict with the same keys; ``torch.utils.data.Dataset`` splits are read into
tensors. The result is a ``DatasetSplits`` like any built-in dataset: cached for the workers, described
in the report with its size and task. Features arrive flat, ``(n, prod(input_shape))``, as for the
built-in image data; a model reshapes them with ``input_shape``.

Example:
    >>> import torch
    >>> @register_loader("blobs")
    ... def blobs(n=60):
    ...     x, y = torch.randn(n, 2), torch.arange(n) % 2
    ...     return LoadedData(x[:40], y[:40], x[40:50], y[40:50], x[50:], y[50:])
    >>> from dynsearch.data import load_dataset
    >>> load_dataset("blobs").task
    'classification'
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

import numpy as np
import torch

from .data._core import DatasetError, DatasetSplits
from .plugins import resolve_callable

__all__ = ["LoadedData", "LoaderError", "register_loader", "loader_names", "is_loader", "load_user_dataset"]

F = TypeVar("F", bound=Callable[..., Any])
_LOADERS: dict[str, Callable[..., Any]] = {}
SPLITS = ("train", "val", "test")
FILE_PREFIXES = ("csv", "parquet")


class LoaderError(DatasetError):
    """A loader that cannot be found, raises, or returns data that cannot be used; one line."""


@dataclass
class LoadedData:
    """What a loader returns: three splits (tensors, arrays or ``Dataset``s) and, if it can say, the task.

    ``task`` None is told from ``y_train``: integers are classes, non-whole floats are regression targets.
    """

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any
    task: str | None = None
    class_names: list[str] = field(default_factory=list)
    input_shape: tuple[int, ...] | None = None


def register_loader(name: str) -> Callable[[F], F]:
    """Register a dataset loader under ``name`` (a decorator), so a study can list ``datasets = [name]``."""

    def decorate(loader: F) -> F:
        _LOADERS[name] = loader
        return loader

    return decorate


def loader_names() -> list[str]:
    """The registered loader names."""
    return sorted(_LOADERS)


def is_loader(name: str) -> bool:
    """Whether a dataset name is a registered loader or a ``"module:function"`` reference (not a file)."""
    if name in _LOADERS:
        return True
    prefix, sep, rest = name.partition(":")
    return bool(sep and rest and prefix.strip().lower() not in FILE_PREFIXES and "/" not in prefix)


def resolve_loader(name: str) -> Callable[..., Any]:
    """The loader function ``name`` names; ``LoaderError`` when it cannot be imported or called."""
    if name in _LOADERS:
        return _LOADERS[name]
    try:
        return resolve_callable(name, "dataset loader")
    except ValueError as exc:
        raise LoaderError(str(exc)) from None


def _call(name: str, options: Mapping[str, Any], split_seed: int) -> Any:
    loader = resolve_loader(name)
    kwargs = dict(options)
    try:
        params = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    open_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "split_seed" in params:
        kwargs["split_seed"] = split_seed  # a loader that splits itself follows the study's split seed
    unknown = [k for k in options if params and not open_kw and k not in params]
    if unknown:
        raise LoaderError(f"dataset loader {name!r} does not accept {unknown[0]!r}; it accepts: "
                          f"{', '.join(k for k in params if k != 'split_seed') or 'no options'}")  # fmt: skip
    try:
        return loader(**kwargs)
    except Exception as exc:  # a user's loader: its error, in one line
        raise LoaderError(f"dataset loader {name!r} raised {type(exc).__name__}: {' '.join(str(exc).split())}") from None


def _as_loaded(name: str, value: Any) -> LoadedData:
    if isinstance(value, LoadedData):
        return value
    if isinstance(value, Mapping):
        keys = [f"{v}_{s}" for s in SPLITS for v in ("x", "y")]
        missing = [k for k in keys if value.get(k) is None]
        if missing:
            raise LoaderError(f"dataset loader {name!r} returned no {missing[0]!r} (a loader returns "
                              f"{', '.join(keys)} and optionally task)")  # fmt: skip
        extra = {k: value[k] for k in ("task", "class_names", "input_shape") if k in value}
        return LoadedData(*(value[k] for k in keys), **extra)
    raise LoaderError(f"dataset loader {name!r} returned {type(value).__name__}; expected a dynsearch.LoadedData "
                      "or a dict with x_train, y_train, x_val, y_val, x_test, y_test")  # fmt: skip


def _materialize(name: str, split: str, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as tensors; a ``Dataset`` (given as ``x``, with ``y`` None or given) is read item by item."""
    if isinstance(x, torch.utils.data.Dataset) and not isinstance(x, torch.Tensor):
        items = [x[i] for i in range(len(x))]  # type: ignore[arg-type]
        x = torch.stack([torch.as_tensor(item[0]) for item in items])
        y = torch.as_tensor(np.asarray([np.asarray(item[1]) for item in items]))
    if y is None:
        raise LoaderError(f"dataset loader {name!r}: the {split} split has no target (y_{split})")
    try:
        xt, yt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x), torch.as_tensor(
            np.asarray(y) if not isinstance(y, torch.Tensor) else y)  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - whatever the user returned
        raise LoaderError(f"dataset loader {name!r}: the {split} split is not numeric data ({exc})") from None
    if xt.dim() < 2 or yt.dim() != 1 or len(xt) != len(yt) or len(xt) == 0:
        raise LoaderError(f"dataset loader {name!r}: the {split} split has x of shape {tuple(xt.shape)} and y of "
                          f"shape {tuple(yt.shape)}; expected x (n, ...) and y (n,) with n >= 1")  # fmt: skip
    return xt, yt


def _task(name: str, data: LoadedData, y_train: torch.Tensor) -> str:
    if data.task is not None:
        if data.task not in ("classification", "regression"):
            raise LoaderError(f"dataset loader {name!r}: task {data.task!r}; expected 'classification' or 'regression'")
        return data.task
    if not y_train.dtype.is_floating_point and y_train.dtype != torch.bool:
        return "classification"
    if y_train.dtype.is_floating_point and not bool(torch.all(y_train == torch.round(y_train))):
        return "regression"
    raise LoaderError(f"dataset loader {name!r}: cannot tell the task from y_train ({y_train.dtype}, whole "
                      "numbers); return task='classification' or task='regression'")  # fmt: skip


def load_user_dataset(name: str, options: Mapping[str, Any], *, split_seed: int = 0,
                      device: str | torch.device = "cpu") -> DatasetSplits:  # fmt: skip
    """Call the loader ``name`` and return its data as ``DatasetSplits`` on ``device``."""
    data = _as_loaded(name, _call(name, options, split_seed))
    pairs = [_materialize(name, s, getattr(data, f"x_{s}"), getattr(data, f"y_{s}")) for s in SPLITS]
    task = _task(name, data, pairs[0][1])
    shape = tuple(int(v) for v in (data.input_shape or pairs[0][0].shape[1:]))
    n_features = math.prod(shape)
    xs, ys = [], []
    for split, (x, y) in zip(SPLITS, pairs):
        if math.prod(x.shape[1:]) != n_features:
            raise LoaderError(f"dataset loader {name!r}: x_{split} has {math.prod(x.shape[1:])} features per row, "
                              f"x_train {n_features}")  # fmt: skip
        xs.append(x.reshape(len(x), n_features).to(torch.float32).contiguous())
        ys.append(y.to(torch.int64 if task == "classification" else torch.float32).contiguous())
    n_outputs = 1
    if task == "classification":
        n_outputs = max(len(data.class_names), int(max(int(y.max()) for y in ys)) + 1)
        if int(min(int(y.min()) for y in ys)) < 0:
            raise LoaderError(f"dataset loader {name!r}: class labels must be 0 .. n_classes-1, got negative ones")
    splits = DatasetSplits(
        name=name, task=task, n_features=n_features, n_outputs=n_outputs, input_shape=shape,
        x_train=xs[0], y_train=ys[0], x_val=xs[1], y_val=ys[1], x_test=xs[2], y_test=ys[2],
        feature_names=[f"x{i}" for i in range(n_features)], class_names=list(data.class_names),
        train_rows=np.arange(len(ys[0])), val_rows=np.arange(len(ys[1])), test_rows=np.arange(len(ys[2])),
    )  # fmt: skip
    return splits if torch.device(device).type == "cpu" else splits.to(device)
