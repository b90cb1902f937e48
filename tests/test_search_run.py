"""``dynsearch run`` end to end on journal storages: exact counts, equal budgets, top-ups,
resume after Ctrl-C, and recovery of a worker killed in the middle of a trial.

Every test runs the real command (a supervisor and its worker processes) on tiny studies written
into ``tmp_path``; storages live under ``tmp_path`` too.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from study_helpers import FINISHED, assert_study_done, study_toml, trial_arm, trial_states

from dynsearch.config import load_study_file
from dynsearch.search import open_storage, prepare_study
from dynsearch.search.study import REASON_ATTR, WORKER_ATTR

optuna.logging.set_verbosity(optuna.logging.ERROR)

# 4 arms: fixed-relu, learned-relu, threshold-layer, linear-layer.
STRATEGIES = ("fixed", "threshold", "linear", "learned")
TINY = '["iris"]'
# Trials of about 1.5-2 s on one core (moons, 180 training rows, 12 batches an epoch).
SLOW = '[{ name = "moons", n_samples = 300 }]'
N_ARMS = 4


def _write(tmp_path: Path, datasets: str, name: str, n_trials: int, epochs: int) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(study_toml(name, datasets=datasets, n_trials=n_trials, epochs=epochs, strategies=STRATEGIES))
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DYNSEARCH_STORAGE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _dynsearch(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dynsearch", *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def _trials(journal: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def _finished_per_arm(trials: list[optuna.trial.FrozenTrial]) -> Counter:
    return Counter(trial_arm(t) for t in trials if t.state in FINISHED)


def _assert_done(trials: list[optuna.trial.FrozenTrial], n: int) -> None:
    assert_study_done(trials, n, N_ARMS)


def _snapshot(t: optuna.trial.FrozenTrial) -> tuple:
    return (t.number, t.state, dict(t.params), t.values, t.datetime_start, t.datetime_complete)


# --- exact counts, equal budgets, top-ups ---------------------------------------------------------


def test_exact_counts_equal_budgets_and_top_up_on_default_journal(tmp_path: Path) -> None:
    study_file = _write(tmp_path, TINY, "counts", n_trials=8, epochs=2)
    journal = tmp_path / "runs" / "counts.journal"  # the default storage, relative to the cwd

    first = _dynsearch("run", str(study_file), "--workers", "2", "--quiet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 worker(s) on " in first.stdout
    assert "8 finished" in first.stdout
    assert journal.exists()
    trials = _trials(journal, "counts")
    _assert_done(trials, 8)
    assert len(trials) == 8
    assert all(t.system_attrs.get(WORKER_ATTR) for t in trials)
    before = {t.number: _snapshot(t) for t in trials}

    bigger = _dynsearch("run", str(study_file), "--workers", "2", "--n-trials", "12", "--quiet", cwd=tmp_path)
    assert bigger.returncode == 0, bigger.stderr
    trials = _trials(journal, "counts")
    _assert_done(trials, 12)
    assert len(trials) == 12  # exactly the 4 missing ones were added
    for t in trials:
        if t.number in before:
            assert _snapshot(t) == before[t.number]  # the first run's trials are untouched

    again = _dynsearch("run", str(study_file), "--workers", "1", "--n-trials", "12", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "12 finished" in again.stdout
    after = _trials(journal, "counts")
    assert [_snapshot(t) for t in after] == [_snapshot(t) for t in trials]  # nothing ran


def _prepare_in_child(study_file: str, url: str, n: int) -> None:
    spec = load_study_file(study_file)
    prepare_study(spec, open_storage(url), url, n)


def test_concurrent_prepares_queue_the_budget_once(tmp_path: Path) -> None:
    """Several ``run`` processes starting together must not each queue the missing trials."""
    study_file = _write(tmp_path, TINY, "racing", n_trials=8, epochs=2)
    url = f"journal:{tmp_path / 'racing.journal'}"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_prepare_in_child, args=(str(study_file), url, 8)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    trials = _trials(tmp_path / "racing.journal", "racing")
    assert len(trials) == 8
    assert trial_states(trials) == Counter({TrialState.WAITING: 8})
    assert set(Counter(trial_arm(t) for t in trials).values()) == {2}


# --- interrupt and resume -------------------------------------------------------------------------


def _wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"dynsearch run exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _safe_trials(journal: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return _trials(journal, name)
    except Exception:  # the study is not created yet
        return []


def test_sigint_stops_within_seconds_and_the_same_command_resumes(tmp_path: Path) -> None:
    n = 8  # enough that some are still queued or running whenever the signal lands
    study_file = _write(tmp_path, SLOW, "interrupted", n_trials=n, epochs=100)
    journal = tmp_path / "interrupted.journal"
    cmd = [sys.executable, "-m", "dynsearch", "run", str(study_file), "--storage", f"journal:{journal}",
           "--workers", "2", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(
            lambda: trial_states(_safe_trials(journal, "interrupted"))[TrialState.COMPLETE] >= 1
            and trial_states(_safe_trials(journal, "interrupted"))[TrialState.RUNNING] >= 1,
            180, proc, "a complete trial while others run",  # bounds a hang only: generous for a loaded machine
        )
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The proof of a stop within one batch is the "interrupted" reason checked below (the supervisor's SIGKILL
    # fallback would leave "died"); the bound only catches a hang, generous for a loaded machine.
    assert took < 25, f"took {took:.1f} s to stop"
    assert proc.returncode == 130, (proc.returncode, err)
    assert "resume" in out
    assert "Traceback" not in err

    trials = _trials(journal, "interrupted")
    states = trial_states(trials)
    assert states[TrialState.RUNNING] == 0, states
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed, "the running trials should have been interrupted"
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    for t in failed:
        assert "interrupted" in t.user_attrs.get(REASON_ATTR, ""), t.user_attrs
        copies = [w for w in waiting if w.system_attrs.get("failed_trial") == t.number]
        assert len(copies) == 1, f"trial {t.number} was not re-queued"
        assert copies[0].params == t.params
        assert WORKER_ATTR not in copies[0].system_attrs  # not owned by the stopped worker
        assert REASON_ATTR not in copies[0].user_attrs
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] < n

    resumed = _dynsearch("run", str(study_file), "--storage", f"journal:{journal}", "--workers", "2", "--quiet",
                         cwd=tmp_path, timeout=120)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    trials = _trials(journal, "interrupted")
    states = trial_states(trials)
    assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0, states
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == n, states
    assert set(_finished_per_arm(trials).values()) == {n // N_ARMS}
    for t in failed:  # every interrupted trial was run again with its own parameters
        reruns = [r for r in trials if r.system_attrs.get("failed_trial") == t.number and r.state in FINISHED]
        assert len(reruns) == 1 and reruns[0].params == t.params
        assert REASON_ATTR not in reruns[0].user_attrs


# --- a worker killed mid-trial --------------------------------------------------------------------


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"dynsearch" in cmdline and b"worker" in cmdline


def test_killed_worker_trial_fails_with_reason_and_is_retried(tmp_path: Path) -> None:
    n = 4
    study_file = _write(tmp_path, SLOW, "killed", n_trials=n, epochs=250)
    journal = tmp_path / "killed.journal"
    cmd = [sys.executable, "-m", "dynsearch", "run", str(study_file), "--storage", f"journal:{journal}",
           "--workers", "2", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim: dict = {}

    def running_for_a_while() -> bool:
        for t in _safe_trials(journal, "killed"):
            owner = t.system_attrs.get(WORKER_ATTR, "")
            if t.state == TrialState.RUNNING and owner and t.datetime_start is not None:
                age = time.time() - t.datetime_start.timestamp()
                pid = int(owner.rpartition(":")[2])
                if age > 0.4 and _is_worker(pid):
                    victim.update(number=t.number, pid=pid, params=dict(t.params))
                    return True
        return False

    try:
        _wait_for(running_for_a_while, 180, proc, "a trial running for a while")  # bounds a hang only
        os.kill(victim["pid"], signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err

    trials = _trials(journal, "killed")
    by_number = {t.number: t for t in trials}
    dead = by_number[victim["number"]]
    assert dead.state == TrialState.FAIL, dead.state
    assert "died" in dead.user_attrs.get(REASON_ATTR, ""), dead.user_attrs
    assert str(victim["pid"]) in dead.user_attrs[REASON_ATTR]
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE
    assert retries[0].params == victim["params"]
    assert REASON_ATTR not in retries[0].user_attrs  # the failure's reason stays on the failed trial
    assert retries[0].system_attrs[WORKER_ATTR] != dead.system_attrs[WORKER_ATTR]
    states = trial_states(trials)
    assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0, states
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == n
    assert set(_finished_per_arm(trials).values()) == {n // N_ARMS}
