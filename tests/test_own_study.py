"""The acceptance test of "search on your own model": a user's factory, loader and training loop, all in a
package outside dynsearch (``tests/plugins/own_plugin``), searched by two workers, reported, exported and
re-trained by ``train --config`` to the same validation metric, on the journal storage and on PostgreSQL.

Every dynsearch process is a real subprocess that finds the plugin only through ``PYTHONPATH`` and the
study's ``plugins`` key.
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
LABEL = "own_plugin.data:blobs(n=120)"

STUDY = """\
name = "{name}"
plugins = ["own_plugin.models"]
datasets = [{{ name = "own_plugin.data:blobs", n = 120 }}]
objective = "own_plugin.train:fit"
n_trials = 4
[model]
factory = "own_plugin.models:residual_mlp"
[search]
strategies = ["fixed", "threshold"]
scopes = ["layer"]
bases = ["relu"]
[search.model]
width = [4, 12]
[training]
epochs = 3
batch_size = 16
lr = 0.05
patience = 0
[sampler]
name = "random"
seed = 0
[pruner]
name = "median"
n_startup_trials = 2
n_warmup_steps = 0
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PLUGIN_PATH)
    env.pop("DYNSEARCH_STORAGE", None)
    return env


def _dynsearch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynsearch", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def _load(url: str, name: str) -> optuna.Study:
    from dynsearch.search.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(url, heartbeat=False))


def _search_report_export_train(tmp: Path, url: str) -> None:
    (tmp / "own.toml").write_text(STUDY.format(name="own"))
    proc = _dynsearch("run", "own.toml", "--storage", url, "--workers", "2", "--quiet", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    # The pack engine vectorizes the built-in models only: said once, with the reason.
    assert proc.stderr.count("trials train one per worker") == 1 and "factory" in proc.stderr, proc.stderr
    trials = _load(url, "own").get_trials()
    assert_study_done(trials, 4, 2)
    assert {trial_arm(t) for t in trials} == {"fixed-relu", "threshold-layer"}
    for t in trials:
        assert 4 <= t.params["model.width"] <= 12
        assert t.user_attrs["train"]["model_params"]["width"] == t.params["model.width"]
        if t.state == TrialState.COMPLETE:
            # Every activation is a site, the F.relu and torch.tanh of the forward included.
            assert t.user_attrs["history"][LABEL]["sites"] == ["act", "relu_act", "tanh_act"]

    out = tmp / "report"
    proc = _dynsearch("report", "own", "--storage", url, "--seeds", "2", "--jobs", "2", "--out", str(out), "--quiet",
                      cwd=tmp)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = (out / "report.md").read_text()
    assert "| verdict |" in report and "threshold-layer" in report  # the verdict table
    assert "What each candidate adjusted" in report  # activity
    assert "figures/trajectory-threshold-layer.png" in report and (out / "figures").is_dir()  # trajectories
    assert f"{LABEL} (classification)" in report
    runs = json.loads((out / "retrain.json").read_text())["runs"]
    assert len(runs) == 4 and all(r["status"] == "ok" and math.isfinite(r["test_metric"]) for r in runs.values())

    proc = _dynsearch("export", "own", "--storage", url, "-o", "best.json", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    exported = json.loads((tmp / "best.json").read_text())
    assert exported["train"]["factory"] == "own_plugin.models:residual_mlp"
    assert exported["train"]["fit"] == "own_plugin.train:fit"
    best = _load(url, "own").trials[exported["trial"]]
    proc = _dynsearch("train", "--config", "best.json", "--json", "result.json", "--quiet", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    trained = json.loads((tmp / "result.json").read_text())
    assert trained["best_val_metric"] == best.user_attrs["datasets"][LABEL]["val_metrics"][0]


@pytest.mark.slow
def test_own_model_data_and_loop_on_the_journal(tmp_path: Path) -> None:
    _search_report_export_train(tmp_path, f"journal:{tmp_path / 'own.journal'}")


@pytest.mark.slow
def test_own_model_data_and_loop_on_postgres(tmp_path: Path, fresh_postgres_db: str) -> None:
    _search_report_export_train(tmp_path, fresh_postgres_db)
