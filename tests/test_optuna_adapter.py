"""The Optuna internals dynsearch relies on (all in ``dynsearch.search._optuna``), each checked against
the installed Optuna: if a release renames or changes one, the failure names it here."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dynsearch.search import _optuna
from dynsearch.search.storage import open_storage


@pytest.fixture()
def journal_study(tmp_path: Path) -> optuna.Study:
    storage = open_storage(f"journal:{tmp_path / 'a.journal'}")
    study = optuna.create_study(study_name="a", storage=storage, direction="maximize")
    for x in range(4):
        study.enqueue_trial({"x": x}, user_attrs={"even": x % 2 == 0})
    return study


def _sqlite_storage(tmp_path: Path, heartbeat: int | None) -> optuna.storages.BaseStorage:
    return _optuna.open_rdb_storage(f"sqlite:///{tmp_path / 'h.db'}", heartbeat_interval=heartbeat, grace_period=1)


def test_storage_study_id_and_trial_id_address_the_study_on_its_storage(journal_study: optuna.Study) -> None:
    storage, study_id = _optuna.storage_of(journal_study), _optuna.study_id_of(journal_study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    assert storage.get_study_id_from_name("a") == study_id
    trials = storage.get_all_trials(study_id, deepcopy=False)
    assert [t.number for t in trials] == [0, 1, 2, 3]
    for t in trials:
        assert storage.get_trial(_optuna.trial_id_of(t)).number == t.number
    trial = optuna.Trial(journal_study, _optuna.trial_id_of(trials[2]))
    assert _optuna.trial_id_of(trial) == _optuna.trial_id_of(trials[2])


def test_heartbeat_capability_and_stale_trials(tmp_path: Path, journal_study: optuna.Study) -> None:
    assert not _optuna.heartbeat_enabled(_optuna.storage_of(journal_study))
    assert _optuna.stale_trial_ids(journal_study) == []
    assert not _optuna.heartbeat_enabled(_sqlite_storage(tmp_path, None))
    storage = _sqlite_storage(tmp_path, 1)
    study = optuna.create_study(study_name="h", storage=storage)
    # The study wraps the RDB storage (Optuna's _CachedStorage): the capability must still be seen.
    assert _optuna.heartbeat_enabled(_optuna.storage_of(study))
    inner = _optuna.storage_of(study)
    old, fresh = (inner.create_new_trial(_optuna.study_id_of(study)) for _ in range(2))  # both RUNNING
    inner.record_heartbeat(old)  # type: ignore[attr-defined]
    time.sleep(2.2)  # past the 1 s grace period
    inner.record_heartbeat(fresh)  # type: ignore[attr-defined]
    assert _optuna.stale_trial_ids(study) == [old]


def test_rdb_storage_with_heartbeats_opens_without_experimental_warnings(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _sqlite_storage(tmp_path, 5)
    assert not [w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)], caught
    # ... and no process-wide filter was left behind: Optuna still warns elsewhere.
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'other.db'}", heartbeat_interval=5)


def test_subset_view_shows_only_kept_trials_on_every_read_path(journal_study: optuna.Study) -> None:
    view = _optuna.trial_subset_view(journal_study, lambda t: t.user_attrs.get("even"))
    assert view.study_name == "a" and view.directions == journal_study.directions
    assert [t.number for t in view.get_trials(deepcopy=False)] == [0, 2]
    assert [t.number for t in view._get_trials(deepcopy=False, use_cache=True)] == [0, 2]
    assert [t.number for t in view.get_trials(states=(TrialState.WAITING,))] == [0, 2]
    assert len(journal_study.get_trials()) == 4  # the study itself is untouched
    # Writes go through to the real storage.
    view._storage.set_trial_user_attr(_optuna.trial_id_of(view.get_trials()[0]), "seen", True)
    assert journal_study.get_trials()[0].user_attrs["seen"] is True
    # Optuna's Hyperband pruner builds its own Study on ``study._storage``: it must see the subset too.
    bracket = optuna.study.Study(study_name="a", storage=view._storage)
    assert [t.number for t in bracket.get_trials()] == [0, 2]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_write_user_attrs_stores_many_trials_at_once_and_skips_finished_ones(tmp_path: Path, kind: str) -> None:
    url = f"journal:{tmp_path / 'w.journal'}" if kind == "journal" else f"sqlite:///{tmp_path / 'w.db'}"
    study = optuna.create_study(study_name="w", storage=open_storage(url))
    running = [study.ask() for _ in range(3)]
    running[0].set_user_attr("kept", 1)
    study.tell(running[2], 0.5)  # finished: as if another process had failed or completed it
    appends: list[int] = []
    storage = _optuna.storage_of(study)
    if kind == "journal":  # count the journal's appends (each one a lock and an fsync)
        backend = storage._backend  # type: ignore[attr-defined]
        original = backend.append_logs
        backend.append_logs = lambda logs: (appends.append(len(logs)), original(logs))[1]
    finished = _optuna.write_user_attrs({
        running[0]: {"kept": 1, "a": [1, 2], "b": {"x": 0.25}},
        running[1]: {"a": "text"},
        running[2]: {"a": 3},
    })
    assert finished == {running[2]}
    if kind == "journal":
        assert appends == [3]  # one append; "kept" was already stored with that value
    fresh = optuna.load_study(study_name="w", storage=open_storage(url)).get_trials()
    assert fresh[0].user_attrs == {"kept": 1, "a": [1, 2], "b": {"x": 0.25}}
    assert fresh[1].user_attrs == {"a": "text"}
    assert fresh[2].user_attrs == {}
    assert running[0].user_attrs == fresh[0].user_attrs  # the trial objects see what was written
    running[1].set_user_attr("c", 2)  # the storage goes on working as usual
    assert storage.get_trial(_optuna.trial_id_of(running[1])).user_attrs == {"a": "text", "c": 2}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_report_batch_gives_the_pruner_the_value_at_once_and_stores_the_batch_together(tmp_path: Path, kind: str) -> None:
    url = f"journal:{tmp_path / 'r.journal'}" if kind == "journal" else f"sqlite:///{tmp_path / 'r.db'}"
    pruner = optuna.pruners.ThresholdPruner(lower=0.5)
    study = optuna.create_study(study_name="r", storage=open_storage(url), direction="maximize", pruner=pruner)
    low, high, done = (study.ask() for _ in range(3))
    study.tell(done, 1.0)  # finished: as if another process had failed or completed it
    appends: list[int] = []
    if kind == "journal":
        backend = _optuna.storage_of(study)._backend  # type: ignore[attr-defined]
        original = backend.append_logs
        backend.append_logs = lambda logs: (appends.append(len(logs)), original(logs))[1]
    batch = _optuna.ReportBatch()
    for step, (a, b) in enumerate([(0.9, 0.9), (0.2, 0.8)]):
        batch.report(low, step, a)
        batch.report(high, step, b)
    batch.report(low, 1, 0.99)  # a step already reported is ignored, as Trial.report does
    batch.report(done, 0, 0.5)
    assert low.should_prune() and not high.should_prune()  # the pruner sees the values before any write
    assert _optuna.storage_of(study).get_trial(_optuna.trial_id_of(low)).intermediate_values == {}
    assert batch.flush() == {done}
    if kind == "journal":
        assert appends == [4]
    stored = {t.number: t.intermediate_values for t in optuna.load_study(study_name="r", storage=open_storage(url)).trials}
    assert stored == {0: {0: 0.9, 1: 0.2}, 1: {0: 0.9, 1: 0.8}, 2: {}}
    assert batch.flush() == set() and appends[1:] == []  # nothing pending: nothing written
    study.tell(low, state=optuna.trial.TrialState.PRUNED)
    assert study.trials[0].value == 0.2  # a pruned trial's value is its last stored report
