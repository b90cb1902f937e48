"""The report's re-training in packs gives the records that training every run alone gives.

Jobs of one dataset and split whose settings share a pack key train together (fixed and dynamic
arms in one pack); the jobs that record every signal, and those the engine cannot run, train
alone with ``train()``. Real training on iris and moons, three epochs.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import joblib
import pytest
import tolerances as tol

from dynsearch.config import DatasetSpec
from dynsearch.data import load_dataset
from dynsearch.report.retrain import RetrainJob, RetrainRun, RetrainStore, plan_packs, run_jobs
from dynsearch.report.retrain import _pack as retrain_pack
from dynsearch.train import TrainConfig

TRAIN = TrainConfig(epochs=3, hidden=(8,), batch_size=32, patience=0, lr=0.02).to_dict()
ARMS = {
    "fixed-relu": {"name": "fixed", "params": {}},
    "threshold-layer": {"name": "threshold", "params": {"lower": 0.3, "upper": 0.8}},
    "linear-layer": {"name": "linear", "params": {"lam": 0.5}},
    # The engine trains no learned α per channel: this arm trains alone.
    "learned-relu-per_channel": {"name": "learned", "params": {"per_channel": True}},
}
DATASETS = [DatasetSpec("iris", {}), DatasetSpec("moons", {"n_samples": 200, "noise": 0.25})]
SEEDS = (1000, 1001, 1002)


def _jobs(arms: dict[str, dict[str, Any]] = ARMS) -> list[RetrainJob]:
    """As ``plan_jobs`` makes them: every arm × dataset × seed, the first seed recording the signals."""
    return [RetrainJob(arm, i, ds, seed, strategy, TRAIN, 0, record_signals=seed == SEEDS[0])
            for i, (arm, strategy) in enumerate(arms.items()) for ds in DATASETS for seed in SEEDS]


def _alone(jobs: list[RetrainJob], tmp_path: Path) -> dict[str, RetrainRun]:
    """The reference: every job trained alone with ``train()``, as reports did before packs."""
    runs, _ = run_jobs(jobs, RetrainStore(tmp_path / "alone.json", "s"), processes=1, progress=None, pack=False)
    return runs


def _close(a: Any, b: Any) -> bool:
    """Equal, numbers within tolerances.PACKED (only the summation order of a pack differs), through dicts and lists."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=tol.PACKED, rel=tol.PACKED)
    return bool(a == b)


def assert_same_records(got: dict[str, RetrainRun], want: dict[str, RetrainRun]) -> None:
    assert got.keys() == want.keys()
    for key, w in want.items():
        g = dataclasses.asdict(got[key])
        for field, value in dataclasses.asdict(w).items():
            if field == "wall_time":
                assert g[field] > 0, key
            else:
                assert _close(g[field], value), f"{key}: {field} {g[field]!r} != {value!r}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RetrainRun]:
    return _alone(_jobs(), tmp_path_factory.mktemp("alone"))


def test_packs_group_one_dataset_and_pack_key_and_leave_unsupported_alone() -> None:
    tasks = plan_packs(_jobs(), processes=1)
    packs = [t for t in tasks if len(t) > 1]
    alone = [t[0] for t in tasks if len(t) == 1]
    # One pack per dataset: fixed, threshold and linear arms together, the seed that records every signal too.
    assert len(packs) == 2
    for pack in packs:
        assert {j.arm for j in pack} == {"fixed-relu", "threshold-layer", "linear-layer"}
        assert len({j.dataset for j in pack}) == 1
        assert {j.seed for j in pack if j.record_signals} == {SEEDS[0]}
    assert alone and all(j.arm == "learned-relu-per_channel" for j in alone)
    assert len(alone) == len(_jobs()) - sum(len(p) for p in packs)
    # Two processes: each group is split so that both have a pack to train.
    assert sorted(len(t) for t in plan_packs(_jobs(), processes=2) if len(t) > 1) == [4, 4, 5, 5]


def test_packed_retraining_gives_the_records_of_training_each_run_alone(tmp_path: Path, reference) -> None:
    store = RetrainStore(tmp_path / "retrain.json", "s")
    runs, trained = run_jobs(_jobs(), store, processes=1, progress=None)
    assert trained == len(reference)
    assert_same_records(runs, reference)
    # The comparison means something: a dynamic arm switched, every run scored, signals recorded where asked.
    assert any(r.n_switches for r in reference.values() if r.arm == "threshold-layer")
    assert all(r.ok and r.activity is not None and r.end_state for r in runs.values())
    assert all((r.signals is not None) == (r.seed == SEEDS[0]) for r in runs.values())
    # Saved: a second report re-uses every record.
    again, trained_again = run_jobs(_jobs(), RetrainStore.load(store.path, "s"), processes=1, progress=None)
    assert trained_again == 0 and again.keys() == runs.keys()


def test_two_processes_give_the_records_of_one(tmp_path: Path, reference) -> None:
    lines: list[str] = []
    two, _ = run_jobs(_jobs(), RetrainStore(tmp_path / "a.json", "s"), processes=2, progress=None,
                      announce=lines.append)
    assert_same_records(two, reference)
    assert "in 2 process(es): 4 pack(s) of 18 and 6 alone" in lines[0]


def test_the_joblib_backend_a_user_picks_is_used(tmp_path: Path) -> None:
    """A backend of threads is refused before anything trains: runs seed torch's shared global generator
    (measured: two threads gave another test score than the same run alone)."""
    store = RetrainStore(tmp_path / "retrain.json", "s")
    with joblib.parallel_config(backend="threading"), pytest.raises(ValueError, match="threads of one process"):
        run_jobs(_jobs(), store, processes=2, progress=None)
    assert not store.path.exists()
    with joblib.parallel_config(backend="sequential"):  # in this process, one after the other
        runs, trained = run_jobs(_jobs()[:3], store, processes=2, progress=None)
    assert trained == 3 and all(r.ok for r in runs.values())


def test_a_pack_that_raises_trains_its_members_alone_and_records_each_error() -> None:
    good = RetrainJob("fixed-relu", 0, DATASETS[0], 1000, ARMS["fixed-relu"], TRAIN, 0)
    bad = dataclasses.replace(good, arm="threshold-layer", strategy={"name": "threshold",
                                                                      "params": {"lower": 0.9, "upper": 0.1}})
    runs = retrain_pack.train_jobs([good, bad], "cpu")
    assert runs[0].status == "ok" and runs[0].ok
    splits = load_dataset("iris", split_seed=0)
    assert runs[0].test_metric == retrain_pack._train_one(good, splits, "cpu").test_metric  # alone: train()'s own
    assert runs[1].status == "error" and "lower" in runs[1].message and not runs[1].ok
