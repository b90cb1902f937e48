"""What the report's re-training stores: the jobs it plans, the run each gives, and ``retrain.json``.

A ``RetrainJob`` is one ``arm / trial / dataset / seed`` to train (or to find in the store), with a
fingerprint of everything that determines the run; a ``RetrainRun`` is its outcome; the
``RetrainStore`` keeps the runs by key in ``retrain.json`` next to the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import DatasetSpec
from .._io import atomic_write_text

__all__ = ["DEFAULT_SEEDS", "SEED_BASE", "RETRAIN_SCHEMA", "RetrainJob", "RetrainRun", "RetrainStore", "retrain_seeds"]

DEFAULT_SEEDS = 5
# Far from the search's seeds 0..seeds-1, so no re-training repeats a run the search selected on.
SEED_BASE = 1000
RETRAIN_SCHEMA = "dynsearch.retrain/1"


def retrain_seeds(n: int) -> list[int]:
    """``[SEED_BASE, …, SEED_BASE + n - 1]``."""
    return [SEED_BASE + i for i in range(n)]


@dataclass(frozen=True)
class RetrainJob:
    """One re-training run to do (or to find in the store)."""

    arm: str
    trial: int
    dataset: DatasetSpec
    seed: int
    strategy: dict[str, Any]
    train: dict[str, Any]
    split_seed: int
    replicate: int = 0
    plugins: tuple[str, ...] = ()  # imported by the process that trains it (not part of the fingerprint)
    record_signals: bool = False  # measure every registered signal per epoch (report.signal_spread); not fingerprinted

    @property
    def key(self) -> str:
        return f"{self.arm}/trial-{self.trial}/{self.dataset.label}/seed-{self.seed}"

    @property
    def split_key(self) -> tuple[Any, ...]:
        """Everything that defines the data split it trains on (dataset, options, split seed)."""
        options = tuple(sorted((k, repr(v)) for k, v in self.dataset.options.items()))
        return (self.dataset.name, options, self.split_seed)

    @property
    def fingerprint(self) -> str:
        """Hash of everything that determines the run, so a stale record is never re-used."""
        payload = {
            "strategy": self.strategy,
            "train": {**self.train, "seed": self.seed},
            "dataset": {"name": self.dataset.name, "options": dict(self.dataset.options)},
            "split_seed": self.split_seed,
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RetrainRun:
    """The outcome of one re-training run (what ``retrain.json`` stores per key)."""

    arm: str
    trial: int
    dataset: str
    seed: int
    status: str
    metric: str
    test_metric: float | None
    best_val_metric: float | None
    best_epoch: int
    epochs_run: int
    wall_time: float
    n_switches: int
    message: str = ""
    fingerprint: str = ""
    device: str = "cpu"
    replicate: int = 0  # the search replicate whose winner this is
    activity: dict[str, Any] | None = None  # report.activity.measure_activity of the run
    chance: float | None = None  # test metric of a constant prediction (train majority class; R² 0)
    signals: dict[str, dict[str, list[float | None]]] | None = None  # {signal: {site: per-epoch values}} if recorded
    end_state: list[list[Any]] | None = None  # [[family, α] per site] after the last epoch (report.retrain)

    @property
    def ok(self) -> bool:
        """A usable score: training finished (or diverged after a best epoch) and test was scored."""
        return self.test_metric is not None and math.isfinite(self.test_metric)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainRun:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class RetrainStore:
    """``retrain.json``: re-training records by key, written atomically (``save``)."""

    def __init__(self, path: Path, study: str) -> None:
        self.path = Path(path)
        self.study = study
        self.records: dict[str, RetrainRun] = {}
        self.dirty = False

    @classmethod
    def load(cls, path: Path, study: str) -> RetrainStore:
        """Load the store (an unreadable or foreign file is ignored: its runs are simply re-done)."""
        store = cls(path, study)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return store
        if not isinstance(data, dict) or data.get("schema") != RETRAIN_SCHEMA or data.get("study") != study:
            return store
        for key, record in (data.get("runs") or {}).items():
            try:
                store.records[key] = RetrainRun.from_dict(record)
            except TypeError:
                continue
        return store

    def get(self, job: RetrainJob) -> RetrainRun | None:
        """The stored run of ``job``; a record from before runs measured their adjustments is re-done."""
        run = self.records.get(job.key)
        if run is None or run.fingerprint != job.fingerprint or (run.ok and run.activity is None):
            return None
        return dataclasses.replace(run, replicate=job.replicate)

    def put(self, job: RetrainJob, run: RetrainRun) -> None:
        self.records[job.key] = run
        self.dirty = True

    def save(self) -> None:
        payload = {
            "schema": RETRAIN_SCHEMA,
            "study": self.study,
            "runs": {key: self.records[key].to_dict() for key in sorted(self.records)},
        }
        text = json.dumps(payload, indent=1, sort_keys=False, allow_nan=False) + "\n"
        atomic_write_text(self.path, text)
        self.dirty = False
