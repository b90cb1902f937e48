"""Re-training for the comparison: the best configuration of every arm, R fresh seeds, scored on test.

The search picked each arm's best trial on the validation split with its own seeds (0, 1, …).
Re-using those runs would reward the luckiest seed, so the report re-trains every chosen
configuration with seeds ``SEED_BASE …`` (never used by the search) on every dataset of the study,
with the study's split seed and the trial's own training settings, and only now scores the held-out
test split (``train(..., evaluate_test=True)``).

Results are kept in ``retrain.json`` next to the report, one record per
``arm / trial / dataset / seed``, with a fingerprint of everything that determines the run (strategy,
training settings, dataset, split seed). A later report re-uses every record whose fingerprint
still matches and trains only what is missing; ``refresh=True`` trains everything again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..config import DatasetSpec
from ._io import atomic_write_text
from .activity import measure_activity
from .run_records import end_state, signal_names, signal_series
from .trials import StudyData

__all__ = [
    "DEFAULT_SEEDS",
    "SEED_BASE",
    "RETRAIN_SCHEMA",
    "RetrainJob",
    "RetrainRun",
    "RetrainStore",
    "retrain_seeds",
    "plan_jobs",
    "run_jobs",
    "stderr_progress",
    "ProgressBar",
    "best_per_replicate",
    "replicate_of",
    "chance_level",
]

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
    end_state: list[list[Any]] | None = None  # [[family, α] per site] after the last epoch (report.final_fixed)

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


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class RetrainStore:
    """``retrain.json``: re-training records by key, written atomically after every new run."""

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


def replicate_of(trial: Any) -> int:
    """The search replicate a trial belongs to (0 for a study without replicates)."""
    return int(trial.user_attrs.get("replicate", 0))


def best_per_replicate(data: StudyData) -> dict[tuple[int, str], Any]:
    """The best COMPLETE trial of every (replicate, arm), chosen on validation by the search's rule."""
    from ..search.study import best_per_arm

    by_rep: dict[int, list[Any]] = {}
    for t in data.trials:
        by_rep.setdefault(replicate_of(t), []).append(t)
    return {(rep, arm): t for rep in sorted(by_rep) for arm, t in best_per_arm(by_rep[rep]).items()}


def plan_jobs(data: StudyData, seeds: Iterable[int]) -> list[RetrainJob]:
    """Every (replicate, arm) winner × dataset × seed, arms in the study's order. Each winner is
    re-trained on its own replicate's split (``split_seed`` user attribute, else the study's)."""
    seeds = list(seeds)
    winners = best_per_replicate(data)
    jobs = []
    for (rep, arm), trial in sorted(winners.items(), key=lambda kv: (kv[0][0], data.arms.index(kv[0][1])
                                                                    if kv[0][1] in data.arms else len(data.arms))):
        strategy, train = trial.user_attrs.get("strategy"), trial.user_attrs.get("train")
        if not isinstance(strategy, dict) or not isinstance(train, dict):
            continue
        split_seed = int(trial.user_attrs.get("split_seed", data.spec.split_seed))
        for ds in data.spec.datasets:
            for seed in seeds:
                # Signals cost a little per step: measured on the first seed, enough to show where they lay.
                jobs.append(RetrainJob(arm, trial.number, ds, seed, strategy, train, split_seed, rep,
                                       data.spec.plugins, record_signals=seed == seeds[0]))
    return jobs


ProgressFn = Callable[[int, int, RetrainJob, RetrainRun], None]


def stderr_progress(index: int, total: int, job: RetrainJob, run: RetrainRun) -> None:
    """One line per finished run on stderr (for logs; the report command shows `ProgressBar`)."""
    width = len(str(total))
    if run.ok:
        outcome = f"test {run.metric} {run.test_metric:.4f}, {run.epochs_run} epochs"
    else:
        outcome = f"{run.status}: {run.message or 'no test score'}"
    print(
        f"  [{index:>{width}}/{total}] {job.arm} (trial {job.trial}) on {job.dataset.label}, seed {job.seed}: "
        f"{outcome} ({run.wall_time:.1f} s)",
        file=sys.stderr,
        flush=True,
    )


class ProgressBar:
    """One progress bar on stderr for all re-training runs (created on the first finished run)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, index: int, total: int, job: RetrainJob, run: RetrainRun) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="run", desc="re-training", dynamic_ncols=True, file=sys.stderr)
        self.bar.set_postfix_str(f"{job.arm} on {job.dataset.label}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _train_one(job: RetrainJob, splits: Any, device: str) -> RetrainRun:
    from ..train import TrainConfig, train

    config = dataclasses.replace(TrainConfig.from_dict(job.train), seed=job.seed)
    started = time.perf_counter()
    try:
        result = train(splits, job.strategy, config, evaluate_test=True,
                       record_signals=signal_names() if job.record_signals else ())
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # recorded and reported, never hidden: one strategy's crash is a result
        text = str(exc).splitlines()[0] if str(exc) else ""
        return RetrainRun(
            job.arm, job.trial, job.dataset.label, job.seed, "error", "", None, None, -1, 0,
            time.perf_counter() - started, 0, f"{type(exc).__name__}: {text}".rstrip(": "), job.fingerprint, device,
            job.replicate,
        )
    return RetrainRun(
        arm=job.arm,
        trial=job.trial,
        dataset=job.dataset.label,
        seed=job.seed,
        status=result.status,
        metric=result.metric,
        test_metric=_finite(result.test_metric),
        best_val_metric=_finite(result.best_val_metric),
        best_epoch=result.best_epoch,
        epochs_run=result.epochs_run,
        wall_time=result.wall_time,
        n_switches=result.n_switches,
        message=result.message,
        fingerprint=job.fingerprint,
        device=device,
        replicate=job.replicate,
        activity=measure_activity(result.history, job.strategy, str(job.train.get("activation", "relu"))),
        chance=chance_level(splits),
        signals=signal_series(result.history) if job.record_signals else None,
        end_state=end_state(result.history),
    )


def chance_level(splits: Any) -> float | None:
    """What a constant prediction scores on test: the share of the train split's majority class for
    classification, 0 for regression (R² of the mean). A run near it has collapsed."""
    if getattr(splits, "task", "") != "classification":
        return 0.0
    import torch

    majority = int(torch.bincount(splits.y_train.cpu()).argmax())
    return float((splits.y_test.cpu() == majority).float().mean())


_WORKER_SPLITS: dict[tuple[Any, ...], Any] = {}


def _run_job(job: RetrainJob, device: str, threads: int | None) -> RetrainRun:
    """Train one job (in a pool process: each loads a dataset once and keeps it)."""
    import torch

    from ..data import load_dataset
    from ..plugins import load_plugins

    load_plugins(job.plugins)  # a fresh pool process knows only the built-in strategies
    if threads:
        torch.set_num_threads(threads)
    # Keyed by everything that defines the split: a later report in this process (another split seed or
    # device) must never score on this one's split.
    key = (job.dataset.name, tuple(sorted((k, repr(v)) for k, v in job.dataset.options.items())),
           job.split_seed, str(device))
    if key not in _WORKER_SPLITS:
        _WORKER_SPLITS[key] = load_dataset(
            job.dataset.name, split_seed=job.split_seed, device=device, **dict(job.dataset.options)
        )
    if str(device) not in _WARMED_DEVICES:
        _warm_up(job, _WORKER_SPLITS[key])
        _WARMED_DEVICES.add(str(device))
    return _train_one(job, _WORKER_SPLITS[key], device)


_WARMED_DEVICES: set[str] = set()


def _warm_up(job: RetrainJob, splits: Any) -> None:
    """One short untimed run, so the first run of a process does not carry torch's one-off start-up
    cost (about 2 s against 0.2 s) in the report's time per run. Every run seeds itself: results are unchanged."""
    from ..train import TrainConfig, train

    config = dataclasses.replace(TrainConfig.from_dict(job.train), seed=job.seed, epochs=1, patience=0)
    try:
        train(splits, job.strategy, config)
    except Exception:  # noqa: BLE001 - the timed run that follows fails the same way, and records why
        return


def default_jobs(device: str) -> int:
    """Parallel re-training processes: one per CPU core on the CPU, one on a GPU."""
    from ..search.runner import available_cores

    return available_cores() if device == "cpu" else 1


def run_jobs(
    jobs: list[RetrainJob],
    store: RetrainStore,
    *,
    device: str = "cpu",
    refresh: bool = False,
    progress: ProgressFn | None = stderr_progress,
    announce: Callable[[str], None] | None = None,
    processes: int | None = None,
) -> tuple[dict[str, RetrainRun], int]:
    """Find or train every job; returns ``({key: run}, number trained now)``.

    Missing runs train in ``processes`` parallel processes (default: one per core on the CPU),
    each seeded, so the results do not depend on how they were spread. The store is saved after
    every new run, so an interrupted report keeps what it finished.
    """
    results: dict[str, RetrainRun] = {}
    todo = []
    for job in jobs:
        cached = None if refresh else store.get(job)
        if cached is not None:
            results[job.key] = cached
        else:
            todo.append(job)
    processes = max(1, min(processes or default_jobs(device), len(todo) or 1))
    if announce is not None and jobs:
        reused = len(jobs) - len(todo)
        if todo:
            announce(
                f"re-training {len(todo)} run(s) on {device} in {processes} process(es) "
                f"({reused} re-used from {store.path.name})"
            )
        else:
            announce(f"all {reused} re-training run(s) re-used from {store.path.name} (--refresh trains them again)")

    def record(index: int, job: RetrainJob, run: RetrainRun) -> None:
        store.put(job, run)
        store.save()
        results[job.key] = run
        if progress is not None:
            progress(index, len(todo), job, run)

    if processes == 1:
        for index, job in enumerate(todo, start=1):
            record(index, job, _run_job(job, device, None))
        return results, len(todo)

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from ..search.runner import available_cores

    threads = max(1, available_cores() // processes)
    # spawn, not fork: a forked torch with live threads can deadlock.
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run_job, job, device, threads): job for job in todo}
        for index, future in enumerate(as_completed(futures), start=1):
            record(index, futures[future], future.result())
    return results, len(todo)
