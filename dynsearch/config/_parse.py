"""Study files: TOML -> validated ``StudySpec``. Every problem is a one-line ``ConfigError``."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 with the tomli backport
    import tomli as tomllib  # type: ignore[no-redef]

from .._constraints import Integer
from ..data import resolve_file_name
from ..plugins import PluginError, load_plugins
from ._datasets import MISSING, parse_datasets
from ._errors import Checker, ConfigError, got, join_key, show, suggest
from ._own import parse_own
from ._sampling import parse_pruner, parse_sampler
from ._search import parse_search
from ._sections import HINTS, TOP_KEYS, elsewhere
from ._spec import DatasetSpec, StudySpec, install_parser
from ._training import parse_training

__all__ = ["load_study_file", "parse_study"]

FILE_KEY = "(file)"
NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")


def load_study_file(path: str | os.PathLike[str]) -> StudySpec:
    """Read and validate a TOML study file.

    Raises:
        ConfigError: a missing or unreadable file, malformed TOML (with the parser's line and column),
            or any invalid setting (see ``docs/study-file.md``).

    Example:
        >>> spec = load_study_file("studies/quickstart.toml")  # doctest: +SKIP
        >>> spec.arms[:2]  # doctest: +SKIP
        ['fixed-relu', 'fixed-tanh']
    """
    shown = os.fspath(path)
    p = Path(shown)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(shown, FILE_KEY, f"no such file ({p.absolute()}){_nearest_file(p)}") from None
    except IsADirectoryError:
        raise ConfigError(shown, FILE_KEY, "is a directory, expected a .toml study file") from None
    except OSError as exc:
        raise ConfigError(shown, FILE_KEY, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(shown, FILE_KEY, f"not valid UTF-8 text (byte {exc.start}); a study file is TOML") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(shown, FILE_KEY, f"malformed TOML: {exc}") from None
    spec = parse_study(data, shown)
    # Data files are named relative to the study file, not to wherever the command runs.
    datasets = tuple(DatasetSpec(resolve_file_name(d.name, p.parent), d.options) for d in spec.datasets)
    return dataclasses.replace(spec, datasets=datasets)


def _nearest_file(path: Path) -> str:
    """A close study file in the same folder, as a suggestion, when the named one does not exist."""
    folder = path.parent
    if not folder.is_dir():
        return ""
    return suggest(str(path), sorted(str(folder / f.name) for f in folder.glob("*.toml")))


def parse_study(data: Mapping[str, Any], path: str) -> StudySpec:
    """Validate an already-parsed study file (or ``StudySpec.to_dict()`` without ``path``).

    ``path`` names the source in messages and becomes ``StudySpec.path``; its stem is the default name.
    """
    path = str(path)
    c = Checker(path)
    if not isinstance(data, Mapping):
        raise c.fail(FILE_KEY, f"expected a table of settings at the top level, {got(data)}")
    c.known_keys("", data, TOP_KEYS, elsewhere(""), HINTS[""])

    plugins = _plugins(c, data.get("plugins", []))  # first: they register what the rest may name
    name = _name(c, data, path)
    description = c.string("description", data.get("description", ""), non_empty=False)
    datasets = parse_datasets(c, data.get("datasets", MISSING))
    train = parse_training(c, data.get("model", {}), data.get("training", {}))
    train, model_ranges = parse_own(c, data, train)
    search_table = data.get("search", {})
    if isinstance(search_table, Mapping):  # [search.model]: the factory's searched parameters, read by parse_own
        search_table = {k: v for k, v in search_table.items() if k != "model"}
    search = dataclasses.replace(parse_search(c, search_table, name), model=model_ranges)
    sampler = parse_sampler(c, data.get("sampler", {}))
    pruner = parse_pruner(c, data.get("pruner", {}), sampler)

    settings = _run_settings(c, data)
    _check_budget(c, settings["n_trials"], [a.label for a in search.arms])
    return StudySpec(
        name=name,
        path=path,
        description=description,
        datasets=datasets,
        train=train,
        search=search,
        sampler=sampler,
        pruner=pruner,
        plugins=plugins,
        **settings,
    )


def _run_settings(c: Checker, data: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level settings of how the study runs: budget, seeds, storage, workers, packing, margin."""
    n_trials = c.integer("n_trials", data.get("n_trials", 24), 1)
    timeout = data.get("timeout")
    if timeout is not None:
        timeout = c.number("timeout", timeout, positive=True)
    seeds = c.integer("seeds", data.get("seeds", 1), 1)
    split_seed = c.integer("split_seed", data.get("split_seed", 0), 0)
    storage = data.get("storage")
    if storage is not None:
        storage = c.string("storage", storage).strip()
    workers = _auto_or_count(c, "workers", data.get("workers", "auto"), "worker processes on this machine")
    replicates = c.integer("replicates", data.get("replicates", 1), 1)
    split_seeds = c.int_list("split_seeds", data.get("split_seeds", []), 0, non_empty=False)
    pack = _auto_or_count(c, "pack", data.get("pack", "auto"), "trials a worker trains together")
    equivalence_margin = c.number("equivalence_margin", data.get("equivalence_margin", 0.01), positive=True)
    return dict(
        n_trials=n_trials, timeout=timeout, seeds=seeds, split_seed=split_seed, storage=storage, workers=workers,
        replicates=replicates, split_seeds=split_seeds, pack=pack, equivalence_margin=equivalence_margin,
    )  # fmt: skip


def _check_budget(c: Checker, n_trials: int, arms: list[str]) -> None:
    if n_trials < len(arms):
        raise c.fail(
            "n_trials",
            f"got {n_trials}, but the search space has {len(arms)} arms ({', '.join(arms)}) and equal budgets "
            f"need at least one trial per arm; set n_trials >= {len(arms)} (a multiple of {len(arms)}, e.g. "
            f"{len(arms) * max(2, math.ceil(n_trials / len(arms)))}, gives every arm the same number of trials)",
        )


def _plugins(c: Checker, value: Any) -> tuple[str, ...]:
    """Import the study's plugin modules (after the installed entry-point plugins)."""
    items = c.array("plugins", value, "module names (strings)")
    names: list[str] = []
    for i, item in enumerate(items):
        module = c.string(join_key("plugins", i), item).strip()
        if module in names:
            raise c.fail(join_key("plugins", i), f"plugin {show(module)} is listed twice")
        names.append(module)
    try:
        load_plugins(())
    except PluginError as exc:
        raise c.fail("plugins", f"an installed plugin failed: {exc}") from None
    for i, module in enumerate(names):
        try:
            load_plugins([module])
        except PluginError as exc:
            raise c.fail(join_key("plugins", i), str(exc)) from None
    return tuple(names)


def _name(c: Checker, data: Mapping[str, Any], path: str) -> str:
    if "name" in data:
        name = c.string("name", data["name"])
        if not NAME_RE.fullmatch(name):
            raise c.fail("name", f"expected letters, digits, '_', '.' or '-' only (it names runs/ and reports/ "
                                 f"folders), got {show(name)}")  # fmt: skip
        return name
    stem = Path(path).stem
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem).strip("_")
    return name or "study"


def _auto_or_count(c: Checker, key: str, value: Any, what: str) -> str | int:
    if value == "auto" and isinstance(value, str):
        return "auto"
    if Integer(1).accepts(value):
        return int(value)
    raise c.fail(key, f'expected "auto" or {Integer(1)} ({what}), {got(value)}')


install_parser(parse_study)
