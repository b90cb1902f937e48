"""Training re-training jobs in one process: a pack of jobs together, or one job alone.

``train_jobs(jobs, device, threads)`` is what each parallel process runs: it loads the jobs'
dataset once per process, warms torch up once, then trains the jobs. Several jobs train as packs
(``dynsearch.packed.train_packed``, each member equal to ``train()`` alone, the signals a job records
per epoch included); a single job trains with ``train()`` itself.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Sequence

import torch

from ...data import load_dataset
from ...packed import PackMember, auto_pack_size, member_footprint, train_packed
from ...plugins import load_plugins
from ...train import TrainConfig, train
from ..activity import measure_activity
from ._records import end_state, signal_names, signal_series
from ._store import RetrainJob, RetrainRun

__all__ = ["train_jobs", "chance_level", "pack_sizes"]

# Splits loaded by this process, by everything that defines them and the device: a later report in
# this process (another split seed or device) must never score on this one's split.
_SPLITS: dict[tuple[Any, ...], Any] = {}
# (device, "one" | "pack") warmed up in this process.
_WARMED: set[tuple[str, str]] = set()


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def chance_level(splits: Any) -> float | None:
    """What a constant prediction scores on test: the share of the train split's majority class for
    classification, 0 for regression (R² of the mean). A run near it has collapsed."""
    if getattr(splits, "task", "") != "classification":
        return 0.0
    majority = int(torch.bincount(splits.y_train.cpu()).argmax())
    return float((splits.y_test.cpu() == majority).float().mean())


def _config(job: RetrainJob) -> Any:
    return dataclasses.replace(TrainConfig.from_dict(job.train), seed=job.seed)


def _error_run(job: RetrainJob, exc: Exception, seconds: float, device: str) -> RetrainRun:
    """A run that raised: recorded and reported, never hidden (one strategy's crash is a result)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return RetrainRun(
        job.arm, job.trial, job.dataset.label, job.seed, "error", "", None, None, -1, 0, seconds, 0,
        f"{type(exc).__name__}: {text}".rstrip(": "), job.fingerprint, device, job.replicate,
    )


def _run_of(job: RetrainJob, result: Any, device: str, chance: float | None, wall_time: float) -> RetrainRun:
    """The record of a finished training ``result`` (a ``TrainResult``) of ``job``."""
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
        wall_time=wall_time,
        n_switches=result.n_switches,
        message=result.message,
        fingerprint=job.fingerprint,
        device=device,
        replicate=job.replicate,
        activity=measure_activity(result.history, job.strategy, str(job.train.get("activation", "relu"))),
        chance=chance,
        signals=signal_series(result.history) if job.record_signals else None,
        end_state=end_state(result.history),
    )


def _train_one(job: RetrainJob, splits: Any, device: str) -> RetrainRun:
    """Train one job alone with ``train()`` (recording every signal per epoch when the job asks)."""
    started = time.perf_counter()
    try:
        result = train(splits, job.strategy, _config(job), evaluate_test=True,
                       record_signals=signal_names() if job.record_signals else ())
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as the run's result
        return _error_run(job, exc, time.perf_counter() - started, device)
    return _run_of(job, result, device, chance_level(splits), result.wall_time)


def _time_shares(elapsed: float, own: Sequence[float]) -> list[float]:
    """Each member's share of its pack's time, in proportion to how long it stayed in the pack
    (a member's own time is the pack's time until it left): the shares add up to the pack's time."""
    total = sum(own)
    if total <= 0:
        return [elapsed / len(own)] * len(own)
    return [elapsed * t / total for t in own]


def _train_pack(jobs: Sequence[RetrainJob], splits: Any, device: str, compile: str | bool) -> list[RetrainRun]:
    """Train ``jobs`` as one pack; if the pack raises, each job alone, so one bad member loses only its own run."""
    started = time.perf_counter()
    try:
        members = [PackMember(job.strategy, _config(job), signal_names() if job.record_signals else ()) for job in jobs]
        results = train_packed(splits, members, evaluate_test=True, compile=compile)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:  # noqa: BLE001 - each member's own error (if any) is recorded below
        return [_train_one(job, splits, device) for job in jobs]
    shares = _time_shares(time.perf_counter() - started, [r.wall_time for r in results])
    chance = chance_level(splits)
    return [_run_of(job, result, device, chance, share) for job, result, share in zip(jobs, results, shares)]


def pack_sizes(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the packs of at most ``size`` that ``n`` jobs split into, as even as possible."""
    count = max(1, math.ceil(n / max(1, size)))
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def _auto_size(jobs: Sequence[RetrainJob], splits: Any, memory_budget: int | None) -> int:
    """``dynsearch.packed.auto_pack_size`` for these jobs' model on this process's device."""
    try:
        config = _config(jobs[0])
        footprint = member_footprint(splits, config).total_bytes
    except Exception:  # noqa: BLE001 - the pack meets the same error and records it per member
        return len(jobs)
    if memory_budget is not None:  # a budget below one member means packs of one, not an error
        memory_budget = max(memory_budget, footprint)
    return auto_pack_size(splits, config, trials_left=len(jobs), memory_budget=memory_budget)


def _splits_for(job: RetrainJob, device: str) -> Any:
    key = (*job.split_key, str(device))
    if key not in _SPLITS:
        _SPLITS[key] = load_dataset(job.dataset.name, split_seed=job.split_seed, device=device,
                                    **dict(job.dataset.options))
    return _SPLITS[key]


def _warm_up(job: RetrainJob, splits: Any, packed: bool) -> None:
    """One short untimed run (two members for a pack), so the first run of a process does not carry
    torch's one-off start-up cost (about 2 s against 0.2 s) in the report's time per run. Every run
    seeds itself: results are unchanged."""
    config = dataclasses.replace(_config(job), epochs=1, patience=0)
    try:
        if packed:
            train_packed(splits, [PackMember(job.strategy, config)] * 2, compile=False)
        else:
            train(splits, job.strategy, config)
    except Exception:  # noqa: BLE001 - the timed run that follows fails the same way, and records why
        return


def train_jobs(
    jobs: Sequence[RetrainJob],
    device: str,
    threads: int | None = None,
    *,
    memory_budget: int | None = None,
    compile: str | bool = "auto",
) -> list[RetrainRun]:
    """Train ``jobs`` (one dataset and split; several: all of one ``pack_key``) in this process.

    Several jobs train in packs of ``auto_pack_size`` (capped by ``memory_budget`` bytes), one after
    the other; one job trains alone with ``train()``. ``threads`` sets torch's threads (None: as they are).
    """

    load_plugins(jobs[0].plugins)  # a fresh pool process knows only the built-in strategies
    if threads:
        torch.set_num_threads(threads)
    splits = _splits_for(jobs[0], device)
    packed = len(jobs) > 1
    if (str(device), "pack" if packed else "one") not in _WARMED:
        _warm_up(jobs[0], splits, packed)
        _WARMED.add((str(device), "pack" if packed else "one"))
    if not packed:
        return [_train_one(jobs[0], splits, device)]
    runs: list[RetrainRun] = []
    for start, stop in pack_sizes(len(jobs), _auto_size(jobs, splits, memory_budget)):
        runs += _train_pack(jobs[start:stop], splits, device, compile)
    return runs
