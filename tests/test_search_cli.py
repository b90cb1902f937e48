"""``dynsearch run | worker | studies`` at the command line: usage errors are one line with exit
code 2 and write nothing, passwords never show, ``worker`` joins a queued study, ``studies``
lists what a storage holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from study_helpers import study_toml

from dynsearch.cli import main
from dynsearch.config import load_study_file
from dynsearch.search import mask_url, open_storage, prepare_study
from dynsearch.search._optuna import trial_id_of
from dynsearch.search.study import WORKER_ATTR

optuna.logging.set_verbosity(optuna.logging.ERROR)

SECRET = "s3cretpw"
UNREACHABLE = f"postgresql://u:{SECRET}@127.0.0.1:1/db"

def _study_file(tmp_path: Path, name: str = "cli") -> Path:
    path = tmp_path / f"{name}.toml"
    # 4 arms: fixed-relu, learned-relu, threshold-layer, linear-layer.
    path.write_text(study_toml(name, datasets='[{ name = "moons", n_samples = 300 }]', n_trials=4, epochs=3,
                               strategies=("fixed", "threshold", "linear", "learned"), sampler="tpe", pruner="median"))
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DYNSEARCH_STORAGE", None)
    return env


def _popen(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dynsearch", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _main_exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``dynsearch ARGV`` in this process; (exit code, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("dynsearch: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]


# --- passwords -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql+psycopg://alice:s3cr%40t@db.example.org/optuna?sslmode=require",
         "postgresql+psycopg://alice:***@db.example.org/optuna?sslmode=require"),
        ("mysql://root:hunter2@localhost/db", "mysql://root:***@localhost/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:pw@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
        ("postgresql://u:pw@h:notaport/db", "postgresql://u:***@h:notaport/db"),
        ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("journal:runs/x.journal", "journal:runs/x.journal"),
        ("sqlite:///runs/x.db", "sqlite:///runs/x.db"),
    ],
)  # fmt: skip
def test_mask_url_hides_only_the_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_unreachable_postgres_is_one_line_without_the_password(tmp_path: Path) -> None:
    study = _study_file(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "dynsearch", "run", str(study), "--storage", UNREACHABLE, "--workers", "1"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    line = _one_error_line(proc.stderr)
    assert SECRET not in proc.stderr + proc.stdout
    assert "***" in line and "127.0.0.1" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.filterwarnings("error::optuna.exceptions.ExperimentalWarning")  # opening an RDB storage warns of nothing
@pytest.mark.parametrize("command", [["studies"], ["worker", "--study", "x"]])
def test_other_commands_mask_the_password_too(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main_exit([*command, "--storage", UNREACHABLE], capsys)
    assert code == 2
    _one_error_line(err)
    assert SECRET not in out + err


# --- usage errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--workers", "0"], "--workers"),
        (["--workers", "two"], "--workers"),
        (["--per-device", "0"], "--per-device"),
        (["--devices", "5"], "GPU 5 does not exist"),
        (["--devices", "a,b"], "--devices"),
        (["--n-trials", "3"], "--n-trials: 3 is fewer than the study's 4"),
        (["--n-trials", "0"], "--n-trials"),
        (["--timeout", "0"], "--timeout"),
        (["--pack", "0"], "--pack"),
        (["--pack", "many"], "--pack"),
        (["--storage", "redis://h/0"], "unsupported URL"),
    ],
)
def test_run_usage_errors_are_one_line_and_write_nothing(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if extra[:2] == ["--devices", "5"] and torch.cuda.is_available() and torch.cuda.device_count() > 5:
        pytest.skip("this machine has a GPU 5")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DYNSEARCH_STORAGE", raising=False)
    study = _study_file(tmp_path)
    journal = tmp_path / "store" / "cli.journal"
    storage = [] if "--storage" in extra else ["--storage", f"journal:{journal}"]
    code, out, err = _main_exit(["run", str(study), *storage, *extra], capsys)
    assert code == 2
    assert message in _one_error_line(err)
    assert out == ""
    assert not journal.exists() and not (tmp_path / "store").exists()
    assert not (tmp_path / "runs").exists()


def test_missing_study_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main_exit(["run", str(tmp_path / "nope.toml")], capsys)
    assert code == 2
    line = _one_error_line(err)
    assert "nope.toml" in line and "no such file" in line


def test_usage_error_from_a_real_process(tmp_path: Path) -> None:
    """The same check without pytest in between (warnings, logging): one line reaches stderr.
    ``--devices 5`` goes the furthest: study file, datasets and storage URL are all valid."""
    if torch.cuda.is_available() and torch.cuda.device_count() > 5:
        pytest.skip("this machine has a GPU 5")
    study = _study_file(tmp_path)
    journal = tmp_path / "cli.journal"
    proc = _popen(["run", str(study), "--storage", f"journal:{journal}", "--devices", "5"], tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "GPU 5 does not exist" in _one_error_line(err)
    assert out == ""
    assert not journal.exists()


# --- worker and studies ---------------------------------------------------------------------------


def test_worker_joins_a_queued_study_and_studies_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DYNSEARCH_STORAGE", raising=False)
    spec = load_study_file(_study_file(tmp_path, "joined"))
    url = "journal:runs/joined.journal"
    study = prepare_study(spec, open_storage(url), url, 4)
    assert [t.state for t in study.get_trials()] == [TrialState.WAITING] * 4

    # Before any worker ran: the queued trials show in the listing.
    code, out, _ = _main_exit(["studies"], capsys)
    assert code == 0
    row = next(line.split() for line in out.splitlines() if "joined" in line.split())
    assert row[2:] == ["0", "0", "0", "0", "4", "-"]

    proc = _popen(["worker", "--study", "joined", "--storage", url, "--threads", "1"], tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"worker {proc.pid}: ran 4 trial(s)" in err

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "runs" / "joined.journal")))
    trials = optuna.load_study(study_name="joined", storage=storage).get_trials()
    assert len(trials) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert {t.system_attrs[WORKER_ATTR].rpartition(":")[2] for t in trials} == {str(proc.pid)}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = len(trials) - len(complete)
    best = max(t.value for t in complete)

    for argv in (["studies"], ["studies", "--storage", url]):
        code, out, err = _main_exit(argv, capsys)
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].split() == ["storage", "study", "complete", "pruned", "failed", "running", "waiting", "best"]
        rows = [line.split() for line in lines[1:]]
        assert rows == [[url, "joined", str(len(complete)), str(pruned), "0", "0", "0", f"{best:.4f}"]]

    # An unknown study: exit 2 with the studies that do exist.
    code, out, err = _main_exit(["worker", "--study", "nosuch", "--storage", url], capsys)
    assert code == 2
    line = _one_error_line(err)
    assert "nosuch" in line and "joined" in line


def test_studies_on_an_empty_storage(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DYNSEARCH_STORAGE", raising=False)

    code, out, err = _main_exit(["studies"], capsys)  # no runs/ at all
    assert code == 0 and "no studies" in out and err == ""

    empty = tmp_path / "empty.journal"
    empty.touch()
    code, out, err = _main_exit(["studies", "--storage", f"journal:{empty}"], capsys)
    assert code == 0 and err == ""
    assert out.strip() == f"no studies on journal:{empty}"

    absent = tmp_path / "not" / "there.journal"
    code, out, err = _main_exit(["studies", "--storage", f"journal:{absent}"], capsys)
    assert code == 0 and "no studies" in out
    assert not absent.exists() and not absent.parent.exists()  # listing creates nothing


def test_a_trial_claimed_by_a_worker_that_died_before_naming_itself_is_recovered(tmp_path, monkeypatch) -> None:
    import optuna
    from optuna.trial import TrialState

    from dynsearch.search import study as study_mod

    storage = optuna.storages.journal.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.journal"))
    )
    study = optuna.create_study(study_name="orphan", storage=storage)
    study.enqueue_trial({"arm": "fixed-relu"})
    waiting = study.get_trials(states=(TrialState.WAITING,))[0]
    # The first of a claim's two writes, and then nothing: the worker died before writing its name.
    assert storage.set_trial_state_values(trial_id_of(waiting), state=TrialState.RUNNING)
    assert study_mod.recover_dead_local_workers(study) == 0  # still within the grace period
    monkeypatch.setattr(study_mod, "UNOWNED_GRACE_SECONDS", -1.0)
    assert study_mod.recover_dead_local_workers(study) == 1
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert "no worker recorded itself" in trials[0].user_attrs["fail_reason"]
