"""`--cluster` on a real Ray cluster: a head started here on 127.0.0.1 only, stopped at the end whatever happened.

A PostgreSQL study runs on the cluster's actors while one actor is killed (SIGKILL, as the kernel's OOM killer
would), and still ends with exactly its budget finished, nothing running or waiting, nothing lost; the report's
re-training on the cluster gives the records it gives locally; bad input (no Ray, an unreachable address, a journal
on several nodes) is one line, exit code 2, nothing written. Without Ray these tests skip, and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import _unavailable
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from study_helpers import assert_study_done, study_toml
from tolerances import PACKED

from dynsearch.cluster import ClusterError, check_storage_for_cluster, plan_actors
from dynsearch.search.storage import open_storage
from dynsearch.search.study import REASON_ATTR, WORKER_ATTR

LOOPBACK = "127.0.0.1"
N_TRIALS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DYNSEARCH_STORAGE", None)
    # Ray resolves 127.0.0.1 to the machine's outward address unless told that this is a one-machine cluster:
    # with it, every Ray process (head, actors, the driver) binds and connects on loopback only.
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.update(extra)
    return env


def _ray_bin() -> Path:
    try:
        import ray  # noqa: F401
    except ImportError:
        _unavailable("Ray is not installed (pip install 'dynsearch[ray]')")
    return Path(sys.executable).with_name("ray")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """HEAD:PORT of a one-node Ray cluster with 2 CPUs on 127.0.0.1; its processes are stopped at the end."""
    ray = _ray_bin()
    temp = tempfile.mkdtemp(prefix="dsray-")  # short: Ray's socket paths live under it and have a length limit
    port = _free_port()
    cmd = [str(ray), "start", "--head", "--block", "--node-ip-address", LOOPBACK, "--port", str(port),
           "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard=false", "--disable-usage-stats",
           "--temp-dir", temp, "--ray-client-server-port", str(_free_port()), "--dashboard-port", str(_free_port())]
    log = open(Path(temp) / "head.log", "w")
    # Its own session: teardown signals exactly this head's process group (``ray stop`` would stop every cluster here).
    head = subprocess.Popen(cmd, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_listening(port, head, Path(temp) / "head.log")
        yield f"{LOOPBACK}:{port}"
    finally:
        _stop_group(head)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_listening(port: int, head: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if head.poll() is not None:
            pytest.fail(f"ray start exited ({head.returncode}): {log.read_text()[-2000:]}")
        if "Ray runtime started" in log.read_text():
            return
        time.sleep(0.5)
    pytest.fail(f"the Ray head did not start within {timeout} s: {log.read_text()[-2000:]}")


def _stop_group(head: subprocess.Popen) -> None:
    """SIGTERM the head's group (``ray start --block`` stops its processes), SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            return
        try:
            head.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(1)  # children that outlive the leader a moment
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _study(tmp_path: Path, name: str, epochs: int) -> Path:
    path = tmp_path / f"{name}.toml"
    datasets = '[{ name = "moons", n_samples = 300 }]'
    path.write_text(study_toml(name, datasets=datasets, n_trials=N_TRIALS, epochs=epochs, strategies=("fixed", "threshold")))
    return path


def _dynsearch(tmp_path: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynsearch", *args], cwd=tmp_path, env=_env(**env),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip


def _one_line_exit_2(done: subprocess.CompletedProcess, *words: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


# --- the cluster at work -------------------------------------------------------------------------


@pytest.mark.slow
def test_postgres_study_on_the_cluster_survives_a_killed_actor(
    tmp_path: Path, ray_address: str, fresh_postgres_db: str
) -> None:
    study = _study(tmp_path, "onray", epochs=400)  # trials of a second or two: one can be caught training
    out, err = open(tmp_path / "run.out", "w"), open(tmp_path / "run.err", "w")
    # Heartbeats every second, stale after 5 s: the settings reach the actors through the driver's environment.
    run = subprocess.Popen(
        [sys.executable, "-m", "dynsearch", "run", str(study), "--cluster", ray_address, "--pack", "1", "--quiet"],
        cwd=tmp_path, env=_env(DYNSEARCH_STORAGE=fresh_postgres_db, DYNSEARCH_HEARTBEAT_INTERVAL="1",
                               DYNSEARCH_GRACE_PERIOD="5"),
        stdout=out, stderr=err, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    storage = RDBStorage(fresh_postgres_db)
    try:
        victim = _wait_for_running_actor(storage, "onray", run, tmp_path / "run.err")
        os.kill(victim, signal.SIGKILL)
        assert run.wait(timeout=400) == 0, (tmp_path / "run.err").read_text()[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        out.close()
        err.close()
    trials = storage.get_all_trials(storage.get_study_id_from_name("onray"), deepcopy=False)
    assert_study_done(trials, N_TRIALS, 2)  # exactly the budget finished, none running or waiting: lost 0
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all(f":{victim}" in t.system_attrs.get(WORKER_ATTR, f":{victim}") for t in failed), failed
    assert all(("died" in t.user_attrs[REASON_ATTR] or "heartbeat" in t.user_attrs[REASON_ATTR]) for t in failed)
    assert "ray:cpu" in (tmp_path / "run.out").read_text()


def _actors_training(storage: RDBStorage, name: str) -> dict[int, int]:
    """``{trial number: pid of the actor training it}`` of the study's running trials."""
    try:
        trials = storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False)
    except KeyError:
        return {}
    owners = {t.number: t.system_attrs.get(WORKER_ATTR, "") for t in trials if t.state == TrialState.RUNNING}
    return {n: int(o.rpartition(":")[2]) for n, o in owners.items() if o.rpartition(":")[2].isdigit()}


def _wait_for_running_actor(storage: RDBStorage, name: str, run: subprocess.Popen, err: Path) -> int:
    """The pid of an actor (a process on this host) that has trained one trial for 0.3 s and still does."""
    end = time.monotonic() + 240
    while time.monotonic() < end:
        if run.poll() is not None:
            pytest.fail(f"dynsearch run exited ({run.returncode}) before any trial ran: {err.read_text()[-2000:]}")
        before = _actors_training(storage, name)
        if before:
            time.sleep(0.3)  # let it train a little: the kill cuts a trial short
            # The same trial, still on the same actor: one that finished meanwhile would leave nothing to retry.
            still = {n: pid for n, pid in _actors_training(storage, name).items() if before.get(n) == pid}
            if still:
                return next(iter(still.values()))
            continue
        time.sleep(0.2)
    pytest.fail("no actor trained a trial for 0.3 s within 240 s")


@pytest.mark.slow
def test_report_retrains_on_the_cluster_with_the_local_records(tmp_path: Path, ray_address: str) -> None:
    study = _study(tmp_path, "rep", epochs=3)
    # A journal on a one-node cluster is allowed: its file is on the only machine.
    done = _dynsearch(tmp_path, "run", str(study), "--cluster", ray_address, "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    local = _dynsearch(tmp_path, "report", "rep", "--seeds", "2", "--jobs", "2", "--out", "local", "--quiet")
    assert local.returncode == 0, local.stderr[-3000:]
    remote = _dynsearch(tmp_path, "report", "rep", "--seeds", "2", "--jobs", "2", "--out", "ray", "--quiet",
                        "--cluster", ray_address)  # fmt: skip
    assert remote.returncode == 0, remote.stderr[-3000:]
    a, b = (json.loads((tmp_path / out / "retrain.json").read_text())["runs"] for out in ("local", "ray"))
    assert a.keys() == b.keys() and a
    for key in a:
        for field in ("status", "best_epoch", "epochs_run", "n_switches", "end_state"):
            assert a[key].get(field) == b[key].get(field), (key, field)
        for field in ("test_metric", "best_val_metric"):
            assert b[key][field] == pytest.approx(a[key][field], abs=PACKED), (key, field)


@pytest.mark.slow
def test_ctrl_c_on_the_driver_stops_the_actors_and_requeues_their_trials(tmp_path: Path, ray_address: str) -> None:
    study = _study(tmp_path, "stopme", epochs=2000)  # far longer than the test waits
    url = f"journal:{tmp_path / 'runs' / 'stopme.journal'}"
    log = open(tmp_path / "run.err", "w")
    run = subprocess.Popen([sys.executable, "-m", "dynsearch", "run", str(study), "--cluster", ray_address, "--quiet"],
                           cwd=tmp_path, env=_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        storage = None
        end = time.monotonic() + 240
        while time.monotonic() < end and run.poll() is None:
            if storage is None and (tmp_path / "runs" / "stopme.journal").exists():
                storage = open_storage(url)
            if storage is not None and _running(storage, "stopme") >= 2:
                break
            time.sleep(0.3)
        assert storage is not None and run.poll() is None, (tmp_path / "run.err").read_text()[-2000:]
        started = time.monotonic()
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 130, (tmp_path / "run.err").read_text()[-2000:]
        assert time.monotonic() - started < 30  # within a batch, not after the 15 s grace and a kill
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        log.close()
    trials = storage.get_all_trials(storage.get_study_id_from_name("stopme"), deepcopy=False)
    states = Counter(t.state for t in trials)
    assert states[TrialState.RUNNING] == 0 and states[TrialState.FAIL] >= 2, states
    assert all("interrupted" in t.user_attrs[REASON_ATTR] for t in trials if t.state == TrialState.FAIL)
    assert states[TrialState.WAITING] == N_TRIALS  # every slot queued again: the same command resumes


def _running(storage: object, name: str) -> int:
    try:
        study_id = storage.get_study_id_from_name(name)  # type: ignore[attr-defined]
    except KeyError:
        return 0
    return sum(t.state == TrialState.RUNNING for t in storage.get_all_trials(study_id, deepcopy=False))  # type: ignore[attr-defined]


# --- bad input ------------------------------------------------------------------------------------


def test_cluster_without_ray_says_how_to_install_it(tmp_path: Path) -> None:
    study = _study(tmp_path, "noray", epochs=1)
    # ``import ray`` fails in this process as if Ray were not installed.
    wrapper = ("import sys; sys.modules['ray'] = None; from dynsearch.cli import main; "
               f"sys.exit(main(['run', {str(study)!r}, '--cluster', 'auto']))")
    done = subprocess.run([sys.executable, "-c", wrapper], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    _one_line_exit_2(done, "--cluster", "Ray is not installed", "pip install 'dynsearch[ray]'")
    assert not (tmp_path / "runs").exists()


def test_unreachable_cluster_address_is_one_line(tmp_path: Path) -> None:
    _ray_bin()
    study = _study(tmp_path, "nowhere", epochs=1)
    address = f"{LOOPBACK}:{_free_port()}"  # nothing listens there
    done = _dynsearch(tmp_path, "run", str(study), "--cluster", address, timeout=120)
    _one_line_exit_2(done, "--cluster", address, "no Ray cluster answers")
    assert not (tmp_path / "runs").exists()
    done = _dynsearch(tmp_path, "report", "nowhere", "--cluster", "ray://" + address, timeout=120)
    assert done.returncode == 2, done.stderr


def test_journal_is_refused_on_several_nodes_and_allowed_on_one(tmp_path: Path) -> None:
    # No second machine here: the check on the node count is the unit function, fed each count.
    with pytest.raises(ClusterError, match="PostgreSQL"):
        check_storage_for_cluster("journal:runs/x.journal", 2)
    check_storage_for_cluster("journal:runs/x.journal", 1)
    check_storage_for_cluster("postgresql://u@127.0.0.1/db", 3)
    # And a malformed address is one line before anything is written.
    study = _study(tmp_path, "badaddr", epochs=1)
    done = _dynsearch(tmp_path, "run", str(study), "--cluster", "127.0.0.1", timeout=120)
    _one_line_exit_2(done, "--cluster", "HOST:PORT")
    assert not (tmp_path / "runs").exists()


def test_actors_follow_the_cluster_resources() -> None:
    assert [s.num_gpus for s in plan_actors(cpus=32, gpus=2, per_device=3)] == [1 / 3] * 6
    assert {s.device for s in plan_actors(cpus=32, gpus=2)} == {"cuda"}
    assert len(plan_actors(cpus=6, gpus=0)) == 6 and len(plan_actors(cpus=6, gpus=0, workers=2)) == 2
    with pytest.raises(ValueError, match="--workers"):
        plan_actors(cpus=6, gpus=0, workers=0)
