"""Security: no unsafe deserialization or dynamic code in the sources, a database password that
never shows up anywhere dynsearch writes, and a dashboard that listens on loopback unless asked.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from pg_server import to_libpq
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
# The shipped package and the scripts next to it. The tests only (de)serialize objects they made
# themselves in memory, so they are not scanned.
SCANNED = [ROOT / "dynsearch", ROOT / "benchmarks"]


# --- unsafe calls in the sources -------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    return ""


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal"}


def unsafe_uses(source: str, filename: str = "<source>") -> list[str]:
    """Every unsafe construct in ``source``, as ``"line N: what"`` (comments and strings ignored)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in UNSAFE_MODULES:
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            where = f"line {node.lineno}: {name}("
            if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
                found.append(where)
            elif name.split(".")[0] in UNSAFE_MODULES:
                found.append(where)
            elif name.endswith("torch.load"):
                if not _is_true(_kw(node, "weights_only")):
                    found.append(where + " without weights_only=True")
            elif name in ("yaml.load", "yaml.load_all"):
                loader = _dotted(_kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else ast.Constant(None)))
                if not loader.endswith(("SafeLoader", "CSafeLoader")):
                    found.append(where + " without a SafeLoader")
            elif name in ("yaml.unsafe_load", "yaml.full_load", "pd.read_pickle", "pandas.read_pickle", "joblib.load",
                          "os.system", "os.popen"):
                found.append(where)
            elif name.endswith(("np.load", "numpy.load")) and _is_true(_kw(node, "allow_pickle")):
                found.append(where + " with allow_pickle=True")
            elif name.startswith("subprocess.") and _is_true(_kw(node, "shell")):
                found.append(where + " with shell=True")
    return found


def _python_files() -> list[Path]:
    return sorted(p for base in SCANNED for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_scanner_finds_what_it_looks_for() -> None:
    bad = """
import pickle
from dill import loads
import torch, yaml, numpy as np, subprocess
x = eval("1 + 1")
exec("y = 2")
torch.load("m.pt")
torch.load("m.pt", weights_only=False)
yaml.load(text)
yaml.load(text, Loader=yaml.Loader)
np.load("a.npy", allow_pickle=True)
subprocess.run("ls", shell=True)
"""
    assert len(unsafe_uses(bad)) == 10, unsafe_uses(bad)
    good = """
import torch, yaml
model.eval()  # nn.Module.eval, not the builtin
torch.load("m.pt", weights_only=True)
yaml.load(text, Loader=yaml.SafeLoader)
yaml.safe_load(text)
s = "pickle eval( exec( torch.load("
# import pickle
"""
    assert unsafe_uses(good) == []


def test_sources_have_no_unsafe_deserialization_or_dynamic_code() -> None:
    files = _python_files()
    assert len(files) > 20, files  # the package really was found
    problems = {str(p.relative_to(ROOT)): unsafe_uses(p.read_text(), str(p)) for p in files}
    assert {k: v for k, v in problems.items() if v} == {}


# --- the database password ------------------------------------------------------------------------

STUDY = """\
name = "secret"
storage = "{url}"
datasets = [{{ name = "moons", n_samples = 200 }}]
n_trials = 4
[model]
kind = "mlp"
hidden = [8]
[training]
epochs = 3
patience = 0
[search]
strategies = ["fixed", "threshold"]
scopes = ["layer"]
bases = ["relu"]
[sampler]
name = "random"
[pruner]
name = "none"
"""


def _env(url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    if url is not None:
        env["DYNSEARCH_STORAGE"] = url
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _dynsearch(args: list[str], cwd: Path, url: str | None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dynsearch", *args], cwd=cwd, env=_env(url), capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _database_text(url: str) -> str:
    """Every row of every table of the database, as text."""
    chunks = []
    with psycopg.connect(to_libpq(url)) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        assert len(tables) > 5, tables  # Optuna's schema is there
        for (table,) in tables:
            rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall()
            chunks.append(f"{table}: {rows!r}")
    return "\n".join(chunks)


def test_the_database_password_appears_in_no_output_file_or_attribute(tmp_path: Path, fresh_postgres_db: str) -> None:
    url = fresh_postgres_db
    password = urlsplit(url).password
    assert password and password.startswith("s3cr3t-pw-")
    study_file = tmp_path / "secret.toml"
    study_file.write_text(STUDY.format(url=url))  # the file names the storage, password included
    outputs: dict[str, str] = {}

    # The run itself, verbose: its workers get the URL through the environment, never in argv.
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynsearch", "run", study_file.name, "--workers", "2", "--verbose"],
        cwd=tmp_path, env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    cmdlines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            cmdlines += [_cmdline(pid) for pid in _descendants(proc.pid)]
            time.sleep(0.2)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            for pid in _descendants(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert any(" worker " in c for c in cmdlines), "no worker process was seen"
    outputs["run.stdout"], outputs["run.stderr"] = out, err
    outputs["worker command lines"] = "\n".join(cmdlines)
    assert "***@" in out  # the storage is shown, masked

    # Everything else that reads the study, and two errors that name the storage (a wrong password,
    # an unreachable server), all at once: they are independent.
    wrong = url.replace(password, "wr0ng-pw-7731")
    unreachable = url.replace(f":{urlsplit(url).port}/", ":1/")
    commands = {
        "worker": (["worker", "--study", "secret", "--verbose"], url, 0),
        "studies": (["studies"], url, 0),
        "export": (["export", "secret", "-o", "best.json"], url, 0),
        "report": (["report", "secret", "--seeds", "1", "--out", "report", "--quiet"], url, 0),
        "studies (wrong password)": (["studies"], wrong, 2),
        "studies (unreachable)": (["studies"], unreachable, 2),
    }
    running = {
        label: subprocess.Popen(
            [sys.executable, "-m", "dynsearch", *args], cwd=tmp_path, env=_env(storage), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        )
        for label, (args, storage, _) in commands.items()
    }  # fmt: skip
    for label, child in running.items():
        out, err = child.communicate(timeout=180)
        assert child.returncode == commands[label][2], (label, child.returncode, err)
        outputs[f"{label}.stdout"], outputs[f"{label}.stderr"] = out, err
    assert "***@" in outputs["studies.stdout"]
    for label in ("studies (wrong password)", "studies (unreachable)"):
        line = outputs[f"{label}.stderr"]
        assert len(line.splitlines()) == 1 and "***@" in line and "wr0ng-pw-7731" not in line, line

    for label, text in outputs.items():
        assert password not in text, f"the password leaked into {label}"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != study_file]
    assert any(p.name == "best.json" for p in written) and any(p.suffix == ".html" for p in written), written
    for path in written:
        assert password.encode() not in path.read_bytes(), f"the password leaked into {path.relative_to(tmp_path)}"
    assert password not in _database_text(url), "the password is stored in the database"


# --- the dashboard ---------------------------------------------------------------------------------


def _listening(port: int) -> set[str]:
    """Local addresses listening on TCP ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            addr, port_hex = fields[1].split(":")
            if int(port_hex, 16) == port and fields[3] == "0A":
                found.add(".".join(str(int(addr[i : i + 2], 16)) for i in (6, 4, 2, 0)) if len(addr) == 8 else addr)
    return found


def test_dashboard_binds_loopback_by_default(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp")
    from dynsearch.dashboard import DEFAULT_HOST

    assert DEFAULT_HOST == "127.0.0.1"
    # An empty study on a journal is enough to serve.
    import optuna

    from dynsearch.search import open_storage

    journal = tmp_path / "runs" / "empty.journal"
    optuna.create_study(study_name="empty", storage=open_storage(f"journal:{journal}"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynsearch", "dashboard", "--storage", f"journal:{journal}", "--port", "0"],
        cwd=tmp_path, env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://([^:/]+):(\d+)", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        assert match.group(1) == "127.0.0.1"
        assert _listening(int(match.group(2))) == {"127.0.0.1"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
