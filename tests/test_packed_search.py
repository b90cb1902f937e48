"""Packed search: a worker trains up to K claimed trials together. Packing changes speed, never
results: the same trial parameters give the same values and attributes packed or alone; a killed
packed worker loses nothing, and Ctrl-C still stops it within a batch."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import tolerances as tol
from optuna.trial import FrozenTrial, TrialState
from study_helpers import FINISHED, assert_study_done, study_toml, trial_arm

from dynsearch.config import load_study_file
from dynsearch.search import open_storage, prepare_study, run_worker
from dynsearch.search.study import REASON_ATTR, WORKER_ATTR
from dynsearch.search.worker import StopFlag
from dynsearch.strategies import SiteState, Strategy, register_strategy
from dynsearch.strategies.registry import _REGISTRY

optuna.logging.set_verbosity(optuna.logging.ERROR)

MIXED = """\
name = "{name}"
n_trials = 8
seeds = 2
datasets = [{{ name = "moons", n_samples = 160 }}, "iris"]
[model]
hidden = [8]
[training]
epochs = 3
patience = 2
[search]
strategies = ["fixed", "threshold", "linear", "learned"]
scopes = ["layer", "global"]
signals = ["io"]  # 8 arms; the target signal in packs is covered by the engine's equivalence tests
bases = ["relu", "tanh"]
lower = [-0.9, 0.9]
upper = [0.9, 0.99]
lr = [0.001, 0.05]
[sampler]
name = "random"
[pruner]
name = "none"
"""
# Attributes that describe the run rather than the result.
RUN_ATTRS = ("wall_time",)


def _stored(name: str, url: str) -> list[FrozenTrial]:
    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)


def _result_attrs(t: FrozenTrial) -> dict:
    attrs = {k: v for k, v in t.user_attrs.items() if k not in RUN_ATTRS}
    attrs["datasets"] = {d: {k: v for k, v in m.items() if k != "wall_time"} for d, m in attrs["datasets"].items()}
    return attrs


def test_packed_trials_equal_the_same_trials_run_alone(tmp_path: Path) -> None:
    (tmp_path / "alone.toml").write_text(MIXED.format(name="alone"))
    (tmp_path / "packed.toml").write_text(MIXED.format(name="packed"))
    alone_url, packed_url = (f"journal:{tmp_path / n}.journal" for n in ("alone", "packed"))
    prepare_study(load_study_file(tmp_path / "alone.toml"), open_storage(alone_url), alone_url, 8)
    assert run_worker("alone", alone_url, stop=StopFlag(), pack=1).pack_size == 1
    alone = _stored("alone", alone_url)
    # The same parameters, queued in the packed study in the same order.
    spec = load_study_file(tmp_path / "packed.toml")
    packed_study = optuna.create_study(study_name="packed", storage=open_storage(packed_url), direction="maximize")
    packed_study.set_user_attr("dynsearch_spec", spec.to_dict())
    for t in alone:
        packed_study.enqueue_trial(t.params, user_attrs={k: t.user_attrs[k] for k in ("replicate", "split_seed")})
    result = run_worker("packed", packed_url, stop=StopFlag(), pack=8)
    assert (result.pack_size, result.ran, result.complete) == (8, 8, 8)
    packed = _stored("packed", packed_url)
    assert len({t.system_attrs[WORKER_ATTR] for t in packed}) == 1
    for a, p in zip(alone, packed):
        assert p.state == a.state == TrialState.COMPLETE
        assert p.params == a.params
        assert p.values == pytest.approx(a.values, abs=tol.PACKED)
        assert _result_attrs(p) == _result_attrs(a), (a.number, trial_arm(a))
        # Training time only (no dataset loading, no process start-up): the sum of its training runs.
        assert p.user_attrs["wall_time"] == pytest.approx(sum(d["wall_time"] for d in p.user_attrs["datasets"].values()))
        assert p.user_attrs["wall_time"] > 0


def test_a_pack_mixes_arms_and_reports_each_member_to_its_own_trial(tmp_path: Path) -> None:
    """With a median pruner and no start-up trials, members are pruned within their arm and step."""
    body = MIXED.format(name="pruned").replace('name = "none"', 'name = "median"\nn_startup_trials = 1\nn_warmup_steps = 0')
    body = body.replace("patience = 2", "patience = 0")
    (tmp_path / "pruned.toml").write_text(body)
    url = f"journal:{tmp_path / 'pruned.journal'}"
    prepare_study(load_study_file(tmp_path / "pruned.toml"), open_storage(url), url, 16)
    run_worker("pruned", url, stop=StopFlag(), pack=16)
    trials = _stored("pruned", url)
    assert_study_done(trials, 16, 8)
    for t in trials:
        steps = sorted(t.intermediate_values)
        # Every trial carries its own curve: one step per epoch and dataset, up to where it stopped.
        assert steps == list(range(len(steps))) and steps, (t.number, steps)
        if t.state == TrialState.COMPLETE:
            assert len(steps) == 6
            for d, history in enumerate(t.user_attrs["history"].values()):  # seed 0's curve, per dataset
                for epoch, val, _ in history["epochs"]:
                    assert t.intermediate_values[d * 3 + epoch] == pytest.approx(val, rel=tol.closed_form(1))
        else:
            assert t.state == TrialState.PRUNED and len(steps) < 6


# --- reliability -----------------------------------------------------------------------------------

SLOW = '[{ name = "moons", n_samples = 300 }]'


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DYNSEARCH_STORAGE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _safe_trials(journal: Path, name: str) -> list[FrozenTrial]:
    try:
        return _stored(name, f"journal:{journal}")
    except Exception:  # the study is not created yet
        return []


def _wait_for(predicate, timeout: float, proc: subprocess.Popen, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"dynsearch run exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _packed_run(tmp_path: Path, name: str, n: int, epochs: int) -> tuple[subprocess.Popen, Path]:
    path = tmp_path / f"{name}.toml"
    path.write_text(study_toml(name, datasets=SLOW, n_trials=n, epochs=epochs, strategies=("fixed", "threshold")))
    journal = tmp_path / f"{name}.journal"
    cmd = [sys.executable, "-m", "dynsearch", "run", str(path), "--storage", f"journal:{journal}",
           "--workers", "1", "--pack", "4", "--quiet"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), journal


def _running_pack(journal: Path, name: str, owners: dict) -> bool:
    running = [t for t in _safe_trials(journal, name) if t.state == TrialState.RUNNING and t.system_attrs.get(WORKER_ATTR)]
    by_owner: dict[str, list[FrozenTrial]] = {}
    for t in running:
        by_owner.setdefault(t.system_attrs[WORKER_ATTR], []).append(t)
    for owner, trials in by_owner.items():
        # Claimed and planned (the plan's attributes are written after every parameter is suggested): training.
        if len(trials) == 4 and all("train" in t.user_attrs for t in trials):
            owners.update(owner=owner, trials={t.number: dict(t.params) for t in trials})
            return True
    return False


def test_killed_packed_worker_loses_nothing(tmp_path: Path) -> None:
    n = 4  # one pack: the worker claims all four
    proc, journal = _packed_run(tmp_path, "killed", n, epochs=30)
    victim: dict = {}
    try:
        _wait_for(lambda: _running_pack(journal, "killed", victim), 240, proc, "a pack of 4 training")
        os.kill(int(victim["owner"].rpartition(":")[2]), signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    trials = _stored("killed", f"journal:{journal}")
    by_number = {t.number: t for t in trials}
    for number, params in victim["trials"].items():  # all K trials of the pack, not only one
        dead = by_number[number]
        assert dead.state == TrialState.FAIL and "died" in dead.user_attrs[REASON_ATTR], dead.user_attrs
        copies = [t for t in trials if t.system_attrs.get("failed_trial") == number]
        assert len(copies) == 1 and copies[0].state in FINISHED and copies[0].params == params
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == n
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_ctrl_c_stops_a_packed_worker_within_seconds_and_requeues_the_whole_pack(tmp_path: Path) -> None:
    proc, journal = _packed_run(tmp_path, "stopped", 4, epochs=400)
    pack: dict = {}
    try:
        _wait_for(lambda: _running_pack(journal, "stopped", pack), 240, proc, "a pack of 4 training")
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert took < 20, took  # one batch, plus the storage writes and the interpreter's exit, on a loaded machine
    trials = _stored("stopped", f"journal:{journal}")
    by_number = {t.number: t for t in trials}
    for number in pack["trials"]:
        assert by_number[number].state == TrialState.FAIL
        assert by_number[number].user_attrs[REASON_ATTR].startswith("interrupted (SIGTERM)")
    assert not [t for t in trials if t.state == TrialState.RUNNING]


# --- an interrupt in the middle of a pack --------------------------------------------------------------


class _DivergesAtOnce(Strategy):
    def decide(self, r: float, state: SiteState) -> SiteState:
        return state.replace(alpha=math.nan)


class _StopsOnSecondDataset(Strategy):
    """Asks the worker to stop at its third decision: the first epoch of the second dataset."""

    calls = 0
    flag: StopFlag | None = None

    def decide(self, r: float, state: SiteState) -> SiteState:
        _StopsOnSecondDataset.calls += 1
        if _StopsOnSecondDataset.calls == 3 and _StopsOnSecondDataset.flag is not None:
            _StopsOnSecondDataset.flag.requested = True
        return state


def test_an_interrupt_tells_members_the_pack_had_settled_and_requeues_the_rest(tmp_path: Path) -> None:
    register_strategy("test_diverges")(_DivergesAtOnce)
    register_strategy("test_stops")(_StopsOnSecondDataset)
    try:
        body = study_toml("mid", datasets='["iris", { name = "moons", n_samples = 120 }]', n_trials=2, epochs=2,
                          strategies=("test_diverges", "test_stops"))  # fmt: skip
        (tmp_path / "mid.toml").write_text(body)
        url = f"journal:{tmp_path / 'mid.journal'}"
        prepare_study(load_study_file(tmp_path / "mid.toml"), open_storage(url), url, 2)
        flag = StopFlag()
        _StopsOnSecondDataset.calls, _StopsOnSecondDataset.flag = 0, flag
        result = run_worker("mid", url, stop=flag, pack=2)
    finally:
        for name in ("test_diverges", "test_stops"):
            _REGISTRY.pop(name, None)
    assert result.interrupted
    trials = {trial_arm(t): t for t in _stored("mid", url) if "failed_trial" not in t.system_attrs}
    diverged, stopped = trials["test_diverges-layer"], trials["test_stops-layer"]
    assert diverged.state == TrialState.PRUNED and "diverged" in diverged.user_attrs[REASON_ATTR]
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs[REASON_ATTR] == "interrupted (stop requested); re-queued"
    copies = [t for t in _stored("mid", url) if t.system_attrs.get("failed_trial") == stopped.number]
    assert len(copies) == 1 and copies[0].state == TrialState.WAITING
