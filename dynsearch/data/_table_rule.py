"""The rule that makes a real table a dataset of the ``real-tables`` suite, or says why not.

One table at a time, deterministic, no randomness:

1. the target is the table's last column (the row names, the CSV's first column, are never data);
2. feature columns with more than 10 % missing values are dropped, then every row with a missing value;
3. 150 to 10 000 rows remain;
4. the target is clean: **classification** when it is text, boolean or integer-valued with 2–20 distinct values,
   each class with at least 10 rows; **regression** when it is numeric with at least 20 distinct values and is not
   an integer column of 20 values or fewer; anything else leaves the table out;
5. identifier features are dropped: a column named like an identifier (``id``, ``obs``, ``subject``, …), a text
   or integer column whose value differs in every row (row ids, dates as ids, names), a constant column, and a text
   column of more than 10 values (free text, dates); the other text columns are one-hot encoded over their
   sorted values, numeric columns stay as they are; at least one feature remains;
6. the table's content hash (shape, features and target as encoded) differs from every table before it
   (``_real_tables.select_members`` keeps the first, in (package, table) order, and also leaves out the tables the
   ``real`` suite holds: R's ``iris``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RULE", "PreparedTable", "prepare_table", "content_hash"]


@dataclass(frozen=True)
class Rule:
    """The rule's numbers, in one place so that the docs, the tests and the code say the same."""

    min_rows: int = 150
    max_rows: int = 10_000  # larger tables would dominate a study's run time
    max_missing_share: float = 0.1
    max_classes: int = 20
    min_class_rows: int = 10
    min_distinct: int = 20  # a regression target with fewer values is a coarse label, not a quantity
    max_levels: int = 10  # text features with more values are free text or dates, not categories
    id_names: frozenset[str] = frozenset(
        {"id", "ids", "obs", "observation", "subject", "subj", "case", "caseid", "row", "rownames", "index", "name"}
    )


RULE = Rule()


@dataclass(frozen=True)
class PreparedTable:
    """A table that passed the rule: the task, features as numbers and the target as numbers."""

    task: str
    x: np.ndarray  # float64 (rows, features)
    feature_names: list[str]
    y: np.ndarray  # int64 class codes or float64 values
    class_names: list[str]
    dropped: list[str]  # feature columns the rule left out (identifiers, free text, too many missing)


def _is_numeric(series: pd.Series) -> bool:
    # pandas loads on first use: a search worker on cached splits never imports it
    from pandas.api import types as ptypes

    return ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype)


def _integer_valued(series: pd.Series) -> bool:
    values = series.to_numpy(dtype=np.float64)
    return bool(np.all(values == np.round(values)))


def target_task(column: pd.Series, rule: Rule = RULE) -> tuple[str | None, str]:
    """``(task, "")`` for a clean target, else ``(None, why)``."""
    distinct = int(column.nunique())
    if _is_numeric(column) and not (_integer_valued(column) and distinct <= rule.max_classes):
        if distinct >= rule.min_distinct:
            return "regression", ""
        return None, f"numeric target with {distinct} distinct values (regression needs {rule.min_distinct})"
    if not 2 <= distinct <= rule.max_classes:
        return None, f"target with {distinct} classes (2–{rule.max_classes} allowed)"
    smallest = int(column.astype(str).value_counts().min())
    if smallest < rule.min_class_rows:
        return None, f"a class with {smallest} rows (at least {rule.min_class_rows} each)"
    return "classification", ""


def _is_identifier(name: str, series: pd.Series, rule: Rule) -> bool:
    if name.strip().lower() in rule.id_names:
        return True
    unique_per_row = int(series.nunique()) == len(series)
    return unique_per_row and (not _is_numeric(series) or _integer_valued(series))


def _feature_columns(frame: pd.DataFrame, target: str, rule: Rule) -> tuple[list[str], list[str]]:
    """The kept feature columns and the dropped ones, in the table's column order."""
    kept: list[str] = []
    dropped: list[str] = []
    for name in frame.columns:
        if name == target:
            continue
        series = frame[name]
        useless = int(series.nunique()) <= 1 or _is_identifier(name, series, rule)
        free_text = not _is_numeric(series) and int(series.nunique()) > rule.max_levels
        (dropped if useless or free_text else kept).append(name)
    return kept, dropped


def _encode_features(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    blocks, names = [], []
    for name in frame.columns:
        series = frame[name]
        if _is_numeric(series):
            blocks.append(series.to_numpy(dtype=np.float64)[:, None])
            names.append(name)
            continue
        text = series.astype(str).to_numpy(dtype=object)
        levels = sorted(set(text.tolist()))
        blocks.append(np.stack([(text == level).astype(np.float64) for level in levels], axis=1))
        names += [f"{name}={level}" for level in levels]
    return np.concatenate(blocks, axis=1), names


def _encode_target(column: pd.Series, task: str) -> tuple[np.ndarray, list[str]]:
    if task == "regression":
        return column.to_numpy(dtype=np.float64), []
    if _is_numeric(column):
        classes, codes = np.unique(column.to_numpy(dtype=np.float64), return_inverse=True)
        return codes.astype(np.int64), [str(int(c)) for c in classes]
    classes, codes = np.unique(column.astype(str).to_numpy(dtype=object), return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in classes]


def prepare_table(frame: pd.DataFrame, rule: Rule = RULE) -> PreparedTable | str:
    """The table as a dataset under the rule, or why the rule leaves it out (a short phrase).

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"id": range(200), "x": [i % 7 for i in range(200)], "y": ["a", "b"] * 100})
        >>> table = prepare_table(frame)
        >>> table.task, table.feature_names, table.dropped, table.class_names
        ('classification', ['x'], ['id'], ['a', 'b'])
        >>> prepare_table(frame.head(100))
        '100 rows (150–10000 allowed)'
    """
    frame = frame.rename(columns=str)
    if frame.shape[1] < 2 or len(set(frame.columns)) != frame.shape[1]:
        return "fewer than two columns or repeated column names"
    target = frame.columns[-1]
    too_sparse = [c for c in frame.columns[:-1] if frame[c].isna().mean() > rule.max_missing_share]
    frame = frame.drop(columns=too_sparse).dropna().reset_index(drop=True)
    if not rule.min_rows <= len(frame) <= rule.max_rows:
        return f"{len(frame)} rows ({rule.min_rows}–{rule.max_rows} allowed)"
    task, why = target_task(frame[target], rule)
    if task is None:
        return why
    kept, dropped = _feature_columns(frame, target, rule)
    if not kept:
        return "no feature column left"
    x, names = _encode_features(frame[kept])
    y, classes = _encode_target(frame[target], task)
    return PreparedTable(task, x, names, y, classes, too_sparse + dropped)


def content_hash(table: PreparedTable) -> str:
    """SHA-256 of the encoded table (shape, features, target): equal tables give equal hashes.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"x": [i % 13 / 2 for i in range(150)], "y": [i % 2 for i in range(150)]})
        >>> content_hash(prepare_table(frame)) == content_hash(prepare_table(frame.copy()))
        True
    """
    digest = hashlib.sha256()
    digest.update(f"{table.task}:{table.x.shape}".encode())
    digest.update(np.ascontiguousarray(table.x, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(table.y).tobytes())
    return digest.hexdigest()
