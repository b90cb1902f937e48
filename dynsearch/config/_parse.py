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
from ..activations import family_names, get_family
from ..data import SuiteError, dataset_names, expand_dataset_entry, is_suite_member, resolve_file_name
from ..plugins import PluginError, load_plugins
from ..train import MODEL_KINDS, OPTIMIZERS, TrainConfig
from ._errors import Checker, ConfigError, got, join_key, show, suggest
from ._spec import MODEL_KEYS as MODEL_FIELD_KEYS
from ._spec import (
    MULTI_OBJECTIVE_SAMPLERS,
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    TRAINING_KEYS,
    DatasetSpec,
    PrunerSpec,
    SamplerSpec,
    StudySpec,
    train_key,
)

__all__ = ["load_study_file", "parse_study"]

FILE_KEY = "(file)"
NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")
FILE_PREFIXES = ("csv", "parquet")

TOP_KEYS = (
    "name", "description", "plugins", "datasets", "n_trials", "timeout", "seeds", "split_seed", "storage",
    "workers", "replicates", "split_seeds", "pack", "equivalence_margin", "model", "training", "search", "sampler", "pruner",
)  # fmt: skip
MODEL_KEYS = tuple(MODEL_FIELD_KEYS.values())  # "kind", "hidden", …: defined once, in _spec
SEARCH_KEYS = ("strategies", "bases", "scopes", "signals", "reductions", "every", "warmup", "lr", "width")  # and each strategy's
SAMPLER_KEYS = ("name", "seed", "objectives")
PRUNER_KEYS = ("name", "n_startup_trials", "n_warmup_steps")

_SECTIONS = {"": TOP_KEYS, "model": MODEL_KEYS, "training": TRAINING_KEYS, "search": SEARCH_KEYS,
             "sampler": SAMPLER_KEYS, "pruner": PRUNER_KEYS}  # fmt: skip

# Known mistakes that difflib cannot guess.
_HINTS: dict[str, dict[str, str]] = {
    "": {
        "dataset": 'did you mean "datasets"? (an array, e.g. datasets = ["iris", "moons"])',
        "seed": 'set "seeds" for how many training seeds, "split_seed" for the data split, '
        '"sampler.seed" for the sampler',
        "trials": 'did you mean "n_trials"?',
    },
    "model": {"model": 'did you mean "kind"?', "type": 'did you mean "kind"?', "width": 'did you mean "hidden"? '
              '(to search a width, use "search.width")'},  # fmt: skip
    "training": {"seed": 'training seeds are 0 .. seeds-1; set the top-level "seeds" for how many'},
    "search": {"lam": 'did you mean "lambda"?', "strategy": 'did you mean "strategies"?',
               "base": 'did you mean "bases"?', "scope": 'did you mean "scopes"?', "signal": 'did you mean "signals"?', "reduction": 'did you mean "reductions"?'},
    "sampler": {"sampler": 'did you mean "name"?', "objective": 'did you mean "objectives"?'},
    "pruner": {"pruner": 'did you mean "name"?'},
}  # fmt: skip


def _elsewhere(section: str) -> dict[str, str]:
    """Keys of the other sections -> the section they belong to (first match wins)."""
    out: dict[str, str] = {}
    for other, keys in _SECTIONS.items():
        if other != section:
            for key in keys:
                out.setdefault(key, other)
    return out


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
    c.known_keys("", data, TOP_KEYS, _elsewhere(""), _HINTS[""])

    plugins = _plugins(c, data.get("plugins", []))  # first: they register what the rest may name
    name = _name(c, data, path)
    description = c.string("description", data.get("description", ""), non_empty=False)
    datasets = _datasets(c, data.get("datasets", _MISSING))
    train = _train(c, data.get("model", {}), data.get("training", {}))
    from ._search import parse_search

    search = parse_search(c, data.get("search", {}), name)
    sampler = _sampler(c, data.get("sampler", {}))
    pruner = _pruner(c, data.get("pruner", {}), sampler)

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


_MISSING = object()


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


# --- datasets --------------------------------------------------------------------------------


def _dataset_name(c: Checker, key: str, value: Any) -> str:
    name = c.string(key, value)
    prefix, sep, rest = name.partition(":")
    if sep and prefix.strip().lower() in FILE_PREFIXES:
        if not rest.strip():
            raise c.fail(key, f"no path after {prefix.strip().lower()}:, got {show(name)}; e.g. \"csv:data/train.csv\"")
        return f"{prefix.strip().lower()}:{rest.strip()}"
    canonical = name.strip().lower().replace("-", "_")
    builtins = dataset_names()
    if canonical in builtins or is_suite_member(canonical):
        return canonical
    raise c.fail(
        key,
        f"unknown dataset {show(name)}{suggest(canonical, builtins)}; allowed: {', '.join(builtins)}, "
        '"csv:PATH" or "parquet:PATH"',
    )


def _datasets(c: Checker, value: Any) -> tuple[DatasetSpec, ...]:
    example = 'e.g. datasets = ["iris", {name = "moons", noise = 0.2}]'
    if value is _MISSING:
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


# --- model and training -> TrainConfig -----------------------------------------------------


def _family(c: Checker, key: str, value: Any) -> str:
    name = c.string(key, value)
    try:
        return get_family(name).name
    except ValueError:
        names = family_names()
        raise c.fail(key, f"unknown activation family {show(name)}{suggest(name.lower(), names)}; "
                          f"allowed: {', '.join(names)}") from None  # fmt: skip


def _choice(c: Checker, key: str, value: Any, allowed: tuple[str, ...], what: str) -> str:
    name = c.string(key, value)
    if name not in allowed:
        raise c.fail(key, f"unknown {what} {show(name)}{suggest(name, allowed)}; allowed: {', '.join(allowed)}")
    return name


def _train(c: Checker, model: Any, training: Any) -> TrainConfig:
    model = c.table("model", model)
    training = c.table("training", training)
    c.known_keys("model", model, MODEL_KEYS, _elsewhere("model"), _HINTS["model"])
    c.known_keys("training", training, TRAINING_KEYS, _elsewhere("training"), _HINTS["training"])
    kw: dict[str, Any] = {}
    if "kind" in model:
        kw["model"] = _choice(c, "model.kind", model["kind"], MODEL_KINDS, "model kind")
    for key in ("hidden", "channels"):
        if key in model:
            kw[key] = c.int_list(f"model.{key}", model[key], 1, non_empty=True)
    if "dropout" in model:
        kw["dropout"] = c.number("model.dropout", model["dropout"], minimum=0.0, below=1.0)
    if "activation" in model:
        kw["activation"] = _family(c, "model.activation", model["activation"])
    for key, minimum in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("measure_every", 1)):
        if key in training:
            kw[key] = c.integer(f"training.{key}", training[key], minimum)
    if "optimizer" in training:
        kw["optimizer"] = _choice(c, "training.optimizer", training["optimizer"], OPTIMIZERS, "optimizer")
    if "lr" in training:
        kw["lr"] = c.number("training.lr", training["lr"], positive=True)
    for key in ("weight_decay", "momentum"):
        if key in training:
            kw[key] = c.number(f"training.{key}", training[key], minimum=0.0)
    try:
        return TrainConfig(**kw)
    except ValueError as exc:  # TrainConfig's own rules: "field: message"
        field_name, _, message = str(exc).partition(": ")
        raise c.fail(train_key(field_name), message or str(exc)) from None


# --- sampler, pruner, workers --------------------------------------------------------------


def _sampler(c: Checker, value: Any) -> SamplerSpec:
    s = c.table("sampler", value)
    c.known_keys("sampler", s, SAMPLER_KEYS, _elsewhere("sampler"), _HINTS["sampler"])
    name = _choice(c, "sampler.name", s.get("name", "tpe"), SAMPLERS, "sampler")
    seed = s.get("seed", 0)
    if seed == "none" or seed is None:
        seed = None
    elif isinstance(seed, str):
        raise c.fail("sampler.seed", f'expected an integer >= 0 or "none" (unseeded), got {show(seed)}')
    else:
        seed = c.integer("sampler.seed", seed, 0)
    objectives: tuple[str, ...] = ("metric",)
    if "objectives" in s:
        objectives = c.choices("sampler.objectives", s["objectives"], OBJECTIVES, what="objective")
        if "metric" not in objectives:
            raise c.fail("sampler.objectives", f'the validation metric must be an objective, got {show(list(objectives))}; '
                                               'allowed: ["metric"] or ["metric", "time"]')  # fmt: skip
        objectives = tuple(o for o in OBJECTIVES if o in objectives)  # canonical order: metric first
    multi = len(objectives) > 1
    if multi and name not in MULTI_OBJECTIVE_SAMPLERS:
        raise c.fail("sampler.name", f"{show(name)} cannot optimize several objectives "
                     f"{show(list(objectives))}; allowed: {', '.join(MULTI_OBJECTIVE_SAMPLERS)}")  # fmt: skip
    if name == "nsga2" and not multi:
        raise c.fail("sampler.name", '"nsga2" is a multi-objective sampler but the study has one objective '
                     '["metric"]; use "tpe" (or set objectives = ["metric", "time"])')  # fmt: skip
    return SamplerSpec(name=name, seed=seed, objectives=objectives)


def _pruner(c: Checker, value: Any, sampler: SamplerSpec) -> PrunerSpec:
    p = c.table("pruner", value)
    c.known_keys("pruner", p, PRUNER_KEYS, _elsewhere("pruner"), _HINTS["pruner"])
    # A multi-objective study cannot be pruned: its pruner defaults to "none" instead of "median".
    default = "none" if sampler.multi_objective else "median"
    name = _choice(c, "pruner.name", p.get("name", default), PRUNERS, "pruner")
    if sampler.multi_objective and name != "none":
        raise c.fail("pruner.name", f"Optuna cannot prune multi-objective studies (objectives "
                     f'{show(list(sampler.objectives))}), got {show(name)}; allowed: "none"')  # fmt: skip
    n_startup = c.integer("pruner.n_startup_trials", p.get("n_startup_trials", 5), 0)
    n_warmup = c.integer("pruner.n_warmup_steps", p.get("n_warmup_steps", 3), 0)
    return PrunerSpec(name=name, n_startup_trials=n_startup, n_warmup_steps=n_warmup)


def _auto_or_count(c: Checker, key: str, value: Any, what: str) -> str | int:
    if value == "auto" and isinstance(value, str):
        return "auto"
    if Integer(1).accepts(value):
        return int(value)
    raise c.fail(key, f'expected "auto" or {Integer(1)} ({what}), {got(value)}')
