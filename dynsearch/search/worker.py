"""One worker process: claim queued trials of a study, run them, tell the storage, until none are left.

Ctrl-C and SIGTERM set a flag that the trainer checks before every batch, so a worker stops within
one batch, never in the middle of a storage write; the trial it was running is marked FAIL and
re-queued, and the same command resumes it later.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import optuna
import torch
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState

from ..train import TrainingInterrupted
from .objective import Objective
from .samplers import make_pruner, make_sampler
from .storage import grace_period, heartbeat_interval, open_storage
from .study import REASON_ATTR, WORKER_ATTR, claim_waiting_trial, fail_and_requeue, load_spec, recover_dead_local_workers

__all__ = ["run_worker", "WorkerResult", "StopFlag"]

_log = logging.getLogger("dynsearch.worker")
# How long an idle worker waits between looks at the queue while other trials still run.
IDLE_POLL_SECONDS = 1.0


class StopFlag:
    """Set by SIGINT/SIGTERM; read by the trainer before every batch."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.requested = True
            self.signal_name = signal.Signals(signum).name

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


@dataclass
class WorkerResult:
    ran: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    interrupted: bool = False


class _Heartbeat:
    """Record a heartbeat for the running trial every few seconds (RDB storages only)."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int) -> None:
        self._storage, self._trial_id = storage, trial_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        # study._storage wraps an RDBStorage in Optuna's _CachedStorage: ask for the heartbeat
        # capability, not for the class.
        if is_heartbeat_enabled(self._storage):
            self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(heartbeat_interval()):
            try:
                self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]
            except Exception:  # a missed beat is retried next interval
                _log.debug("heartbeat failed", exc_info=True)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _recover_stale(study: optuna.Study) -> int:
    """Fail and re-queue trials whose worker is gone (heartbeat on RDB, dead local pid anywhere)."""
    before = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    storage = study._storage
    if is_heartbeat_enabled(storage):
        # Not optuna.storages.fail_stale_trials: it hands the stale trial to the retry callback as
        # is, so the failure would have no reason and the copy would inherit the dead owner.
        for trial_id in storage._get_stale_trial_ids(study._study_id):  # type: ignore[attr-defined]
            owner = storage.get_trial_system_attrs(trial_id).get(WORKER_ATTR, "of unknown host")
            fail_and_requeue(study, trial_id, f"no heartbeat from worker {owner} for over {grace_period()} s; re-queued")
    recover_dead_local_workers(study)
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) - before


def run_worker(
    study_name: str,
    storage_url: str,
    *,
    device: str = "cpu",
    threads: int | None = None,
    worker_index: int = 0,
    deadline: float | None = None,
    stop: StopFlag | None = None,
) -> WorkerResult:
    """Run queued trials of ``study_name`` until the queue is empty and nothing else runs.

    Args:
        study_name: the study to join.
        storage_url: its storage (journal:PATH or an Optuna RDB URL).
        device: torch device of this worker ("cpu", "cuda" after CUDA_VISIBLE_DEVICES pinning).
        threads: torch intra-op threads (so several CPU workers don't oversubscribe the cores).
        worker_index: offsets the sampler seed, so parallel workers draw different parameters.
        deadline: a ``time.time()`` after which no new trial is claimed.
        stop: the flag signals set; a fresh one is installed when omitted.
    """
    if threads:
        torch.set_num_threads(threads)
    if stop is None:
        stop = StopFlag()
        stop.install()
    storage = open_storage(storage_url)
    spec = load_spec(optuna.load_study(study_name=study_name, storage=storage))
    study = optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=make_sampler(spec.sampler, worker_index),
        pruner=make_pruner(spec.pruner, spec.train.epochs * len(spec.datasets)),
    )
    objective = Objective(spec, device, should_stop=stop)
    result = WorkerResult()
    while not stop.requested:
        if deadline is not None and time.time() >= deadline:
            break
        trial_id = claim_waiting_trial(study)
        if trial_id is None:
            if _recover_stale(study) > 0:
                continue
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                break
            time.sleep(IDLE_POLL_SECONDS)  # others still run: one of them may die and need a retry
            continue
        result.ran += 1
        state = _run_trial(study, trial_id, objective, stop)
        if state == TrialState.COMPLETE:
            result.complete += 1
        elif state == TrialState.PRUNED:
            result.pruned += 1
        elif state == TrialState.FAIL:
            result.failed += 1
    result.interrupted = stop.requested
    return result


def _run_trial(study: optuna.Study, trial_id: int, objective: Objective, stop: StopFlag) -> TrialState | None:
    trial = optuna.Trial(study, trial_id)
    with _Heartbeat(study._storage, trial_id):
        try:
            value = objective(trial)
        except optuna.TrialPruned as exc:
            study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
            _log.info("trial %d pruned: %s", trial.number, exc)
            return TrialState.PRUNED
        except (TrainingInterrupted, KeyboardInterrupt):
            fail_and_requeue(study, trial_id, f"interrupted ({stop.signal_name or 'stop requested'}); re-queued")
            return None
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another process failed (and re-queued) this trial, e.g. after our heartbeats stopped
            # reaching the database for longer than the grace period: drop it and go on.
            _log.warning("trial %d was finished by another worker (missed heartbeats?); dropped", trial.number)
            return None
        except Exception as exc:
            reason = _failure_reason(exc, objective.device)
            try:
                trial.set_user_attr(REASON_ATTR, reason)
            except optuna.exceptions.UpdateFinishedTrialError:
                return None
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            _log.warning("trial %d failed: %s", trial.number, reason)
            _log.debug("%s", traceback.format_exc())
            return TrialState.FAIL
    study.tell(trial, value, skip_if_finished=True)
    return TrialState.COMPLETE


def _failure_reason(exc: BaseException, device: torch.device) -> str:
    if isinstance(exc, torch.OutOfMemoryError):
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return f"out of memory on {device}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
