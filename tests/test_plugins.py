"""A user's own strategy, end to end: declared in a plugin package, named in a study file, searched by
two worker processes, reported, exported and re-trained, and joined by a separately started worker.

The plugin is ``tests/plugins/damped_plugin/strategies.py`` (float, int and categorical parameters of
its own). Every dynsearch process here is a real subprocess that finds it only through
``PYTHONPATH`` and the study's ``plugins`` key (or an installed ``dynsearch.plugins`` entry point).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from study_helpers import assert_study_done, trial_arm

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PATH = ROOT / "tests" / "plugins"
LABEL = "moons(n_samples=200, noise=0.2)"

STUDY = """\
name = "{name}"
plugins = ["damped_plugin.strategies"]
datasets = [{{ name = "moons", n_samples = 200, noise = 0.2 }}]
n_trials = {n_trials}
[model]
kind = "mlp"
hidden = [8]
[training]
epochs = 3
batch_size = 32
lr = 0.01
patience = 0
[search]
strategies = ["fixed", "damped"]
scopes = ["layer"]
bases = ["relu"]
[search.damped]
lam = [-0.5, 0.5]
damping = [0.1, 1.0]
delay = [0, 2]
mode = ["towards", "away"]
[sampler]
name = "random"
seed = 0
[pruner]
name = "none"
"""


def _env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    env.pop("DYNSEARCH_STORAGE", None)
    return env


def _dynsearch(*args: str, cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynsearch", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A study of the plugin strategy run by ``dynsearch run`` with 2 workers: ``(folder, storage url)``."""
    tmp = tmp_path_factory.mktemp("plug")
    (tmp / "plug.toml").write_text(STUDY.format(name="plug", n_trials=6))
    url = f"journal:{tmp / 'plug.journal'}"
    proc = _dynsearch("run", "plug.toml", "--storage", url, "--workers", "2", "--quiet", cwd=tmp, env=_env(PLUGIN_PATH))
    assert proc.returncode == 0, proc.stderr
    assert "damped-layer" in proc.stdout  # the run's summary names the plugin's arm
    return tmp, url


def _load(url: str, name: str) -> optuna.Study:
    from dynsearch.search.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(url, heartbeat=False))


def test_plugin_strategy_is_searched_within_its_declared_ranges(searched: tuple[Path, str]) -> None:
    _, url = searched
    study = _load(url, "plug")
    trials = study.get_trials()
    assert_study_done(trials, 6, 2)
    damped = [t for t in trials if trial_arm(t) == "damped-layer"]
    assert len(damped) == 3
    # Trained in the run's worker processes, which imported the plugin themselves. Which worker: one pack may
    # hold all six trials, so on a busy machine one worker can take them all (a worker started on its own is
    # checked in test_a_separately_started_worker_joins_the_study).
    workers = {t.system_attrs.get("dynsearch_worker") for t in trials}
    assert workers and None not in workers, workers
    for t in damped:
        assert t.state == TrialState.COMPLETE
        params = t.user_attrs["strategy"]["params"]
        assert t.user_attrs["strategy"]["name"] == "damped"
        assert -0.5 <= params["lam"] <= 0.5 and t.params["damped.lam"] == params["lam"]
        assert 0.1 <= params["damping"] <= 1.0 and t.params["damped.damping"] == params["damping"]
        assert params["delay"] in (0, 1, 2) and isinstance(params["delay"], int)
        assert params["mode"] in ("towards", "away")
        assert (params["base"], params["scope"], params["signal"]) == ("relu", "layer", "io")
    # The study stores the plugins it needs, so a worker that joins later imports them too.
    assert study.user_attrs["dynsearch_spec"]["plugins"] == ["damped_plugin.strategies"]


def test_report_compares_the_plugin_strategy(searched: tuple[Path, str]) -> None:
    tmp, url = searched
    out = tmp / "report"
    proc = _dynsearch("report", "plug", "--storage", url, "--seeds", "2", "--jobs", "2", "--out", str(out), "--quiet",
                      cwd=tmp, env=_env(PLUGIN_PATH))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = json.loads((out / "retrain.json").read_text())["runs"]
    damped = [r for key, r in runs.items() if key.startswith("damped-layer/")]
    assert len(damped) == 2 and all(r["status"] == "ok" and math.isfinite(r["test_metric"]) for r in damped)
    report = (out / "report.md").read_text()
    paired = report[report.index("Candidates against the baseline"):]
    assert "damped-layer" in paired and "fixed-relu" in paired


def test_export_then_train_reproduces_the_plugin_trial(searched: tuple[Path, str]) -> None:
    tmp, url = searched
    proc = _dynsearch("export", "plug", "--storage", url, "--family", "damped", "-o", "best.json", cwd=tmp,
                      env=_env(PLUGIN_PATH))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    exported = json.loads((tmp / "best.json").read_text())
    assert exported["plugins"] == ["damped_plugin.strategies"] and exported["arm"] == "damped-layer"
    best = _load(url, "plug").trials[exported["trial"]]
    proc = _dynsearch("train", "--config", "best.json", "--json", "result.json", "--quiet", cwd=tmp,
                      env=_env(PLUGIN_PATH))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    trained = json.loads((tmp / "result.json").read_text())
    assert trained["strategy"] == best.user_attrs["strategy"]
    assert trained["best_val_metric"] == best.user_attrs["datasets"][LABEL]["val_metrics"][0]


def test_a_separately_started_worker_joins_the_study(tmp_path: Path) -> None:
    """The worker is given only the study's name and storage: the plugin comes from the stored study."""
    sys.path.insert(0, str(PLUGIN_PATH))
    try:
        from dynsearch.config import load_study_file
        from dynsearch.search import open_storage, prepare_study

        (tmp_path / "join.toml").write_text(STUDY.format(name="join", n_trials=2))
        url = f"journal:{tmp_path / 'join.journal'}"
        prepare_study(load_study_file(tmp_path / "join.toml"), open_storage(url), url, 2)
    finally:
        sys.path.remove(str(PLUGIN_PATH))
    proc = _dynsearch("worker", "--study", "join", "--storage", url, cwd=tmp_path, env=_env(PLUGIN_PATH))
    assert proc.returncode == 0, proc.stderr
    trials = _load(url, "join").get_trials()
    assert_study_done(trials, 2, 2)
    damped = next(t for t in trials if trial_arm(t) == "damped-layer")
    assert damped.user_attrs["strategy"]["name"] == "damped" and "damped.mode" in damped.params

    # A worker on a machine without the plugin says so in one line and runs nothing.
    (tmp_path / "more.toml").write_text(STUDY.format(name="join", n_trials=4))
    sys.path.insert(0, str(PLUGIN_PATH))
    try:
        prepare_study(load_study_file(tmp_path / "more.toml"), open_storage(url), url, 4)
    finally:
        sys.path.remove(str(PLUGIN_PATH))
    proc = _dynsearch("worker", "--study", "join", "--storage", url, cwd=tmp_path, env=_env())
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "damped_plugin.strategies" in proc.stderr and "No module named 'damped_plugin'" in proc.stderr
    assert len([t for t in _load(url, "join").get_trials() if t.state == TrialState.WAITING]) == 2


@pytest.mark.parametrize(("module", "cause"), [
    ("damped_plugin.broken", "No module named 'dynsearch_no_such_dependency'"),
    ("damped_plugin.nothere", "No module named 'damped_plugin.nothere'"),
])  # fmt: skip
def test_a_plugin_that_fails_to_import_is_one_line_exit_2_nothing_written(tmp_path: Path, module: str, cause: str) -> None:
    (tmp_path / "bad.toml").write_text(STUDY.format(name="bad", n_trials=2).replace("damped_plugin.strategies", module))
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = _dynsearch("run", "bad.toml", cwd=tmp_path, env=_env(PLUGIN_PATH))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"bad.toml: plugins[0]: plugin '{module}' cannot be imported" in proc.stderr and cause in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no runs/, no journal


def _entry_point_dist(folder: Path, module: str) -> Path:
    """An installed distribution (as pip leaves it) that declares ``module`` under dynsearch.plugins."""
    info = folder / "damped_ep-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: damped-ep\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dynsearch.plugins]\ndamped = {module}\n")
    return folder


def test_entry_point_plugins_load_without_naming_them(tmp_path: Path) -> None:
    site = _entry_point_dist(tmp_path / "site", "damped_plugin.strategies")
    env = _env(site, PLUGIN_PATH)
    proc = _dynsearch("train", "--dataset", "iris", "--strategy", "damped", "--epochs", "2", "--json", "r.json",
                      "--quiet", cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["strategy"]["name"] == "damped"
    # The same study file without its plugins key works too: the entry point registers the strategy.
    text = STUDY.format(name="ep", n_trials=2).replace('plugins = ["damped_plugin.strategies"]\n', "")
    (tmp_path / "ep.toml").write_text(text)
    proc = _dynsearch("run", "ep.toml", "--workers", "1", "--quiet", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr


def test_a_broken_entry_point_plugin_is_one_line_exit_2(tmp_path: Path) -> None:
    site = _entry_point_dist(tmp_path / "site", "damped_plugin.broken")
    proc = _dynsearch("train", "--dataset", "iris", "--epochs", "1", cwd=tmp_path, env=_env(site, PLUGIN_PATH))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "plugin 'damped_plugin.broken' (entry point 'damped' of dynsearch.plugins) cannot be imported" in proc.stderr
    assert "No module named 'dynsearch_no_such_dependency'" in proc.stderr
