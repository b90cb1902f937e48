"""The exported best strategy config: ``dynsearch export`` writes it, your own code loads it.

An export is one JSON object (schema ``dynsearch.export/1``) holding everything needed to re-train
the chosen trial: the strategy config, the training settings, the datasets and their split seed,
plus where it came from (study, trial, arm, masked storage) and its validation scores::

    import dynsearch
    strategy = dynsearch.load_config("best.json")        # a Strategy object
    model = dynsearch.apply(my_model, strategy)

    from dynsearch.export import read_export
    record = read_export("best.json")                     # the full record
    record.train_config(seed=3)                           # a TrainConfig

Reading never raises anything but ``ExportError`` (one line: what is wrong with which file) for a
missing, truncated or foreign file. This module imports neither Optuna nor torch at load time.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ._constraints import SEED
from ._files import atomic_write_text
from ._version import __version__
from .plugins import PluginError, load_plugins
from .selection import TIE_RULE, select_best_trial, trial_arm
from .strategies import strategy_from_config
from .train import TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from .config import StudySpec
    from .strategies import Strategy

__all__ = [
    "SCHEMA",
    "ExportError",
    "ExportRecord",
    "select_best_trial",
    "matching_arms",
    "TIE_RULE",
    "export_record",
    "write_export",
    "read_export",
    "load_config",
]

SCHEMA = "dynsearch.export/1"

_REQUIRED = ("strategy", "train", "split_seed", "datasets")


class ExportError(ValueError):
    """An export file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class ExportRecord:
    """One exported configuration (the JSON object, field for field).

    Attributes:
        strategy: ``{"name", "params"}``, what ``dynsearch.strategy_from_config`` takes.
        train: ``TrainConfig.to_dict()`` of the trial (seed 0, the search's first seed).
        split_seed: seed of the train/validation/test split the scores refer to.
        datasets: ``[{"name", "options", "label"}, ...]``, the study's datasets.
        scores: ``{"datasets": {label: {"metric", "val_metric", "val_metrics"}}, "mean": float}``:
            validation scores of the trial (the search never scores the test split).
        study, trial, arm: where it came from.
        created: ISO 8601 time of the export (UTC).
        storage: the study's storage URL with any password masked.
        plugins: modules to import before the strategy can be built (the study's ``plugins``).
    """

    strategy: dict[str, Any]
    train: dict[str, Any]
    split_seed: int
    datasets: list[dict[str, Any]]
    scores: dict[str, Any] = field(default_factory=dict)
    study: str = ""
    trial: int | None = None
    arm: str = ""
    created: str = ""
    storage: str = ""
    dynsearch_version: str = ""
    plugins: list[str] = field(default_factory=list)
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        # The schema and version first: a reader (human or program) sees what it holds at once.
        return {"schema": d.pop("schema"), "dynsearch_version": d.pop("dynsearch_version"), **d}

    def strategy_object(self) -> Strategy:
        """The strategy, ready for ``dynsearch.apply`` (the record's plugins are imported first)."""
        load_plugins(self.plugins)
        return strategy_from_config(self.strategy)

    def train_config(self, seed: int | None = None) -> TrainConfig:
        """The training settings (optionally with another seed)."""
        config = TrainConfig.from_dict(self.train)
        return config if seed is None else dataclasses.replace(config, seed=seed)


# --- writing ---------------------------------------------------------------------------------


def matching_arms(spec: StudySpec, strategy: str | None = None, scope: str | None = None) -> list[str]:
    """Labels of the study's arms of ``strategy`` whose trials all run with ``scope`` (None: any).

    An arm matches a scope only when the arm fixes it (the fixed and learned baselines have none).
    """
    return [
        a.label for a in spec.search.arms
        if (strategy is None or a.strategy == strategy) and (scope is None or a.get("scope") == scope)
    ]


def export_record(study: optuna.Study, trial: optuna.trial.FrozenTrial, storage_label: str) -> ExportRecord:
    """The export of ``trial`` of ``study`` (a dynsearch study: its spec gives datasets and split seed).

    Raises:
        ValueError: the trial lacks what an export needs (it was not run by dynsearch).
    """
    from .search.study import load_spec  # the search layer (optuna) loads only when an export is made from a study

    spec = load_spec(study)
    strategy, train = trial.user_attrs.get("strategy"), trial.user_attrs.get("train")
    if not isinstance(strategy, Mapping) or not isinstance(train, Mapping):
        raise ValueError(f"trial {trial.number} of study {study.study_name!r} has no stored strategy/training config")
    stored = trial.user_attrs.get("datasets") or {}
    scores_ds = {}
    for ds in spec.datasets:
        entry = stored.get(ds.label)
        if entry is not None:
            scores_ds[ds.label] = {
                "metric": entry.get("metric"),
                "val_metric": entry.get("val_metric"),
                "val_metrics": list(entry.get("val_metrics", [])),
            }
    return ExportRecord(
        strategy={"name": strategy["name"], "params": dict(strategy.get("params") or {})},
        train=dict(train),
        split_seed=spec.split_seed,
        datasets=[{"name": ds.name, "options": dict(ds.options), "label": ds.label} for ds in spec.datasets],
        scores={"datasets": scores_ds, "mean": trial.values[0], "objective": "mean best validation metric"},
        study=study.study_name,
        trial=trial.number,
        arm=str(trial_arm(trial) or ""),
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        storage=storage_label,
        dynsearch_version=__version__,
        plugins=list(spec.plugins),
    )


def dumps(record: ExportRecord) -> str:
    """The JSON text of an export (indented, ending in a newline)."""
    return json.dumps(record.to_dict(), indent=2, allow_nan=False) + "\n"


def write_export(record: ExportRecord, path: str | os.PathLike[str]) -> Path:
    """Write ``record`` to ``path`` atomically (a reader never sees half a file)."""
    return atomic_write_text(path, dumps(record))


# --- reading ---------------------------------------------------------------------------------


def read_export(path: str | os.PathLike[str]) -> ExportRecord:
    """Read and validate an export file.

    Raises:
        ExportError: a missing or unreadable file, invalid JSON (e.g. truncated), another schema,
            or a field with the wrong shape; the message is one line and names the file.
    """
    where = f"config {os.fspath(path)}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExportError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ExportError(f"{where}: is a directory, not an export file") from None
    except UnicodeDecodeError:
        raise ExportError(f"{where}: not a text file (expected JSON written by 'dynsearch export')") from None
    except OSError as exc:
        raise ExportError(f"{where}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise ExportError(f"{where}: not valid JSON{hint}: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ExportError(f"{where}: expected a JSON object written by 'dynsearch export', got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA:
        found = "no 'schema' key" if schema is None else f"schema {schema!r}"
        raise ExportError(f"{where}: unknown format ({found}); expected schema {SCHEMA!r} from 'dynsearch export'")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ExportError(f"{where}: missing key {missing[0]!r}")
    known = {f.name for f in dataclasses.fields(ExportRecord)}
    record_data = {k: v for k, v in data.items() if k in known}
    _check_shape(where, record_data)
    return ExportRecord(**record_data)


def _check_shape(where: str, data: dict[str, Any]) -> None:

    plugins = data.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise ExportError(f"{where}: 'plugins' must be a list of module names")
    try:
        load_plugins(plugins)
    except PluginError as exc:
        raise ExportError(f"{where}: {exc}") from None
    strategy = data["strategy"]
    if not isinstance(strategy, dict) or not isinstance(strategy.get("name"), str) or not isinstance(
        strategy.get("params", {}), dict
    ):
        raise ExportError(f"{where}: 'strategy' must be an object with 'name' and 'params'")
    try:
        strategy_from_config(strategy)
    except (ValueError, TypeError) as exc:
        raise ExportError(f"{where}: strategy: {_one_line(exc)}") from None
    if not isinstance(data["train"], dict):
        raise ExportError(f"{where}: 'train' must be an object of training settings")
    try:
        TrainConfig.from_dict(data["train"])
    except (ValueError, TypeError) as exc:
        raise ExportError(f"{where}: train: {_one_line(exc)}") from None
    split_seed = data["split_seed"]
    if not SEED.accepts(split_seed):
        raise ExportError(f"{where}: 'split_seed' must be {SEED}, got {split_seed!r}")
    datasets = data["datasets"]
    if not isinstance(datasets, list) or not all(
        isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("options", {}), dict) for d in datasets
    ):
        raise ExportError(f"{where}: 'datasets' must be a list of {{'name', 'options'}} objects")
    if "scores" in data and not isinstance(data["scores"], dict):
        raise ExportError(f"{where}: 'scores' must be an object")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_config(path: str | os.PathLike[str]) -> Strategy:
    """The strategy of an exported config, ready for ``dynsearch.apply(model, strategy)``.

    Raises:
        ExportError: see ``read_export``.
    """
    return read_export(path).strategy_object()
