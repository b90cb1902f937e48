"""Every use of Optuna's private API in dynsearch, in one place.

Optuna's public API has no way to claim a queued trial atomically, to read stale heartbeats, or to
show a sampler or pruner only some of a study's trials. These functions do it with the few private
names that allow it; ``tests/test_optuna_adapter.py`` checks each one against the installed Optuna,
so an Optuna release that changes one fails there, by name, and not somewhere in a worker.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, Callable, Container, Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "storage_of",
    "study_id_of",
    "trial_id_of",
    "heartbeat_enabled",
    "stale_trial_ids",
    "open_rdb_storage",
    "trial_subset_view",
    "write_user_attrs",
    "ReportBatch",
]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage object a study reads and writes (``Study._storage``)."""
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    """The study's id on its storage (``Study._study_id``)."""
    return study._study_id


def trial_id_of(trial: FrozenTrial | optuna.Trial) -> int:
    """The trial's id on its storage (``_trial_id``); unlike ``number`` it addresses the storage."""
    return trial._trial_id


def heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """Whether the storage records heartbeats (an RDB storage opened with a heartbeat interval).

    A study wraps an RDBStorage in Optuna's private ``_CachedStorage``, so this asks for the
    capability, not for the class.
    """
    # optuna's storage internals load only where a storage of that kind is used
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage)


def stale_trial_ids(study: optuna.Study) -> list[int]:
    """Ids of RUNNING trials whose heartbeat is older than the storage's grace period.

    Not ``optuna.storages.fail_stale_trials``: that fails them without a reason and hands them to
    the retry callback as they are, so a copy would inherit the dead owner.
    """
    storage = storage_of(study)
    if not heartbeat_enabled(storage):
        return []
    return list(storage._get_stale_trial_ids(study_id_of(study)))  # type: ignore[attr-defined]


def open_rdb_storage(url: str, *, heartbeat_interval: int | None, grace_period: int | None, **kwargs: Any) -> Any:
    """``RDBStorage(url, ...)``, with Optuna's notice that heartbeats are experimental silenced here
    only (dynsearch relies on them on purpose; no process-wide warning filter)."""
    # optuna's storage internals load only where a storage of that kind is used
    from optuna.storages import RDBStorage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if heartbeat_interval is None:
            return RDBStorage(url, **kwargs)
        return RDBStorage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period, **kwargs)


class _TrialSubsetStorage:
    """A storage that lists only the trials ``keep`` accepts; everything else goes to ``inner``.

    Samplers and pruners read a study's history through ``storage.get_all_trials`` (Optuna's
    Hyperband pruner even builds its own Study on the storage), so filtering there reaches all of them.
    """

    def __init__(self, inner: optuna.storages.BaseStorage, keep: Callable[[FrozenTrial], bool]) -> None:
        self._inner = inner
        self._keep = keep

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return [t for t in self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states) if self._keep(t)]

    def get_n_trials(self, study_id: int, state: Any = None) -> int:
        states = None if state is None else (state if isinstance(state, tuple) else (state,))
        return len(self.get_all_trials(study_id, deepcopy=False, states=states))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def trial_subset_view(study: optuna.Study, keep: Callable[[FrozenTrial], bool]) -> optuna.Study:
    """The same study (name, id, directions, sampler, pruner) seeing only the trials ``keep`` accepts.

    Built without a storage round trip (a shallow copy gets a fresh trial cache), so a sampler or
    pruner may build one per call.
    """
    view = copy.copy(study)
    view._storage = _TrialSubsetStorage(storage_of(study), keep)  # type: ignore[assignment]
    return view


def write_user_attrs(attrs: Mapping[optuna.Trial, Mapping[str, Any]]) -> set[optuna.Trial]:
    """Set user attributes of several running trials of one study; returns the trials that another
    process had already finished (nothing is written to those).

    On a journal file storage every attribute of every trial goes in one append (one file lock and
    one fsync, about 4 ms, instead of one per attribute: a pack of K trials writes 8K of them).
    Any other storage gets one ``set_user_attr`` per attribute. Attributes already stored with the
    same value are not written again.
    """
    # optuna's storage internals load only where a storage of that kind is used
    from optuna.storages.journal._storage import JournalOperation

    pending: dict[optuna.Trial, dict[str, Any]] = {}
    for trial, kv in attrs.items():
        stored = trial.user_attrs
        changed = {k: v for k, v in kv.items() if stored.get(k, _MISSING) != v}
        if changed:
            pending[trial] = changed
    if not pending:
        return set()
    finished = _store_per_trial(
        pending,
        lambda key, value: (JournalOperation.SET_TRIAL_USER_ATTR, {"user_attr": {key: value}}),
        lambda trial, key, value: trial.set_user_attr(key, value),
    )
    if not _is_journal(next(iter(pending))):
        return finished
    for trial, kv in pending.items():
        if trial not in finished:  # what trial.user_attrs returns; a fresh copy, never the storage's own record
            fresh = copy.copy(trial._cached_frozen_trial)
            fresh.user_attrs = {**fresh.user_attrs, **copy.deepcopy(dict(kv))}
            trial._cached_frozen_trial = fresh
    return finished


_MISSING = object()


class ReportBatch:
    """Intermediate values reported to running trials, stored together by ``flush``.

    ``report`` does what ``Trial.report`` does (a step already reported is ignored) except the
    storage write: the value goes into the trial's own copy at once, which is what
    ``Trial.should_prune`` hands the pruner, and into the batch. ``flush`` stores the batch in one
    append on a journal file (a pack's members report every epoch: K writes become one), one
    write per value elsewhere. Flush before telling a pruned trial: its value is its last report.
    """

    def __init__(self) -> None:
        self.pending: dict[optuna.Trial, dict[int, float]] = {}

    def report(self, trial: optuna.Trial, step: int, value: float) -> None:
        cached = trial._cached_frozen_trial
        if step in cached.intermediate_values:
            return
        # A fresh copy: on a journal the trial's copy may still be the storage's own record.
        fresh = copy.copy(cached)
        fresh.intermediate_values = {**cached.intermediate_values, step: float(value)}
        trial._cached_frozen_trial = fresh
        self.pending.setdefault(trial, {})[step] = float(value)

    def flush(self) -> set[optuna.Trial]:
        """Store what is pending; returns the trials another process had finished (not written)."""
        # optuna's storage internals load only where a storage of that kind is used
        from optuna.storages.journal._storage import JournalOperation

        pending, self.pending = self.pending, {}
        return _store_per_trial(
            pending,
            lambda step, value: (JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE, {"step": step, "intermediate_value": value}),
            lambda trial, step, value: storage_of(trial.study).set_trial_intermediate_value(trial_id_of(trial), step, value),
        )


def _is_journal(trial: optuna.Trial) -> bool:
    # optuna's storage internals load only where a storage of that kind is used
    from optuna.storages.journal import JournalStorage

    return isinstance(storage_of(trial.study), JournalStorage)


def _store_per_trial(
    pending: Mapping[optuna.Trial, Mapping[Any, Any]],
    journal_operation: Callable[[Any, Any], tuple[Any, dict[str, Any]]],
    write_one: Callable[[optuna.Trial, Any, Any], None],
) -> set[optuna.Trial]:
    """Store each trial's ``(key, value)`` pairs (all trials of one study); returns the trials that
    another process had already finished (nothing is written to those).

    On a journal file storage every pair of every trial goes in one append (one file lock and one
    fsync instead of one per pair), as the operation ``journal_operation(key, value)`` gives: its
    op code and its fields besides the worker and trial. Any other storage gets
    ``write_one(trial, key, value)`` per pair.
    """
    # optuna's storage internals load only where a storage of that kind is used
    from optuna.storages.journal import JournalStorage

    if not pending:
        return set()
    storage = storage_of(next(iter(pending)).study)
    finished: set[optuna.Trial] = set()
    if not isinstance(storage, JournalStorage):
        for trial, values in pending.items():
            try:
                for key, value in values.items():
                    write_one(trial, key, value)
            except optuna.exceptions.UpdateFinishedTrialError:
                finished.add(trial)
        return finished
    with storage._thread_lock:
        storage._sync_with_backend()
        replay = storage._replay_result
        finished = {t for t in pending if replay.get_trial(trial_id_of(t)).state.is_finished()}
        logs = []
        for trial, values in pending.items():
            if trial in finished:
                continue
            for key, value in values.items():
                op_code, fields = journal_operation(key, value)
                logs.append({"op_code": op_code, "worker_id": replay.worker_id, "trial_id": trial_id_of(trial), **fields})
        storage._backend.append_logs(logs)
        _sync_past_finished(storage)
    return finished


def _sync_past_finished(storage: Any) -> None:
    """Read the journal to its end. A trial another process finished between our check and our
    append raises once per attribute of ours on replay; its later tell reports it as dropped."""
    while True:
        try:
            storage._sync_with_backend()
            return
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # the replay counted that line as read: go on from the next one
