"""The ``datasets`` entry of a study file: built-in names, ``csv:``/``parquet:`` files, option tables,
suites and globs, each listed once."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from ..data import SuiteError, dataset_names, expand_dataset_entry, is_real_table, is_suite_member
from ..loaders import LoaderError, is_loader, resolve_loader
from ._errors import Checker, got, join_key, show, suggest
from ._spec import DatasetSpec

__all__ = ["parse_datasets", "MISSING", "FILE_PREFIXES"]

FILE_PREFIXES = ("csv", "parquet")

# What ``parse_datasets`` gets when the study file has no ``datasets``.
MISSING = object()


def _dataset_name(c: Checker, key: str, value: Any) -> str:
    name = c.string(key, value)
    prefix, sep, rest = name.partition(":")
    if sep and prefix.strip().lower() in FILE_PREFIXES:
        if not rest.strip():
            raise c.fail(key, f"no path after {prefix.strip().lower()}:, got {show(name)}; e.g. \"csv:data/train.csv\"")
        return f"{prefix.strip().lower()}:{rest.strip()}"
    if is_loader(name.strip()):
        try:
            resolve_loader(name.strip())  # importable and callable now, before anything runs
        except LoaderError as exc:
            raise c.fail(key, str(exc)) from None
        return name.strip()
    canonical = name.strip().lower().replace("-", "_")
    builtins = dataset_names()
    if canonical in builtins or is_suite_member(canonical) or is_real_table(canonical):
        return canonical
    raise c.fail(
        key,
        f"unknown dataset {show(name)}{suggest(canonical, builtins)}; allowed: {', '.join(builtins)}, "
        '"csv:PATH" or "parquet:PATH"',
    )


def parse_datasets(c: Checker, value: Any) -> tuple[DatasetSpec, ...]:
    example = 'e.g. datasets = ["iris", {name = "moons", noise = 0.2}]'
    if value is MISSING:
        raise c.fail("datasets", f"missing; list at least one dataset, {example}")
    if not isinstance(value, (list, tuple)):
        raise c.fail("datasets", f"expected an array of dataset names or tables, {got(value)}; {example}")
    if not value:
        raise c.fail("datasets", f"expected at least one dataset, got []; {example}")
    out: list[DatasetSpec] = []
    for i, item in enumerate(value):
        key = join_key("datasets", i)
        expanded = _suite_or_glob(c, key, item)
        if expanded is not None:
            for spec in expanded:
                if spec in out:
                    raise c.fail(key, f"dataset {spec.label} is listed twice; the objective would count it double")
                out.append(spec)
            continue
        if isinstance(item, str):
            spec = DatasetSpec(_dataset_name(c, key, item), {})
        elif isinstance(item, Mapping):
            if "name" not in item:
                raise c.fail(key, f"a dataset table needs a name, {got(dict(item))}; e.g. {{name = \"moons\", noise = 0.2}}")
            name = _dataset_name(c, join_key(key, "name"), item["name"])
            options: dict[str, Any] = {}
            for opt, v in item.items():
                if opt == "name":
                    continue
                if isinstance(v, float) and not math.isfinite(v):
                    raise c.fail(join_key(key, opt), f"expected a finite number, got {show(v)}")
                if not isinstance(v, (str, int, float, bool)):
                    raise c.fail(join_key(key, opt), f"a dataset option must be a string, number or boolean, {got(v)}")
                options[str(opt)] = v
            spec = DatasetSpec(name, options)
        else:
            raise c.fail(key, f"expected a dataset name or a table like {{name = \"moons\", noise = 0.2}}, {got(item)}")
        if spec in out:
            raise c.fail(key, f"dataset {spec.label} is listed twice; the objective would count it double")
        out.append(spec)
    return tuple(out)


def _suite_or_glob(c: Checker, key: str, item: Any) -> list[DatasetSpec] | None:
    """The datasets of a suite (``{suite = "synthetic", n = 30}``) or a glob (``"csv:data/*.csv"``), else None.

    A relative glob is read from the study file's folder."""
    try:
        entries = expand_dataset_entry(item, base_dir=Path(c.path).parent)
    except SuiteError as err:
        raise c.fail(join_key(key, err.key) if err.key else key, err.message) from None
    return None if entries is None else [DatasetSpec(name, options) for name, options in entries]
