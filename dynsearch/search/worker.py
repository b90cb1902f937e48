"""One worker process: claim queued trials of a study, run them, tell the storage, until none are left.

Ctrl-C and SIGTERM set a flag that the trainer checks before every batch, so a worker stops within
one batch, never in the middle of a storage write; the trial it was running is marked FAIL and
re-queued, and the same command resumes it later.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Sequence

import optuna
import torch
from optuna.trial import TrialState

from ..train import TrainingInterrupted
from ._optuna import heartbeat_enabled, stale_trial_ids, storage_of, trial_id_of
from .objective import Objective, TrialPlan, write_attrs
from .packing import PackChoice, choose_pack, engine_options, warm_up
from .samplers import make_pruner, make_sampler
from .split_cache import CACHE_ENV
from .storage import grace_period, heartbeat_interval, open_storage
from .study import (
    REASON_ATTR,
    WORKER_ATTR,
    claim_waiting_trials,
    fail_and_requeue,
    load_spec,
    recover_dead_local_workers,
    replace_failed,
)  # fmt: skip

__all__ = ["run_worker", "WorkerResult", "StopFlag"]

_log = logging.getLogger("dynsearch.worker")
# How long an idle worker waits between looks at the queue while other trials still run. Short: at the
# end of a study every worker but the last waits here, and the run ends only when all have left.
IDLE_POLL_SECONDS = 0.25


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
    pack_size: int = 1


class _Heartbeat:
    """Record a heartbeat for each running trial every few seconds (RDB storages only)."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_ids: Sequence[int]) -> None:
        self._store, self._trial_ids = storage, list(trial_ids)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if heartbeat_enabled(self._store):
            self._beat_once()
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def _beat_once(self) -> None:
        for trial_id in self._trial_ids:
            self._store.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    def _beat(self) -> None:
        while not self._stop.wait(heartbeat_interval()):
            try:
                self._beat_once()
            except Exception:  # a missed beat is retried next interval
                _log.debug("heartbeat failed", exc_info=True)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _recover_stale(study: optuna.Study) -> int:
    """Fail and re-queue trials whose worker is gone (heartbeat on RDB, dead local pid anywhere)."""
    before = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    storage = storage_of(study)
    for trial_id in stale_trial_ids(study):
        owner = storage.get_trial_system_attrs(trial_id).get(WORKER_ATTR, "of unknown host")
        fail_and_requeue(study, trial_id, f"no heartbeat from worker {owner} for over {grace_period()} s; re-queued")
    recover_dead_local_workers(study)
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) - before


def _claim_limit(study: optuna.Study, pack_size: int, share: int) -> int:
    """Up to ``pack_size`` trials, but no more than this worker's share of the queue, so the last
    trials spread over the workers instead of piling into one pack."""
    if pack_size <= 1:
        return 1
    waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    return max(1, min(pack_size, math.ceil(waiting / max(1, share))))


def run_worker(
    study_name: str,
    storage_url: str,
    *,
    device: str = "cpu",
    threads: int | None = None,
    worker_index: int = 0,
    deadline: float | None = None,
    stop: StopFlag | None = None,
    pack: int | str | None = None,
    share: int = 1,
    announce: bool = False,
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
        pack: trials trained together (``"auto"``: chosen from the device and the model, see
            ``packing.choose_pack``; None: the study's ``pack``); 1 trains one trial at a time.
        share: how many workers share the queue; a pack takes at most its share of what is queued.
        announce: print the pack size chosen for ``auto`` on stderr.
    """
    if threads:
        torch.set_num_threads(threads)
    if stop is None:
        stop = StopFlag()
        stop.install()
    study, objective = _join(study_name, storage_url, device, worker_index, stop)
    requested = objective.spec.pack if pack is None else pack
    choice = choose_pack(requested if requested != "auto" else 1, objective.spec, device)
    return _serve(study, objective, choice, auto=requested == "auto", share=share, stop=stop, deadline=deadline,
                  announce=announce)  # fmt: skip


def _serve(
    study: optuna.Study, objective: Objective, choice: PackChoice, *, auto: bool, share: int, stop: StopFlag,
    deadline: float | None, announce: bool,
) -> WorkerResult:  # fmt: skip
    """Claim and run packs of queued trials until the queue is empty and nothing else runs."""
    result = WorkerResult(pack_size=choice.size)
    warmed = False
    while not stop.requested:
        if deadline is not None and time.time() >= deadline:
            break
        if not warmed and study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            # Once, before the first trial's clock starts (and before claiming: a claimed trial waits
            # for nothing); a worker with nothing to do skips it. ``auto`` is sized on the splits it loads.
            loaded = warm_up(objective)
            warmed = True
            if auto:
                choice = choose_pack("auto", objective.spec, str(objective.device), loaded, share)
                result.pack_size = choice.size
                if announce:
                    print(f"pack: up to {choice.reason} trials of the same shape", file=sys.stderr)
        claimed = claim_waiting_trials(study, _claim_limit(study, choice.size, share))
        if not claimed:
            if _recover_stale(study) > 0:
                continue
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                break
            time.sleep(IDLE_POLL_SECONDS)  # others still run: one of them may die and need a retry
            continue
        result.ran += len(claimed)
        for state in _run_pack(study, claimed, objective, stop):
            if state == TrialState.COMPLETE:
                result.complete += 1
            elif state == TrialState.PRUNED:
                result.pruned += 1
            elif state == TrialState.FAIL:
                result.failed += 1
    result.interrupted = stop.requested
    return result


def _join(
    study_name: str, storage_url: str, device: str, worker_index: int, stop: StopFlag
) -> tuple[optuna.Study, Objective]:
    """The study with this worker's samplers and pruner, and its objective."""
    storage = open_storage(storage_url)
    spec = load_spec(optuna.load_study(study_name=study_name, storage=storage))
    study = optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=make_sampler(spec.sampler, worker_index),
        pruner=make_pruner(spec.pruner, spec.train.epochs * len(spec.datasets)),
    )
    objective = Objective(
        spec, device, should_stop=stop, pack_options=engine_options(spec), split_cache=os.environ.get(CACHE_ENV)
    )
    return study, objective


def _run_pack(study: optuna.Study, trial_ids: list[int], objective: Objective, stop: StopFlag) -> list[TrialState | None]:
    """Plan every claimed trial, train them in packs of equal shape and split, and tell the storage."""
    states: list[TrialState | None] = []
    with _Heartbeat(storage_of(study), trial_ids):
        plans: list[TrialPlan] = []
        for trial_id in trial_ids:
            trial = optuna.Trial(study, trial_id)
            try:
                plans.append(objective.plan(trial))
            except optuna.exceptions.UpdateFinishedTrialError:
                states.append(None)
            except Exception as exc:
                states.append(_fail(study, trial, exc, objective.device))
        write_attrs(plans)
        groups: dict[Any, list[TrialPlan]] = {}
        for plan in plans:
            groups.setdefault(plan.pack_group, []).append(plan)
        for group in groups.values():
            try:
                objective.run_pack(group)
            except (TrainingInterrupted, KeyboardInterrupt):
                # Within one batch of the signal: every unfinished trial of this worker goes back to the
                # queue; members the pack had already settled (pruned, failed) are told as such.
                reason = f"interrupted ({stop.signal_name or 'stop requested'}); re-queued"
                for plan in plans:
                    if plan.outcome is None:
                        fail_and_requeue(study, trial_id_of(plan.trial), reason)
                        plan.outcome = ("requeued", "")
                write_attrs([plan for plan in group if plan.outcome[0] != "requeued"])  # type: ignore[index]
                states += [_tell(study, plan, objective.device) for plan in group if plan.outcome[0] != "requeued"]  # type: ignore[index]  # all set just above
                break
            write_attrs(group)
            for plan in group:
                states.append(_tell(study, plan, objective.device))
    return states


def _tell(study: optuna.Study, plan: TrialPlan, device: torch.device) -> TrialState | None:
    payload: Any  # the value(s) when complete, else the error
    kind, payload = plan.outcome or ("fail", RuntimeError("the pack ended without an outcome"))
    trial = plan.trial
    try:
        if kind == "complete":
            study.tell(trial, payload, skip_if_finished=True)
            return TrialState.COMPLETE
        if kind == "pruned":
            study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
            _log.info("trial %d pruned: %s", trial.number, payload)
            return TrialState.PRUNED
        if kind == "fail":
            return _fail(study, trial, payload, device)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass
    # Another process failed (and re-queued) this trial, e.g. after our heartbeats stopped reaching
    # the database for longer than the grace period: drop it and go on.
    _log.warning("trial %d was finished by another worker (missed heartbeats?); dropped", trial.number)
    return None


def _fail(study: optuna.Study, trial: optuna.Trial, exc: BaseException, device: torch.device) -> TrialState | None:
    """FAIL with the reason, and queue a fresh draw of its arm so budgets stay equal in finished trials."""
    reason = _failure_reason(exc, device)
    try:
        trial.set_user_attr(REASON_ATTR, reason)
    except optuna.exceptions.UpdateFinishedTrialError:
        return None
    frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    _log.warning("trial %d failed: %s", trial.number, reason)
    _log.debug("%s", "".join(traceback.format_exception(exc)))
    if frozen.state == TrialState.FAIL:
        replace_failed(study, frozen)
    return TrialState.FAIL


def _failure_reason(exc: BaseException, device: torch.device) -> str:
    if isinstance(exc, torch.OutOfMemoryError):
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return f"out of memory on {device}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
