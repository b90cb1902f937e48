"""``dynsearch run --cluster``: the study's workers as Ray actors, supervised from this process.

The driver queues the budget as ``dynsearch run`` does, starts the actors, shows the same progress bar
(fed from the storage), re-invokes the loop of an actor that Ray restarted, and recovers the trials of
dead actors: on this host by their pid, elsewhere by their heartbeat (RDB storages).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import optuna

from ..config import StudySpec
from ..search.runner import POLL_SECONDS, STOP_GRACE_SECONDS, RunSummary, _Progress, _stop_requests, warn_inert_arms
from ..search.storage import _journal_path, is_journal, open_storage
from ..search.study import count_trials, prepare_study
from ..search.worker import _recover_stale
from ._actors import ActorSlot, plan_actors, start_actor
from ._connect import ClusterInfo, check_storage_for_cluster, require_ray

__all__ = ["run_study_on_cluster"]

# Passed on to the actors: the heartbeat settings and the like. Never DYNSEARCH_STORAGE: runtime
# environments are shown by Ray's dashboard, so the URL (and its password) goes as an argument instead.
_ENV_PREFIX = "DYNSEARCH_"
_ENV_KEEP_OUT = ("DYNSEARCH_STORAGE",)


def _actor_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIX) and k not in _ENV_KEEP_OUT}


def _absolute(storage_url: str) -> str:
    """A journal path the actors find whatever their working directory (Ray starts them elsewhere)."""
    if is_journal(storage_url):
        return f"journal:{_journal_path(storage_url).resolve()}"
    return storage_url


@dataclass
class _Actors:
    """The actors of one run and their pending ``run()`` calls."""

    slots: list[ActorSlot]
    study: optuna.Study
    deadline: float | None
    handles: dict[int, Any] = field(default_factory=dict)
    pending: dict[Any, int] = field(default_factory=dict)  # run() ref -> slot index
    restarts: int = 0
    unproductive: int = 0
    last_finished: int = 0
    exit_codes: list[int] = field(default_factory=list)

    def start(self, study_name: str, storage_url: str, options: dict[str, Any]) -> None:
        env = _actor_env()
        for slot in self.slots:
            self.handles[slot.index] = start_actor(slot, study_name, storage_url, options, env)
        for index, handle in self.handles.items():
            self.pending[handle.run.remote()] = index

    def reap(self, ray: Any) -> None:
        """Collect finished run() calls; one that died has its trials recovered and runs again."""
        done, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=POLL_SECONDS)
        for ref in done:
            index = self.pending.pop(ref)
            try:
                result = ray.get(ref)
                self.exit_codes.append(130 if result.get("interrupted") else 0)
            except ray.exceptions.RayError:  # the actor died (killed, out of memory, node lost) or its loop raised
                self.exit_codes.append(1)
                _recover_stale(self.study)
                if self.unproductive < 3 * len(self.slots) and (self.deadline is None or time.time() < self.deadline):
                    # Ray restarts the actor (max_restarts); the call waits for it, then runs the loop again.
                    self.restarts += 1
                    self.unproductive += 1
                    self.pending[self.handles[index].run.remote()] = index

    def progressed(self, finished: int) -> None:
        if finished > self.last_finished:
            self.unproductive, self.last_finished = 0, finished

    def stop(self, ray: Any) -> None:
        """Ask every actor to stop (each fails and re-queues its trials), then kill those that do not."""
        for handle in self.handles.values():
            handle.stop.remote()
        if self.pending:
            ray.wait(list(self.pending), num_returns=len(self.pending), timeout=STOP_GRACE_SECONDS)

    def close(self, ray: Any) -> None:
        for handle in self.handles.values():
            ray.kill(handle, no_restart=True)
        self.handles.clear()
        self.pending.clear()
        # A killed straggler's trials: by pid on this host, or by heartbeat once its grace period passed.
        _recover_stale(self.study)


def run_study_on_cluster(
    spec: StudySpec,
    storage_url: str,
    cluster: ClusterInfo,
    *,
    n_trials: int,
    timeout: float | None = None,
    workers: str | int = "auto",
    per_device: int = 1,
    progress: bool = True,
    log_level: int = 30,
    pack: int | str | None = None,
) -> RunSummary:
    """Queue the study's budget, run it on the cluster's actors until it is done, and summarise.

    The cluster is already joined (``connect``); bad requests raise ClusterError or ValueError before
    the storage is touched.
    """
    ray = require_ray()
    check_storage_for_cluster(storage_url, cluster.nodes)
    slots = plan_actors(cluster.cpus, cluster.gpus, workers, per_device)
    storage_url = _absolute(storage_url)
    study = prepare_study(spec, open_storage(storage_url), storage_url, n_trials)
    warn_inert_arms(spec)
    deadline = time.time() + timeout if timeout else None
    options = {"deadline": deadline, "pack": spec.pack if pack is None else pack, "share": len(slots),
               "log_level": log_level}
    started = time.time()
    pool = _Actors(slots, study, deadline, last_finished=count_trials(study.get_trials(deepcopy=False)).finished)
    with _stop_requests() as stop:
        bar = _Progress(n_trials * spec.replicates, progress, pool.last_finished)
        try:
            pool.start(spec.name, storage_url, options)
            while pool.pending and not stop["requested"]:
                pool.reap(ray)
                counts = count_trials(study.get_trials(deepcopy=False))
                pool.progressed(counts.finished)
                bar.update(counts)
            if stop["requested"]:
                pool.stop(ray)
        finally:
            pool.close(ray)
            bar.update(count_trials(study.get_trials(deepcopy=False)))
            bar.close()
    return RunSummary(
        study=study, counts=count_trials(study.get_trials(deepcopy=False)), slots=list(slots),
        interrupted=stop["requested"], restarts=pool.restarts, elapsed=time.time() - started,
        worker_exit_codes=pool.exit_codes,
    )  # fmt: skip
