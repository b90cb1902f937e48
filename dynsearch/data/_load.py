"""``load_dataset``: one entry point for built-in and file datasets."""

from __future__ import annotations

from typing import Any

import torch

from ..loaders import is_loader, load_user_dataset
from ._builtin import builtin_names, load_builtin
from ._core import DatasetError, DatasetSplits, assemble, check_fractions, check_split_seed
from ._suites import SuiteError, sidecar_options
from ._tabular import load_table, parse_file_name

__all__ = ["dataset_names", "load_dataset"]


def dataset_names() -> list[str]:
    """Names of all built-in datasets (files are loaded as ``csv:PATH`` / ``parquet:PATH``).

    Example:
        >>> from dynsearch.data import dataset_names
        >>> "digits" in dataset_names()
        True
    """
    return builtin_names()


def load_dataset(
    name: str,
    *,
    split_seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    device: str | torch.device = "cpu",
    **options: Any,
) -> DatasetSplits:
    """Load, split (test first, stratified), standardize on train and move a dataset to ``device``.

    Args:
        name: A built-in name (see ``dataset_names()``), a synthetic suite member (``synthetic_07``),
            ``csv:PATH`` or ``parquet:PATH`` (target column from ``target``, else from a sidecar
            ``PATH.target`` / ``PATH.json`` beside the file, else the last column).
        split_seed: Seeds the splits; the test rows depend only on it, the data and ``test_fraction``.
        val_fraction: Share of all rows held out for validation.
        test_fraction: Share of all rows held out for the final test.
        device: Where the tensors are put.
        **options: Dataset options. Synthetic: ``n_samples``, ``noise``, ``seed`` and, per dataset,
            ``n_classes`` (spirals, classification), ``n_features`` (classification, friedman1),
            ``n_informative`` (classification). Suite members: ``suite_seed``. Files: ``target``,
            ``task``, ``missing``.

    Returns:
        The splits; the same arguments always give identical tensors.

    Raises:
        DatasetError: Unknown name or option, a bad value, or a file that cannot be used.

    Example:
        >>> from dynsearch.data import load_dataset
        >>> splits = load_dataset("moons", n_samples=200, noise=0.1, split_seed=1)
        >>> splits.x_train.shape, splits.n_outputs
        (torch.Size([120, 2]), 2)
    """
    check_fractions(val_fraction, test_fraction)
    check_split_seed(split_seed)
    if isinstance(name, str) and is_loader(name):  # a user's loader: it splits the data itself
        return load_user_dataset(name, options, split_seed=split_seed, device=device)
    file = parse_file_name(name) if isinstance(name, str) else None
    if file is not None:
        try:
            side = sidecar_options(file[1])  # options given here win over the file's sidecar
        except SuiteError as err:
            raise DatasetError(f"Dataset {name!r}: {err.message}.") from None
        raw = load_table(name, file[0], file[1], {**side, **options})
    else:
        raw = load_builtin(str(name), options)
    return assemble(
        raw, split_seed=split_seed, val_fraction=val_fraction, test_fraction=test_fraction, device=device
    )
