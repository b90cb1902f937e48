"""CSV and Parquet files as datasets: target selection, task inference, encoding fitted on train rows."""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from ._core import TASKS, DatasetError, RawDataset

__all__ = ["parse_file_name", "load_table", "resolve_file_name", "FILE_OPTIONS"]

_PREFIXES = ("csv", "parquet")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_OPTIONS = ("target", "task", "missing")
FILE_OPTIONS = _OPTIONS  # what a file dataset (and its sidecar) may set
_MISSING = ("impute", "reject")
_MAX_CLASS_VALUES = 20  # auto task: an integer-valued target with at most this many values is a label


def parse_file_name(name: str) -> tuple[str, Path] | None:
    """``(format, path)`` for ``csv:PATH`` / ``parquet:PATH`` (a .parquet/.pq path is Parquet either way), else None."""
    prefix, sep, rest = name.partition(":")
    if not sep or prefix.strip().lower() not in _PREFIXES:
        return None
    path = Path(rest.strip()).expanduser()
    if not rest.strip():
        raise DatasetError(f"Dataset name {name!r} has no path after the prefix; use e.g. 'csv:data/train.csv'.")
    is_parquet = prefix.strip().lower() == "parquet" or path.suffix.lower() in _PARQUET_SUFFIXES
    return ("parquet" if is_parquet else "csv"), path


def resolve_file_name(name: str, base_dir: str | Path) -> str:
    """``csv:PATH`` with a relative PATH made absolute from ``base_dir``; any other name unchanged.

    A study file's data files are found next to it, whatever the current directory.

    Example:
        >>> resolve_file_name("csv:data/iris.csv", "/studies")
        'csv:/studies/data/iris.csv'
        >>> resolve_file_name("csv:/abs/x.csv", "/studies"), resolve_file_name("iris", "/studies")
        ('csv:/abs/x.csv', 'iris')
    """
    prefix, sep, rest = name.partition(":")
    if not sep or prefix.strip().lower() not in _PREFIXES or not rest.strip():
        return name
    path = Path(rest.strip()).expanduser()
    if path.is_absolute():
        return name
    return f"{prefix}:{Path(os.path.abspath(Path(base_dir) / path))}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@lru_cache(maxsize=16)
def _read(path: str, fmt: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """Parse a file once per (path, mtime, size): the search reloads the dataset every trial.

    The returned frame is shared; callers must not modify it in place.
    """
    import pandas as pd  # on first use: a search worker that reads cached splits never loads pandas

    try:
        if fmt == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"Dataset file {path!r} has no header and no rows; expected a header row and data rows.") from None
    except Exception as exc:  # parsers raise many types (ParserError, ArrowInvalid, UnicodeDecodeError…)
        raise DatasetError(f"Could not parse {path!r} as {fmt}: {_first_line(exc)}") from exc


def _read_table(fmt: str, path: Path) -> pd.DataFrame:
    path = Path(os.path.abspath(path))  # messages show the full path that was tried
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise DatasetError(f"Dataset file {str(path)!r} {what}; give the path of a .csv or .parquet file.")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise DatasetError(f"Reading {str(path)!r} needs pyarrow; install it with: pip install 'dynsearch[parquet]'.")
    stat = path.stat()
    if stat.st_size == 0:
        raise DatasetError(f"Dataset file {str(path)!r} is empty; expected a header row and data rows.")
    return _read(str(path.resolve()), fmt, stat.st_mtime_ns, stat.st_size)


def _is_numeric(series: pd.Series) -> bool:
    # pandas loads on first use: a search worker that does not need it never imports it
    from pandas.api import types as ptypes

    return ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype)


def _check_options(display: str, options: dict[str, Any]) -> tuple[str | None, str, str]:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise DatasetError(f"Unknown option {unknown[0]!r} for dataset {display!r}; allowed: {', '.join(_OPTIONS)}.")
    target = options.get("target")
    task = options.get("task", "auto")
    missing = options.get("missing", "impute")
    if target is not None and not isinstance(target, str):
        raise DatasetError(f"Option target={target!r} for dataset {display!r} must be a column name (a string).")
    if task not in ("auto", *TASKS):
        raise DatasetError(
            f"Option task={task!r} for dataset {display!r} is not allowed; use 'auto', 'classification' or 'regression'."
        )
    if missing not in _MISSING:
        raise DatasetError(
            f"Option missing={missing!r} for dataset {display!r} is not allowed; use 'impute' or 'reject'."
        )
    return target, task, missing


def _infer_task(column: pd.Series) -> str:
    # Labels: any non-numeric target, or integer values with few distinct values (e.g. 0/1/2 codes).
    # An integer column with many values (counts, prices) is treated as regression.
    if not _is_numeric(column):
        return "classification"
    values = column.to_numpy(dtype=np.float64)
    integer_valued = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    return "classification" if integer_valued and column.nunique() <= _MAX_CLASS_VALUES else "regression"


def _encode_target(column: pd.Series, task: str, display: str) -> tuple[np.ndarray, list[str]]:
    name = column.name
    if _is_numeric(column):
        values = column.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise DatasetError(f"Target column {name!r} of {display!r} has non-finite values (inf); remove those rows.")
        if task == "regression":
            return values, []
        classes, codes = np.unique(values, return_inverse=True)
        names = [str(int(c)) if float(c).is_integer() else repr(float(c)) for c in classes]
    elif task == "regression":
        raise DatasetError(
            f"Target column {name!r} of {display!r} is not numeric (dtype {column.dtype}); "
            "regression needs numbers, use task='classification'."
        )
    else:
        # Sorted string order, so the class codes are the same for every split seed and file order.
        classes, codes = np.unique(column.astype(str).to_numpy(dtype=object), return_inverse=True)
        names = [str(c) for c in classes]
    if len(classes) < 2:
        raise DatasetError(
            f"Target column {name!r} of {display!r} has a single class {names[0]!r}; classification needs at least two."
        )
    return codes.astype(np.int64), names


def _check_finite(series: pd.Series, display: str) -> np.ndarray:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise DatasetError(f"Column {series.name!r} of {display!r} has infinite values; only finite numbers are allowed.")
    return values


def _as_text(series: pd.Series) -> np.ndarray:
    """Category labels as strings; missing values stay None (the encoder leaves them all-zero)."""
    text = series.astype(str).to_numpy(dtype=object)
    text[series.isna().to_numpy()] = None
    return text


def _feature_builder(frame: pd.DataFrame, display: str) -> Callable[[np.ndarray], tuple[np.ndarray, list[str]]]:
    """Features fitted on the train rows only: numeric columns median-imputed, the others one-hot encoded.

    A numeric column missing in every train row becomes 0; a category not seen in the train rows, or a
    missing one, encodes as all zeros. Output columns follow the file's column order.
    """
    # pandas, scikit-learn loads on first use: a search worker that does not need it never imports it
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    numeric = [c for c in frame.columns if _is_numeric(frame[c])]
    categorical = [c for c in frame.columns if c not in set(numeric)]
    table = pd.DataFrame(
        {c: _check_finite(frame[c], display) if c in numeric else _as_text(frame[c]) for c in frame.columns}
    )

    def build(train_rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        train = table.iloc[train_rows]
        seen = [sorted(set(train[c].dropna())) for c in categorical]
        encoder = ColumnTransformer([
            ("numeric", SimpleImputer(strategy="median", keep_empty_features=True), numeric),
            ("categorical", OneHotEncoder(categories=seen, handle_unknown="ignore", sparse_output=False,
                                          dtype=np.float64), categorical),
        ], sparse_threshold=0.0).fit(train)
        # The transformer outputs the numeric block, then the categorical one: put columns back in file order.
        names_of = {c: [str(c)] for c in numeric} | {c: [f"{c}={v}" for v in vs] for c, vs in zip(categorical, seen)}
        start, columns_at = 0, {}
        for c in numeric + categorical:
            columns_at[c] = list(range(start, start + len(names_of[c])))
            start += len(names_of[c])
        order = [i for c in frame.columns for i in columns_at[c]]
        x = np.asarray(encoder.transform(table), dtype=np.float64)
        return x[:, order], [name for c in frame.columns for name in names_of[c]]

    return build


def load_table(display: str, fmt: str, path: Path, options: dict[str, Any]) -> RawDataset:
    """The unsplit dataset of a CSV / Parquet file; every problem raises a one-line DatasetError."""
    target, task, missing = _check_options(display, options)
    path = Path(os.path.abspath(path))
    frame = _read_table(fmt, path)
    frame = frame.rename(columns=str)  # a new frame: the cached one stays untouched
    if frame.shape[1] == 0:
        raise DatasetError(f"Dataset file {str(path)!r} has no columns; expected a header row and data rows.")
    if len(frame) == 0:
        raise DatasetError(f"Dataset file {str(path)!r} has a header but no data rows.")
    target = frame.columns[-1] if target is None else target
    if target not in frame.columns:
        raise DatasetError(
            f"Target column {target!r} not found in {display!r}; columns: {', '.join(map(repr, frame.columns))}."
        )
    if frame.shape[1] < 2:
        raise DatasetError(f"Dataset {display!r} has no feature columns besides the target {target!r}.")
    missing_counts = frame.isna().sum()
    missing_counts = missing_counts[missing_counts > 0]
    if missing == "reject" and len(missing_counts):
        listed = ", ".join(f"{col!r} ({n})" for col, n in missing_counts.items())
        raise DatasetError(
            f"Dataset {display!r} has missing values in column(s) {listed}; missing='reject' allows none, "
            "use missing='impute'."
        )
    # A target cannot be imputed: rows without one are dropped.
    frame = frame.loc[frame[target].notna()].reset_index(drop=True)
    if len(frame) == 0:
        raise DatasetError(f"Target column {target!r} of {display!r} has no values.")
    task = _infer_task(frame[target]) if task == "auto" else task
    y, class_names = _encode_target(frame[target], task, display)
    features = frame.drop(columns=[target])
    return RawDataset(
        name=display,
        task=task,
        y=y,
        features=_feature_builder(features, display),
        class_names=class_names,
    )
