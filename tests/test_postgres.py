"""The search on a real PostgreSQL: several processes on one study, top-up races, interrupts, and
a worker that dies without a supervisor, recovered by the heartbeat.

Every test gets a fresh database (``fresh_postgres_db``) and runs the real commands as
subprocesses. The storage URL reaches them through ``DYNSEARCH_STORAGE`` or ``--storage``.
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
from typing import Callable

import optuna
import psycopg
import pytest
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from pg_server import to_libpq
from study_helpers import assert_study_done, study_toml, trial_arm, trial_states

from dynsearch.config import load_study_file
from dynsearch.search import open_storage, prepare_study
from dynsearch.search._optuna import trial_id_of
from dynsearch.search.study import REASON_ATTR, WORKER_ATTR

optuna.logging.set_verbosity(optuna.logging.ERROR)

STRATEGIES = ("fixed", "threshold")
N_ARMS = 2


# --- helpers ---------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, n_trials: int, epochs: int) -> Path:
    path = tmp_path / f"{name}.toml"
    datasets = '[{ name = "moons", n_samples = 300 }]'
    path.write_text(study_toml(name, datasets=datasets, n_trials=n_trials, epochs=epochs, strategies=STRATEGIES))
    return path


def _env(url: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DYNSEARCH_STORAGE", None)
    if url is not None:
        env["DYNSEARCH_STORAGE"] = url
    env["PYTHONUNBUFFERED"] = "1"
    # Several processes share two cores here: OpenMP threads that spin while waiting would starve each other.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.update(extra)
    return env


class Proc:
    """A ``python -m dynsearch ...`` subprocess whose output goes to files (no pipe can fill up)."""

    def __init__(self, tmp_path: Path, label: str, args: list[str], env: dict[str, str]) -> None:
        self.label = label
        self.out_path, self.err_path = tmp_path / f"{label}.out", tmp_path / f"{label}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "dynsearch", *args], cwd=tmp_path, env=env, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    @property
    def out(self) -> str:
        return self.out_path.read_text()

    @property
    def err(self) -> str:
        return self.err_path.read_text()

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def _kill_all(procs: list[Proc]) -> None:
    """Never leave a process behind, whatever failed; a supervisor's workers are in their own session."""
    for proc in procs:
        for child in _children(proc.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.kill()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str, procs: list[Proc] = ()) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        for proc in procs:
            if proc.popen.poll() is not None:
                pytest.fail(f"{proc.label} exited ({proc.popen.returncode}) before {what}: {proc.err[-2000:]}")
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


class Reader:
    """Reads a study's trials straight from the database (no cache), one connection pool per test."""

    def __init__(self, url: str, name: str) -> None:
        self.storage = RDBStorage(url)
        self.name = name

    def trials(self) -> list[FrozenTrial]:
        try:
            study_id = self.storage.get_study_id_from_name(self.name)
        except KeyError:
            return []
        return self.storage.get_all_trials(study_id, deepcopy=False)

    def close(self) -> None:
        self.storage.remove_session()
        self.storage.engine.dispose()


def _assert_done(trials: list[FrozenTrial], n: int) -> None:
    assert_study_done(trials, n, N_ARMS)


def _assert_clean_stderr(*procs: Proc) -> None:
    for proc in procs:
        err = proc.err
        assert "Traceback" not in err, f"{proc.label}: {err}"
        lowered = err.lower()
        for word in ("lock", "error", "deadlock", "integrity", "duplicate key"):
            assert word not in lowered, f"{proc.label} stderr mentions {word!r}: {err}"


def _worker_pid(t: FrozenTrial) -> int | None:
    owner = t.system_attrs.get(WORKER_ATTR, "")
    pid = owner.rpartition(":")[2]
    return int(pid) if pid.isdigit() else None


# --- several processes, one study -----------------------------------------------------------------


def test_two_runs_and_two_workers_share_one_study(tmp_path: Path, fresh_postgres_db: str) -> None:
    """Two ``run`` supervisors (one worker each) and two ``dynsearch worker`` processes on a fresh
    database: the schema, the study and the budget are created once, and the study ends with
    exactly N finished trials."""
    url, name, n = fresh_postgres_db, "four", 16
    study_file = _write(tmp_path, name, n_trials=n, epochs=1000)  # long enough for late joiners
    # One trial at a time per worker (--pack 1), so every process gets its share of a small queue.
    run_args = ["run", str(study_file), "--storage", url, "--workers", "1", "--pack", "1", "--quiet"]
    procs: list[Proc] = []
    reader = Reader(url, name)
    try:
        procs += [Proc(tmp_path, f"run{i}", run_args, _env()) for i in (1, 2)]
        # Not only the study: its queue. A worker that joins an empty queue has nothing to do and exits at once.
        _wait_for(lambda: len(reader.trials()) >= n, 120, "the study's queue", procs)
        procs += [
            Proc(tmp_path, "worker1", ["worker", "--study", name, "--threads", "1", "--quiet", "--worker-index", "7", "--pack", "1"],
                 _env(url)),
            Proc(tmp_path, "worker2", ["worker", "--study", name, "--storage", url, "--threads", "1", "--quiet", "--pack", "1",
                                       "--worker-index", "8"], _env()),
        ]  # fmt: skip
        codes = {p.label: p.wait(timeout=240) for p in procs}
        assert codes == {"run1": 0, "run2": 0, "worker1": 0, "worker2": 0}, {p.label: p.err[-1500:] for p in procs}
        _assert_clean_stderr(*procs)
        for run in procs[:2]:
            assert f"{n} finished" in run.out, run.out
        trials = reader.trials()
        assert len(trials) == n, trial_states(trials)  # queued once, not once per run
        _assert_done(trials, n)
        owners = Counter(_worker_pid(t) for t in trials)
        # The trials really were shared: a standalone worker ran some (they start a little later).
        assert {procs[2].pid, procs[3].pid} & set(owners), owners
    finally:
        _kill_all(procs)
        reader.close()


def _top_up(study_file: str, url: str, n: int) -> None:
    spec = load_study_file(study_file)
    prepare_study(spec, open_storage(url, heartbeat=False), url, n)


def test_simultaneous_top_ups_add_the_missing_trials_once(tmp_path: Path, fresh_postgres_db: str) -> None:
    """What two ``run`` commands with a bigger ``--n-trials`` do first, from four processes at once:
    the advisory lock lets only the first add the missing slots."""
    url, name = fresh_postgres_db, "topup"
    study_file = _write(tmp_path, name, n_trials=8, epochs=1)
    ctx = multiprocessing.get_context("fork")  # the children exit with os._exit: the parent's pool survives
    reader = Reader(url, name)
    try:
        for n in (8, 12, 16):
            children = [ctx.Process(target=_top_up, args=(str(study_file), url, n)) for _ in range(4)]
            for child in children:
                child.start()
            for child in children:
                child.join(60)
            assert [c.exitcode for c in children] == [0, 0, 0, 0]
            trials = reader.trials()
            assert len(trials) == n, trial_states(trials)
            assert trial_states(trials) == Counter({TrialState.WAITING: n})
            assert set(Counter(trial_arm(t) for t in trials).values()) == {n // N_ARMS}
    finally:
        reader.close()


# --- interrupt and resume ----------------------------------------------------------------------------


def test_sigterm_and_ctrl_c_stop_within_seconds_and_the_same_command_resumes(
    tmp_path: Path, fresh_postgres_db: str
) -> None:
    """SIGTERM to a ``run`` supervisor (it forwards SIGTERM to its worker) and Ctrl-C (SIGINT) to a
    standalone ``dynsearch worker``, both in the middle of a trial: both stop within seconds, their
    trials are FAIL with the reason and re-queued, and the same ``run`` command finishes the study."""
    url, name, n = fresh_postgres_db, "stopped", 6
    study_file = _write(tmp_path, name, n_trials=n, epochs=1000)  # long enough for late joiners
    args = ["run", str(study_file), "--workers", "1", "--pack", "1", "--quiet"]
    reader = Reader(url, name)
    procs: list[Proc] = []
    try:
        procs.append(Proc(tmp_path, "run", args, _env(url)))
        run = procs[0]
        # Not only the study: its queue. A worker that joins an empty queue has nothing to do and exits at once.
        _wait_for(lambda: len(reader.trials()) >= n, 120, "the study's queue", procs)
        procs.append(Proc(tmp_path, "worker", ["worker", "--study", name, "--threads", "1", "--quiet", "--pack", "1"], _env(url)))
        worker = procs[1]
        running: dict[str, FrozenTrial] = {}

        def both_mid_trial() -> bool:
            running.clear()
            for t in reader.trials():
                if t.state == TrialState.RUNNING and "strategy" in t.user_attrs:
                    pid = _worker_pid(t)
                    running["worker" if pid == worker.pid else "run" if pid in _children(run.pid) else "?"] = t
            return {"run", "worker"} <= set(running)

        _wait_for(both_mid_trial, 120, "a trial in progress in both processes", procs)
        run_workers = _children(run.pid)
        sent = time.monotonic()
        run.popen.send_signal(signal.SIGTERM)
        worker.popen.send_signal(signal.SIGINT)
        codes = (run.wait(timeout=60), worker.wait(timeout=60))
        took = time.monotonic() - sent
        # What proves a stop within one batch is the reason below ("interrupted", not the "died" of the
        # supervisor's SIGKILL fallback) on the trials left FAIL; the bound only catches a hang
        # and is generous for a loaded machine.
        assert took < 25, f"took {took:.1f} s to stop"
        assert codes == (130, 130), (codes, run.err, worker.err)
        assert "resume" in run.out
        assert "Traceback" not in run.err + worker.err
        assert not [pid for pid in run_workers if _is_running(pid)], "a worker of the supervisor survived"

        trials = reader.trials()
        states = trial_states(trials)
        assert states[TrialState.RUNNING] == 0, states
        by_number = {t.number: t for t in trials}
        failed = [t for t in trials if t.state == TrialState.FAIL]
        # Each trial cut short carries the signal of the process that ran it. A trial seen mid-trial above may
        # still finish in the moment before the signals land (a trial here takes a few seconds); its process then
        # stops between trials, with nothing to fail. So: at most one FAIL per process, at least one in all.
        reasons = {"run": "interrupted (SIGTERM)", "worker": "interrupted (SIGINT)"}
        owners = ["run" if _worker_pid(t) in run_workers else "worker" if _worker_pid(t) == worker.pid else "?"
                  for t in failed]  # fmt: skip
        assert failed and sorted(owners) == sorted(set(owners)) and "?" not in owners, (owners, states)
        for t, owner in zip(failed, owners):
            assert t.user_attrs[REASON_ATTR].startswith(reasons[owner]), (owner, t.user_attrs)
        for seen in running.values():
            assert by_number[seen.number].state in (TrialState.FAIL, TrialState.COMPLETE), states
        for t in failed:
            copies = [w for w in trials if w.system_attrs.get("failed_trial") == t.number]
            assert len(copies) == 1 and copies[0].state == TrialState.WAITING
            assert copies[0].params == t.params
            assert REASON_ATTR not in copies[0].user_attrs  # the reason stays with the failed trial

        procs.append(Proc(tmp_path, "resume", args, _env(url)))
        assert procs[-1].wait(timeout=300) == 0, procs[-1].err  # bounds a hang only: the resumed study trains for a minute or more under load
        _assert_clean_stderr(procs[-1])
        assert f"{n} finished" in procs[-1].out
        trials = reader.trials()
        _assert_done(trials, n)
        assert len(trials) == n + len(failed)
        for t in failed:
            reruns = [r for r in trials if r.system_attrs.get("failed_trial") == t.number]
            assert [r.state for r in reruns] == [TrialState.COMPLETE] and reruns[0].params == t.params
    finally:
        _kill_all(procs)
        reader.close()


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- a worker that dies with nobody watching: the heartbeat -------------------------------------------


def test_killed_worker_on_another_host_is_recovered_by_the_heartbeat(tmp_path: Path, fresh_postgres_db: str) -> None:
    """kill -9 of a ``dynsearch worker`` that has no supervisor. Its trial is made to look like
    another machine's (so no same-host pid check can recover it): only the heartbeat can."""
    url, name, n = fresh_postgres_db, "heartbeat", 4
    study_file = _write(tmp_path, name, n_trials=n, epochs=120)
    storage = open_storage(url, heartbeat=False)
    prepare_study(load_study_file(study_file), storage, url, n)
    storage.remove_session()
    storage.engine.dispose()
    fast = {"DYNSEARCH_HEARTBEAT_INTERVAL": "1", "DYNSEARCH_GRACE_PERIOD": "3"}
    reader = Reader(url, name)
    procs: list[Proc] = []
    try:
        procs.append(Proc(tmp_path, "doomed", ["worker", "--study", name, "--threads", "1", "--quiet", "--pack", "1"],
                          _env(url, **fast)))
        doomed = procs[0]
        victim: dict = {}

        def running_with_heartbeat() -> bool:
            for t in reader.trials():
                # Its parameters are drawn and training has begun (the strategy attr comes right after).
                if t.state == TrialState.RUNNING and _worker_pid(t) == doomed.pid and "strategy" in t.user_attrs:
                    with psycopg.connect(to_libpq(url)) as conn:
                        beat = conn.execute(
                            "SELECT 1 FROM trial_heartbeats WHERE trial_id = %s", (trial_id_of(t),)
                        ).fetchone()
                    if beat is not None:
                        victim.update(trial=t)
                        return True
            return False

        _wait_for(running_with_heartbeat, 60, "a running trial with a heartbeat", procs)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        dead: FrozenTrial = victim["trial"]
        elsewhere = "elsewhere.example:4242"
        reader.storage.set_trial_system_attr(trial_id_of(dead), WORKER_ATTR, elsewhere)

        procs.append(Proc(tmp_path, "survivor", ["worker", "--study", name, "--threads", "1", "--quiet", "--pack", "1"],
                          _env(url, **fast)))
        assert procs[1].wait(timeout=90) == 0, procs[1].err
        _assert_clean_stderr(procs[1])

        trials = reader.trials()
        _assert_done(trials, n)
        by_number = {t.number: t for t in trials}
        failed = by_number[dead.number]
        assert failed.state == TrialState.FAIL
        assert failed.system_attrs[WORKER_ATTR] == elsewhere
        reason = failed.user_attrs.get(REASON_ATTR, "")
        assert "no heartbeat" in reason and elsewhere in reason, reason
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
        assert len(retries) == 1
        assert retries[0].state == TrialState.COMPLETE
        assert retries[0].params == failed.params == dead.params
        assert _worker_pid(retries[0]) == procs[1].pid
        assert REASON_ATTR not in retries[0].user_attrs
        assert len(trials) == n + 1
    finally:
        _kill_all(procs)
        reader.close()
