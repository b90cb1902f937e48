"""``dynsearch dashboard``: optuna-dashboard on the study's storage, loopback by default, clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from dynsearch.cli import main
from dynsearch.config import parse_study
from dynsearch.dashboard import dashboard_url, is_public_host
from dynsearch.search.storage import open_storage
from dynsearch.search.study import prepare_study

STUDY = "dash-study"


@pytest.fixture(scope="module")
def study_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real dynsearch study (spec stored, budget queued, one trial finished) without training anything."""
    tmp = tmp_path_factory.mktemp("dash")
    url = f"journal:{tmp / 's.journal'}"
    spec = parse_study({"name": STUDY, "datasets": ["iris"], "search": {"strategies": ["fixed", "linear"],
                                                                       "bases": ["relu"], "scopes": ["layer"]}},
                       str(tmp / "dash.toml"))
    study = prepare_study(spec, open_storage(url), url, n_trials=2)
    trial = study.ask()
    trial.suggest_categorical("arm", spec.arms)
    study.tell(trial, 0.75)
    return url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DYNSEARCH_STORAGE", None)
    return subprocess.Popen([sys.executable, "-m", "dynsearch", "dashboard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_study(proc: subprocess.Popen, port: int, timeout: float = 120.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"dashboard exited with {proc.returncode}: {out} {err}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                studies = json.loads(response.read())["study_summaries"]
            if any(s["study_name"] == STUDY for s in studies):
                return studies
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"the dashboard never listed the study: {last}")


def _stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)  # a safety net for a hang; it returns as soon as the process exits
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the dashboard did not stop on SIGINT: {out} {err}")
    return proc.returncode, out, err


def test_dashboard_serves_the_study(study_url: str, chrome) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    proc = _start([STUDY, "--storage", study_url, "--port", str(port)])
    try:
        studies = _wait_for_study(proc, port)
        entry = next(s for s in studies if s["study_name"] == STUDY)
        assert entry["directions"] == ["maximize"]
        chrome.get(f"http://127.0.0.1:{port}/dashboard/")
        WebDriverWait(chrome, 45).until(lambda d: STUDY in d.find_element(By.TAG_NAME, "body").text)
        chrome.get(f"http://127.0.0.1:{port}/dashboard/studies/{entry['study_id']}")
        WebDriverWait(chrome, 45).until(lambda d: STUDY in d.find_element(By.TAG_NAME, "body").text)
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err
    assert "Traceback" not in err and "Traceback" not in out
    assert f"dashboard: http://127.0.0.1:{port}/dashboard/studies/{entry['study_id']}" in out
    assert f"storage: {study_url}" in out
    assert "warning" not in err  # loopback: nothing to warn about
    if Path("/proc/net/tcp").exists():  # Linux: nothing listens on the port any more
        listening = [line for line in Path("/proc/net/tcp").read_text().splitlines() if f":{port:04X} " in line]
        assert not [line for line in listening if " 0A " in line]


class _Lines:
    """Collects a process's stdout and stderr lines in threads; ``wait_for`` blocks on an event, not a sleep."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self._seen = threading.Condition()
        self._threads = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((proc.stdout, self.out), (proc.stderr, self.err))]
        for thread in self._threads:
            thread.start()

    def _read(self, stream, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self._seen:
                lines.append(line)
                self._seen.notify_all()
        with self._seen:
            lines.append("")  # end of stream
            self._seen.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        with self._seen:
            return self._seen.wait_for(lambda: any(text in line for line in self.out) or "" in self.out, timeout)

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)


def test_dashboard_on_every_interface_warns(study_url: str) -> None:
    port = _free_port()
    proc = _start([STUDY, "--storage", study_url, "--host", "0.0.0.0", "--port", str(port)])
    lines = _Lines(proc)
    try:
        # The server prints this once Ctrl-C means a clean stop; the bound is only a safety net on a loaded machine.
        assert lines.wait_for("press Ctrl-C to stop", timeout=120), "".join(lines.out + lines.err)
        assert "press Ctrl-C to stop\n" in lines.out, "".join(lines.out + lines.err)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        lines.join(timeout=10)
    out, err = "".join(lines.out), "".join(lines.err)
    assert code == 0 and "Traceback" not in err, (code, err)
    assert err.startswith("warning: the dashboard listens on every interface (0.0.0.0) without authentication")
    assert f"http://127.0.0.1:{port}/" in out and out.rstrip().endswith("dashboard stopped")


def test_dashboard_errors_are_one_line_and_mask_passwords(study_url: str, tmp_path: Path, capsys) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        cases = [
            (["dashboard", "nope", "--storage", study_url], "no study 'nope'"),
            (["dashboard", STUDY, "--storage", f"journal:{tmp_path / 'missing.journal'}"], "no such journal file"),
            (["dashboard", STUDY, "--storage", study_url, "--port", str(busy.getsockname()[1])], "cannot listen"),
            (["dashboard", STUDY, "--storage", "postgresql://me:hunter2secret@127.0.0.1:1/db"], "***"),
        ]
        for argv, expected in cases:
            with pytest.raises(SystemExit) as exc:
                main(argv)
            assert exc.value.code == 2
            err = capsys.readouterr().err
            assert expected in err and err.count("\n") == 1 and "hunter2secret" not in err, err
    finally:
        busy.close()
    assert not (tmp_path / "missing.journal").exists()


def test_dashboard_url_and_public_hosts() -> None:
    assert dashboard_url("127.0.0.1", 8080) == "http://127.0.0.1:8080/dashboard/"
    assert dashboard_url("0.0.0.0", 8080, 3) == "http://127.0.0.1:8080/dashboard/studies/3"
    assert dashboard_url("::", 9000) == "http://[::1]:9000/dashboard/"
    assert dashboard_url("::1", 9000) == "http://[::1]:9000/dashboard/"
    assert is_public_host("0.0.0.0") and is_public_host("::") and is_public_host("[::]")
    assert not is_public_host("127.0.0.1") and not is_public_host("localhost") and not is_public_host("::1")
