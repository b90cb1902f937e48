"""The supervisor behind ``dynsearch run``: queue the budget, start one worker process per device
slot, show one progress bar for the whole study, and recover the trials of workers that die.

Workers are separate ``dynsearch worker`` processes: CUDA_VISIBLE_DEVICES and the thread count are
set in their environment before torch starts, and the storage URL travels in the environment, never
on a command line where ``ps`` would show its password.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch

from ..config import StudySpec, inert_warnings
from ..packed._run import engine_unsupported
from .packing import choose_pack
from .split_cache import CACHE_ENV, read_cached_splits, write_split_cache
from .storage import open_storage
from .study import StudyCounts, count_trials, prepare_study, recover_dead_local_workers

__all__ = ["WorkerSlot", "plan_workers", "run_study", "RunSummary", "available_cores"]

POLL_SECONDS = 0.25  # how often the supervisor looks at its workers and the storage (progress, exits)
STOP_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class WorkerSlot:
    """One worker process to start: its index, device and torch thread count."""

    index: int
    device: str  # "cpu" or "cuda"
    gpu: int | None
    threads: int

    @property
    def label(self) -> str:
        return f"cuda:{self.gpu}" if self.gpu is not None else "cpu"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_processes(device: str) -> int:
    """Parallel training processes for work outside a search (calibration, re-training): one per CPU
    core on the CPU, one on a GPU."""
    return available_cores() if device == "cpu" else 1


def _gpu_count() -> int:
    """Visible CUDA GPUs; a CUDA that is installed but broken means CPU workers, and the log says why."""
    import torch  # torch loads only to count GPUs: the supervisor itself never trains

    reason = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        except Exception as exc:  # a driver/runtime mismatch, a bad CUDA_VISIBLE_DEVICES, …
            count, reason = 0, f"{type(exc).__name__}: {exc}"
    # torch reports a failed CUDA initialization as a warning, then says "not available".
    reason = reason or next((str(w.message) for w in caught if "CUDA" in str(w.message)), None)
    if reason is not None:
        logging.getLogger(__name__).warning("CUDA is unusable (%s); the workers run on the CPU", reason)
    return count


def plan_workers(
    workers: str | int = "auto", per_device: int = 1, devices: list[int] | None = None, *, gpu_count: int | None = None
) -> list[WorkerSlot]:
    """One slot per visible GPU (× ``per_device``), or one per CPU core without a GPU.

    Raises:
        ValueError: for a GPU index that does not exist, or a non-positive count.
    """
    n_gpu = _gpu_count() if gpu_count is None else gpu_count
    if per_device < 1:
        raise ValueError(f"--per-device: expected an integer >= 1, got {per_device}")
    if devices:
        missing = [d for d in devices if d < 0 or d >= n_gpu]
        if missing:
            raise ValueError(f"--devices: GPU {missing[0]} does not exist; this machine has {n_gpu} visible GPU(s)")
    gpus = list(devices) if devices else list(range(n_gpu))
    cores = available_cores()
    if workers == "auto":
        count = len(gpus) * per_device if gpus else cores
    else:
        count = int(workers)
        if count < 1:
            raise ValueError(f"--workers: expected 'auto' or an integer >= 1, got {workers}")
    if gpus:
        # Workers on GPUs still need a CPU thread each for the Python side.
        threads = max(1, cores // count)
        return [WorkerSlot(i, "cuda", gpus[i % len(gpus)], threads) for i in range(count)]
    return [WorkerSlot(i, "cpu", None, max(1, cores // count)) for i in range(count)]


@dataclass
class RunSummary:
    study: optuna.Study
    counts: StudyCounts
    slots: list[WorkerSlot]
    interrupted: bool = False
    restarts: int = 0
    elapsed: float = 0.0
    worker_exit_codes: list[int] = field(default_factory=list)


class _Progress:
    """One tqdm bar for the whole study, fed from the storage (all workers, all machines)."""

    def __init__(self, total: int, enabled: bool, start_finished: int) -> None:
        self.bar = None
        if enabled:
            # tqdm loads on first use: a search worker that does not need it never imports it
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=min(start_finished, total), unit="trial", dynamic_ncols=True,
                            desc="trials", file=sys.stderr,
                            mininterval=0.5 if sys.stderr.isatty() else 10.0)

    def update(self, counts: StudyCounts) -> None:
        if self.bar is None:
            return
        self.bar.n = min(counts.finished, self.bar.total)
        best = "-" if counts.best is None else f"{counts.best:.4f}"
        self.bar.set_postfix_str(
            f"pruned={counts.pruned} failed={counts.failed} running={counts.running} best={best}", refresh=False
        )
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _spawn(
    slot: WorkerSlot, study_name: str, storage_url: str, deadline: float | None, verbose: bool, pack: int | str, share: int,
    split_cache: str,
) -> subprocess.Popen:  # fmt: skip
    env = dict(os.environ)
    env["DYNSEARCH_STORAGE"] = storage_url
    env[CACHE_ENV] = split_cache
    env["CUDA_VISIBLE_DEVICES"] = "" if slot.gpu is None else str(slot.gpu)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(slot.threads)
    cmd = [
        sys.executable, "-m", "dynsearch", "worker", "--study", study_name,
        "--device", slot.device, "--threads", str(slot.threads), "--worker-index", str(slot.index),
        "--pack", str(pack), "--share", str(share), "--verbose" if verbose else "--quiet",
    ]
    if deadline is not None:
        cmd += ["--deadline", f"{deadline:.3f}"]
    # Own process group: the supervisor decides how workers stop (Ctrl-C reaches it alone).
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, start_new_session=True)


class _Workers:
    """The worker processes of one run: started once per slot, reaped, and respawned when they die."""

    def __init__(self, slots: list[WorkerSlot], spawn: Callable[[WorkerSlot], subprocess.Popen],
                 study: optuna.Study, deadline: float | None, finished: int) -> None:  # fmt: skip
        self.slots, self.spawn, self.study, self.deadline = slots, spawn, study, deadline
        self.procs: dict[int, subprocess.Popen] = {}
        self.restarts = 0
        self.exit_codes: list[int] = []
        # Restarts since the study last made progress: a worker that crashes on start must not be respawned
        # forever, but workers killed now and then over a long study (preemption, OOM killer) always are.
        self.unproductive, self.last_finished = 0, finished

    def start(self) -> None:
        for slot in self.slots:
            self.procs[slot.index] = self.spawn(slot)

    def reap(self) -> None:
        """Collect the workers that exited; a dead one's trial goes back to the queue and a new worker takes over."""
        for slot in self.slots:
            proc = self.procs.get(slot.index)
            if proc is None or proc.poll() is None:
                continue
            del self.procs[slot.index]
            self.exit_codes.append(proc.returncode)
            if proc.returncode != 0:
                recover_dead_local_workers(self.study, dead_pids=[proc.pid])
                if self.unproductive < 3 * len(self.slots) and (self.deadline is None or time.time() < self.deadline):
                    self.restarts += 1
                    self.unproductive += 1
                    self.procs[slot.index] = self.spawn(slot)

    def progressed(self, counts: StudyCounts) -> None:
        if counts.finished > self.last_finished:
            self.unproductive, self.last_finished = 0, counts.finished


@contextlib.contextmanager
def _stop_requests() -> Iterator[dict[str, bool]]:
    """Ctrl-C and SIGTERM set a flag (the supervisor then stops its workers) instead of raising."""
    stop = {"requested": False}

    def request_stop(signum: int, frame: Any) -> None:
        stop["requested"] = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_study(
    spec: StudySpec,
    storage_url: str,
    *,
    n_trials: int,
    timeout: float | None = None,
    workers: str | int = "auto",
    per_device: int = 1,
    devices: list[int] | None = None,
    progress: bool = True,
    verbose: bool = False,
    pack: int | str | None = None,
) -> RunSummary:
    """Queue the study's budget on the storage, run workers until it is done, and summarise.

    ``n_trials`` is per search replicate (the study's ``replicates``); ``pack`` is ``--pack``
    (None: the study's ``pack``).
    """
    slots = plan_workers(workers, per_device, devices)  # before the storage: a bad request writes nothing
    storage = open_storage(storage_url)
    study = prepare_study(spec, storage, storage_url, n_trials)
    warn_inert_arms(spec)
    split_cache = _split_cache(spec)
    try:
        pack_arg = _resolve_pack(pack, spec, slots, progress, split_cache)
    except BaseException:
        shutil.rmtree(split_cache, ignore_errors=True)
        raise
    deadline = time.time() + timeout if timeout else None
    started = time.time()

    def spawn(slot: WorkerSlot) -> subprocess.Popen:
        return _spawn(slot, spec.name, storage_url, deadline, verbose, pack_arg, len(slots), split_cache)

    with _stop_requests() as stop:
        try:
            pool = _Workers(slots, spawn, study, deadline, count_trials(study.get_trials(deepcopy=False)).finished)
            bar = _Progress(n_trials * spec.replicates, progress, pool.last_finished)
            _supervise(pool, bar, stop)
        finally:
            shutil.rmtree(split_cache, ignore_errors=True)
    return RunSummary(
        study=study,
        counts=count_trials(study.get_trials(deepcopy=False)),
        slots=slots,
        interrupted=stop["requested"],
        restarts=pool.restarts,
        elapsed=time.time() - started,
        worker_exit_codes=pool.exit_codes,
    )


def _supervise(pool: _Workers, bar: _Progress, stop: dict[str, bool]) -> None:
    """Poll the workers and the storage until every worker has exited or a stop is requested."""
    try:
        pool.start()
        while pool.procs and not stop["requested"]:
            time.sleep(POLL_SECONDS)
            pool.reap()
            counts = count_trials(pool.study.get_trials(deepcopy=False))
            pool.progressed(counts)
            bar.update(counts)
        if stop["requested"]:
            _stop_workers(pool.procs, pool.study)
    finally:
        bar.update(count_trials(pool.study.get_trials(deepcopy=False)))
        bar.close()


def warn_inert_arms(spec: StudySpec) -> None:
    """On stderr, before any worker starts: each arm whose declared space mostly cannot adjust (it still runs).

    Said after every check a bad request fails (devices, storage), so a usage error stays one line.
    """
    for line in inert_warnings(spec):
        print(line, file=sys.stderr)


def _split_cache(spec: StudySpec) -> str:
    """A temporary folder with the study's prepared splits, for the workers (removed at the end)."""
    folder = tempfile.mkdtemp(prefix="dynsearch-splits-")
    try:
        write_split_cache(spec, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _resolve_pack(pack: int | str | None, spec: StudySpec, slots: list[WorkerSlot], show: bool, split_cache: str
                  ) -> int | str:
    """The pack size for the workers, printed at start: ``auto`` sized on the splits prepared for them,
    for one of ``len(slots)`` workers. A GPU worker resolves ``auto`` itself, from its own device's
    free memory."""
    requested = spec.pack if pack is None else pack
    unpackable = engine_unsupported([], [spec.train])
    if unpackable:  # said once, for the whole run: every trial of such a study trains on its own
        print(f"pack: trials train one per worker: {unpackable}", file=sys.stderr)
        return 1
    if requested == "auto" and slots and slots[0].device == "cuda":
        return "auto"
    loaded = [read_cached_splits(split_cache, ds, spec.split_seed, torch.device("cpu")) for ds in spec.datasets]
    choice = choose_pack(requested, spec, "cpu", [d for d in loaded if d is not None], len(slots))  # type: ignore[misc]
    if show:
        print(f"pack: up to {choice.reason} trials of the same shape per worker", file=sys.stderr)
    return choice.size


def _stop_workers(procs: dict[int, subprocess.Popen], study: optuna.Study) -> None:
    """SIGTERM every worker (they fail and re-queue their trial), then SIGKILL stragglers."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    end = time.time() + STOP_GRACE_SECONDS
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, end - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    recover_dead_local_workers(study, dead_pids=[p.pid for p in procs.values()])
