"""Running the re-training: re-use what ``retrain.json`` holds, pack the rest, train the packs in parallel.

Jobs on the same dataset and split whose settings share a ``dynsearch.packed.pack_key`` train
together as one pack (a packed member equals ``train()`` alone: packing changes speed, never
results). Jobs the pack engine cannot run (``dynsearch.packed`` lists why: a learned α per channel,
ACON-C, ``final_fixed``'s own site set-up, dropout) train one by one with ``train()``, each a task of
its own. The jobs that record every signal per epoch pack like the others (the engine records them
per member, as ``train(record_signals=...)`` does alone).

The packs run in parallel processes through joblib (``joblib.Parallel``, its default backend loky
unless a ``joblib.parallel_config(backend=...)`` around the call picks another): one process per
core on the CPU, one on a GPU, or ``processes``. Each process loads a dataset once, uses
cores // processes torch threads and trains one short untimed run first.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Sequence

from ...packed import MAX_PACK, pack_key
from ...packed._run import engine_unsupported
from ...plugins import load_plugins
from ...search.packing import cpu_memory_budget
from ...search.runner import available_cores, default_processes
from ...strategies import strategy_from_config
from ...train import TrainConfig
from ._pack import pack_sizes, train_jobs
from ._store import RetrainJob, RetrainRun, RetrainStore

__all__ = ["run_jobs", "plan_packs", "default_jobs", "stderr_progress", "ProgressBar", "ProgressFn"]

ProgressFn = Callable[[int, int, RetrainJob, RetrainRun], None]
# Seconds between saves of retrain.json while training: each save rewrites the whole file (megabytes for a
# study of many datasets), and a large study finishes runs several times a second.
SAVE_EVERY = 10.0


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
            from tqdm import tqdm  # only when a bar is shown: no import for a quiet report

            self.bar = tqdm(total=total, unit="run", desc="re-training", dynamic_ncols=True, file=sys.stderr)
        self.bar.set_postfix_str(f"{job.arm} on {job.dataset.label}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def default_jobs(device: str) -> int:
    """Parallel re-training processes: one per CPU core on the CPU, one on a GPU."""
    return default_processes(device)


def _pack_group(job: RetrainJob, plugins_loaded: set[tuple[str, ...]]) -> tuple[Any, ...] | None:
    """What ``job`` can share a pack with (its split and ``pack_key``), or None when it trains alone."""
    try:
        if job.plugins not in plugins_loaded:
            load_plugins(job.plugins)
            plugins_loaded.add(job.plugins)
        config = TrainConfig.from_dict(job.train)
        if engine_unsupported([strategy_from_config(job.strategy)], [config]):
            return None
        return (job.split_key, pack_key(config))
    except Exception:  # noqa: BLE001 - it trains alone and records why
        return None


def plan_packs(jobs: Sequence[RetrainJob], processes: int = 1) -> list[list[RetrainJob]]:
    """The tasks for ``processes`` processes: packs of jobs that can train together, and the jobs that
    train alone (lists of one). A group is split into at least ``processes`` packs, so that every
    process has work; the largest tasks come first, so the processes finish together."""
    groups: dict[tuple[Any, ...], list[RetrainJob]] = {}
    tasks: list[list[RetrainJob]] = []
    loaded: set[tuple[str, ...]] = set()
    for job in jobs:
        group = _pack_group(job, loaded)
        if group is None:
            tasks.append([job])
        else:
            groups.setdefault(group, []).append(job)
    for members in groups.values():
        size = min(MAX_PACK, math.ceil(len(members) / max(1, processes)))
        tasks += [members[a:b] for a, b in pack_sizes(len(members), size)]
    return sorted(tasks, key=len, reverse=True)


def _task(index: int, jobs: list[RetrainJob], device: str, threads: int | None, options: dict[str, Any]
          ) -> tuple[int, list[RetrainRun]]:
    """One task in a process: its index (results arrive in any order) and its runs."""
    return index, train_jobs(jobs, device, threads, **options)


def run_jobs(
    jobs: list[RetrainJob],
    store: RetrainStore,
    *,
    device: str = "cpu",
    refresh: bool = False,
    progress: ProgressFn | None = stderr_progress,
    announce: Callable[[str], None] | None = None,
    processes: int | None = None,
    compile: str | bool = "auto",
    pack: bool = True,
) -> tuple[dict[str, RetrainRun], int]:
    """Find or train every job; returns ``({key: run}, number trained now)``.

    Missing runs train in packs (``plan_packs``) in ``processes`` parallel processes through joblib
    (default: one per core on the CPU), each run seeded, so the results do not depend on how they
    were packed or spread. The store is saved every ``SAVE_EVERY`` seconds and when the training ends
    or is interrupted, so an interrupted report keeps what it finished. ``compile`` goes to ``train_packed``; ``pack=False``
    trains every run alone with ``train()``, as reports did before packs (the reference that
    ``tests/test_retrain_packed.py`` and ``benchmarks/retrain_time.py`` compare with).
    """
    # joblib (and its loky processes) only when something is left to train
    from joblib import Parallel, delayed

    results: dict[str, RetrainRun] = {}
    todo = []
    for job in jobs:
        cached = None if refresh else store.get(job)
        if cached is not None:
            results[job.key] = cached
        else:
            todo.append(job)
    processes = max(1, min(processes or default_jobs(device), len(todo) or 1))
    tasks = plan_packs(todo, processes) if pack else [[job] for job in todo]
    processes = max(1, min(processes, len(tasks)))
    if announce is not None and jobs:
        _announce(announce, len(jobs), tasks, device, processes, store)
    backend = _backend(processes)
    threads, options = _process_options(device, processes, compile, backend)
    done, saved = 0, time.monotonic()
    # Ray's backend (report --cluster) cannot stream results: they come as one list when all tasks are done.
    order = "generator_unordered" if getattr(backend, "supports_return_generator", True) else "list"
    parallel = Parallel(n_jobs=processes, return_as=order, batch_size=1)
    try:
        for index, runs in parallel(delayed(_task)(i, task, device, threads, options)
                                    for i, task in enumerate(tasks)):
            for job, run in zip(tasks[index], runs):
                store.put(job, run)
                results[job.key] = run
            if time.monotonic() - saved >= SAVE_EVERY:
                store.save()
                saved = time.monotonic()
            for job, run in zip(tasks[index], runs):
                done += 1
                if progress is not None:
                    progress(done, len(todo), job, run)
    finally:  # also on Ctrl-C: what finished is kept
        if store.dirty:
            store.save()
    return results, len(todo)


def _backend(processes: int) -> Any:
    """The joblib backend the tasks will run on (the default loky, or what ``joblib.parallel_config`` picked).

    Raises:
        ValueError: a backend of threads for several processes: every run seeds torch's global random
            generator, which threads of one process share, so their results would depend on timing.
    """
    from joblib.parallel import get_active_backend  # joblib only when something is left to train

    backend, _ = get_active_backend()
    if getattr(backend, "uses_threads", False) and backend.effective_n_jobs(processes) > 1:
        raise ValueError(
            f"re-training: joblib's {type(backend).__name__} runs its tasks as threads of one process, which share "
            "the random generator every run seeds; pick a process backend (loky, the default) or 1 process."
        )
    return backend


def _process_options(device: str, processes: int, compile: str | bool, backend: Any
                     ) -> tuple[int | None, dict[str, Any]]:
    """Torch threads per process (None when the tasks run in this process: left as they are) and
    ``train_jobs``' options."""
    in_process = processes == 1 or backend.effective_n_jobs(processes) == 1
    threads = None if in_process else max(1, available_cores() // processes)
    budget = None if device.startswith("cuda") else cpu_memory_budget(processes)
    return threads, {"memory_budget": budget, "compile": compile}


def _announce(say: Callable[[str], None], planned: int, tasks: list[list[RetrainJob]], device: str, processes: int,
              store: RetrainStore) -> None:
    todo = sum(len(t) for t in tasks)
    reused = planned - todo
    if not todo:
        say(f"all {reused} re-training run(s) re-used from {store.path.name} (--refresh trains them again)")
        return
    packs = sum(1 for t in tasks if len(t) > 1)
    alone = sum(1 for t in tasks if len(t) == 1)
    say(f"re-training {todo} run(s) on {device} in {processes} process(es): {packs} pack(s) of "
        f"{todo - alone} and {alone} alone ({reused} re-used from {store.path.name})")
