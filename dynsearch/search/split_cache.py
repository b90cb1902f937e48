"""Dataset splits prepared once by ``dynsearch run`` and read by its workers.

Every worker would otherwise import scikit-learn (and pandas for files) and split every dataset
again, which is most of a worker's start-up. The supervisor writes each (dataset, split seed) the
study uses as plain tensors into a temporary folder it removes at the end, and hands the folder to
its workers in ``DYNSEARCH_SPLIT_CACHE``; they load it with ``torch.load(weights_only=True)``. A
standalone ``dynsearch worker`` (or a split that could not be written) loads the dataset itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..config import DatasetSpec, StudySpec

__all__ = ["CACHE_ENV", "cache_file", "write_split_cache", "read_cached_splits"]

CACHE_ENV = "DYNSEARCH_SPLIT_CACHE"


def cache_file(folder: str | Path, dataset: DatasetSpec, split_seed: int) -> Path:
    """The file of one dataset (name and options) under one split seed."""
    key = json.dumps([dataset.name, dataset.options, split_seed], sort_keys=True, default=str)
    return Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"


def write_split_cache(spec: StudySpec, folder: str | Path) -> int:
    """Write every split the study's replicates train on; returns how many were written.

    A dataset that fails to load is skipped: the workers load it themselves and fail its trials
    with the reason.
    """
    # the data loaders (scikit-learn, pandas) load only when a split is not cached yet
    from ..data import load_dataset

    written = 0
    seeds = sorted({spec.replicate_split_seed(r) for r in range(spec.replicates)} | {spec.split_seed})
    for dataset in spec.datasets:
        for seed in seeds:
            try:
                splits = load_dataset(dataset.name, split_seed=seed, **dict(dataset.options))
            except Exception:  # noqa: BLE001 - reported per trial by the workers, with the reason
                continue
            state = {f.name: _storable(getattr(splits, f.name)) for f in dataclasses.fields(splits)}
            path = cache_file(folder, dataset, seed)
            torch.save(state, path.with_suffix(".tmp"))
            os.replace(path.with_suffix(".tmp"), path)
            written += 1
    return written


def _storable(value: object) -> object:
    # numpy arrays (the split's row positions) travel as tensors: torch.load(weights_only=True) reads those.
    return ("numpy", torch.from_numpy(np.ascontiguousarray(value))) if isinstance(value, np.ndarray) else value


def read_cached_splits(
    folder: str | Path | None, dataset: DatasetSpec, split_seed: int, device: torch.device
) -> object | None:
    """The cached ``DatasetSplits`` on ``device``, or None when there is no cache or no such file."""
    if not folder:
        return None
    path = cache_file(folder, dataset, split_seed)
    if not path.is_file():
        return None
    # the data loaders (scikit-learn, pandas) load only when a split is not cached yet
    from ..data import DatasetSplits

    state = torch.load(path, map_location=device, weights_only=True)
    values = {}
    for name, value in state.items():
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "numpy":
            value = value[1].cpu().numpy()
        elif name == "input_shape":
            value = tuple(value)
        values[name] = value
    return DatasetSplits(**values)
