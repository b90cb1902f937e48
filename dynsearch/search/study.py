"""Studies on a storage: create or resume, queue the budget per arm, recover dead workers' trials.

The budget is a queue. ``prepare_study`` enqueues one WAITING trial per missing slot, with its arm
fixed, under a lock, so two ``run`` processes never double it. Workers claim WAITING trials
atomically and never create trials of their own, which is why a study ends with exactly the
requested number of finished trials however many workers share it. A trial whose worker dies or
is interrupted is marked FAIL and re-queued with the same parameters.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Literal, cast

import optuna
from optuna.trial import FrozenTrial, TrialState

from .._version import __version__
from ..config import StudySpec
from ..selection import ARM_PARAM, REPLACES_ATTR, best_per_arm, retried_numbers
from ._optuna import storage_of, study_id_of, trial_id_of
from .samplers import REPLICATE_ATTR, SPLIT_SEED_ATTR, trial_stream
from .storage import MAX_RETRY, budget_lock, mask_url, open_storage

__all__ = [
    "SPEC_ATTR",
    "WORKER_ATTR",
    "REASON_ATTR",
    "arm_budgets",
    "prepare_study",
    "load_spec",
    "claim_waiting_trial",
    "claim_waiting_trials",
    "replace_failed",
    "fail_and_requeue",
    "recover_dead_local_workers",
    "StudyCounts",
    "count_trials",
    "worker_id",
    "best_per_arm",
    "describe_params",
    "list_studies",
]

SPEC_ATTR = "dynsearch_spec"
WORKER_ATTR = "dynsearch_worker"
REASON_ATTR = "fail_reason"
# System attribute of a fresh trial queued in place of a failed one: the failed trial's number.


def worker_id(pid: int | None = None) -> str:
    """``host:pid`` of a worker process, stored on the trials it runs."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def arm_budgets(arms: list[str], n_trials: int) -> dict[str, int]:
    """Split ``n_trials`` over the arms as evenly as possible (earlier arms take any remainder)."""
    base, extra = divmod(n_trials, len(arms))
    return {arm: base + (1 if i < extra else 0) for i, arm in enumerate(arms)}


def _directions(spec: StudySpec) -> list[Literal["minimize", "maximize"]]:
    # one definition: config's OBJECTIVE_DIRECTIONS, which holds only these two words
    return cast('list[Literal["minimize", "maximize"]]', spec.directions)


def _slot_arm(trial: FrozenTrial) -> str | None:
    return trial_stream(trial)[1]


def _queue_order(missing: dict[tuple[int, Any], int]) -> list[tuple[int, Any]]:
    """Round-robin over replicates and arms (not blocks): the queue alternates arms, so every arm's
    sampler gets its trials at the same pace and a run cut short leaves the arms even."""
    order: list[tuple[int, Any]] = []
    for round_ in range(max(missing.values(), default=0)):
        order += [stream for stream, n in missing.items() if n > round_]
    return order


def _stream_attrs(spec: StudySpec, replicate: int) -> dict[str, int]:
    return {REPLICATE_ATTR: replicate, SPLIT_SEED_ATTR: spec.replicate_split_seed(replicate)}


def prepare_study(spec: StudySpec, storage: optuna.storages.BaseStorage, storage_url: str, n_trials: int) -> optuna.Study:
    """Create or load the study and queue whatever is missing to reach ``n_trials`` slots in each of
    the study's ``replicates`` (so ``n_trials × replicates`` in all)."""
    with budget_lock(storage_url, spec.name):
        study = optuna.create_study(
            study_name=spec.name, storage=storage, directions=_directions(spec), load_if_exists=True
        )
        stored = study.user_attrs.get(SPEC_ATTR)
        if stored is None:
            stored_spec = spec.to_dict()
            if stored_spec.get("storage"):
                # The study file may name the storage with its password: never store that in the database.
                stored_spec["storage"] = mask_url(stored_spec["storage"])
            study.set_user_attr(SPEC_ATTR, stored_spec)
            study.set_user_attr("dynsearch_version", __version__)
        elif _differs(stored, spec):
            raise ValueError(
                f"{spec.path}: study {spec.name!r} already exists on this storage with a different search space "
                "or datasets; rename the study (name = ...) or use another storage"
            )
        recover_dead_local_workers(study)
        trials = study.get_trials(deepcopy=False)
        succeeded = retried_numbers(trials)
        used = Counter(trial_stream(t) for t in trials if not (t.state == TrialState.FAIL and t.number in succeeded))
        budgets = arm_budgets(list(spec.arms), n_trials)
        missing = {
            (r, arm): budget - used.get((r, arm), 0) for r in range(spec.replicates) for arm, budget in budgets.items()
        }
        for replicate, arm in _queue_order(missing):
            study.enqueue_trial({ARM_PARAM: arm}, user_attrs=_stream_attrs(spec, replicate))
    return study


def _differs(stored: dict[str, Any], spec: StudySpec) -> bool:
    """Whether a stored study searches another space or other datasets than ``spec`` (compared as
    parsed specs, so a study stored in an older layout still matches its unchanged file)."""
    old = StudySpec.from_dict(stored)
    return old.search != spec.search or old.datasets != spec.datasets


def load_spec(study: optuna.Study) -> StudySpec:
    """The study spec stored on the study when it was created."""
    data = study.user_attrs.get(SPEC_ATTR)
    if data is None:
        raise ValueError(f"study {study.study_name!r} was not created by dynsearch (no {SPEC_ATTR} attribute)")
    return StudySpec.from_dict(data)


def claim_waiting_trials(study: optuna.Study, limit: int = 1) -> list[int]:
    """Atomically move up to ``limit`` WAITING trials (in queue order) to RUNNING; their ids."""
    storage = storage_of(study)
    claimed: list[int] = []
    for trial in storage.get_all_trials(study_id_of(study), deepcopy=False, states=(TrialState.WAITING,)):
        if len(claimed) >= limit:
            break
        trial_id = trial_id_of(trial)
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                storage.set_trial_system_attr(trial_id, WORKER_ATTR, worker_id())
                claimed.append(trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return claimed


def claim_waiting_trial(study: optuna.Study) -> int | None:
    """Atomically move one WAITING trial to RUNNING and return its id (None when the queue is empty)."""
    claimed = claim_waiting_trials(study, 1)
    return claimed[0] if claimed else None


def fail_and_requeue(study: optuna.Study, trial_id: int, reason: str) -> None:
    """Mark a trial FAIL with ``reason`` and queue a copy with the same parameters (up to MAX_RETRY
    times per slot; after that, a fresh draw of its arm, see ``replace_failed``)."""
    storage = storage_of(study)
    try:
        # Inside the try: the supervisor and a worker (or two workers) may recover the same trial.
        storage.set_trial_user_attr(trial_id, REASON_ATTR, reason)
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return  # it finished after all: nothing to recover
    failed = storage.get_trial(trial_id)
    if not _requeue_copy(study, failed):
        replace_failed(study, failed)


def _requeue_copy(study: optuna.Study, failed: FrozenTrial) -> bool:
    """Queue a WAITING copy of ``failed`` (same parameters and attributes); False past MAX_RETRY."""
    history = [*failed.system_attrs.get("retry_history", []), failed.number]
    if len(history) > MAX_RETRY:
        return False
    # The copy must not inherit the dead owner (a claim sets RUNNING before the new owner, so a
    # recovery in between would fail the copy too) nor this failure's reason.
    system_attrs = {k: v for k, v in failed.system_attrs.items() if k != WORKER_ATTR}
    system_attrs.setdefault("failed_trial", failed.number)
    system_attrs["retry_history"] = history
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=failed.params,
            distributions=failed.distributions,
            user_attrs={k: v for k, v in failed.user_attrs.items() if k != REASON_ATTR},
            system_attrs=system_attrs,
        )
    )
    return True


def replace_failed(study: optuna.Study, failed: FrozenTrial) -> bool:
    """Queue a fresh trial of the failed trial's arm and replicate, so budgets stay equal in finished
    trials; False (the slot stays failed) once a stream has had as many replacements as slots.

    A replacement is a new draw, never the parameters that failed; the cap keeps an arm that always
    fails (a broken strategy) from being tried forever.
    """
    stream = trial_stream(failed)
    if stream[1] is None:
        return False
    mine = [t for t in study.get_trials(deepcopy=False) if trial_stream(t) == stream]
    replaced = {t.system_attrs[REPLACES_ATTR] for t in mine if REPLACES_ATTR in t.system_attrs}
    if failed.number in replaced:
        return True
    slots = sum(1 for t in mine if REPLACES_ATTR not in t.system_attrs and "failed_trial" not in t.system_attrs)
    if len(replaced) >= max(1, slots):
        return False
    attrs = {k: failed.user_attrs[k] for k in (REPLICATE_ATTR, SPLIT_SEED_ATTR) if k in failed.user_attrs}
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            user_attrs=attrs,
            system_attrs={"fixed_params": {ARM_PARAM: stream[1]}, REPLACES_ATTR: failed.number},
        )
    )
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# A RUNNING trial with no owner this long after its start lost its worker between the two claim writes.
UNOWNED_GRACE_SECONDS = 60.0


def _running_for(trial: FrozenTrial) -> float:
    start = trial.datetime_start
    if start is None:
        return 0.0
    return (datetime.now(start.tzinfo) - start).total_seconds()


def recover_dead_local_workers(study: optuna.Study, dead_pids: Iterable[int] = ()) -> int:
    """Fail and re-queue RUNNING trials whose worker on this host is gone; returns how many.

    The journal storage has no heartbeat: whoever supervises workers (or any worker on the same
    host) recovers their trials this way. Trials of other hosts are left to their own machines.
    """
    host = socket.gethostname()
    dead = set(dead_pids)
    recovered = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.system_attrs.get(WORKER_ATTR, "")
        if not owner and _running_for(t) > UNOWNED_GRACE_SECONDS:
            # A claim writes RUNNING, then its owner, milliseconds apart: a worker killed in between
            # leaves a trial nobody would ever recover.
            fail_and_requeue(study, trial_id_of(t), "no worker recorded itself on this trial after claiming it")
            recovered += 1
            continue
        owner_host, _, pid_text = owner.rpartition(":")
        if owner_host != host or not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid in dead or not _pid_alive(pid):
            fail_and_requeue(study, trial_id_of(t), f"worker {owner} died while running this trial")
            recovered += 1
    return recovered


@dataclass(frozen=True)
class StudyCounts:
    """Trial counts by state and the best value so far (None before any complete trial)."""

    complete: int
    pruned: int
    failed: int
    running: int
    waiting: int
    best: float | None

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def count_trials(trials: list[FrozenTrial], maximize: bool = True) -> StudyCounts:
    states = Counter(t.state for t in trials)
    values = [t.values[0] for t in trials if t.state == TrialState.COMPLETE and t.values]
    best = (max(values) if maximize else min(values)) if values else None
    return StudyCounts(
        complete=states[TrialState.COMPLETE],
        pruned=states[TrialState.PRUNED],
        failed=states[TrialState.FAIL],
        running=states[TrialState.RUNNING],
        waiting=states[TrialState.WAITING],
        best=best,
    )


def describe_params(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's strategy parameters as stored (falls back to the raw Optuna params)."""
    strategy = trial.user_attrs.get("strategy")
    params = dict(strategy["params"]) if strategy else {k: v for k, v in trial.params.items() if k != ARM_PARAM}
    params.update({k: trial.params[k] for k in ("lr", "width") if k in trial.params})
    return params


def list_studies(storage_url: str) -> list[tuple[str, int, int, int, int, int, str]]:
    """``(name, complete, pruned, failed, running, waiting, best)`` for every study on a storage."""
    storage = open_storage(storage_url, heartbeat=False)
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        c = count_trials(study.get_trials(deepcopy=False), maximize=maximize)
        best = "-" if c.best is None else f"{c.best:.4f}"
        rows.append((summary.study_name, c.complete, c.pruned, c.failed, c.running, c.waiting, best))
    return rows
