"""Bad input to a study's own model, data and training loop: each is one line, exit code 2, no traceback,
nothing written (``run`` and ``train --config``); a training function that breaks its contract fails its
trial and the study goes on.

The user code is ``tests/plugins/own_plugin``; each case runs ``python -m dynsearch`` in its own empty
folder with only that package on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PATH = ROOT / "tests" / "plugins"

GOOD = """\
name = "own"
datasets = ["own_plugin.data:blobs"]
n_trials = 2
[model]
factory = "own_plugin.models:residual_mlp"
[model.params]
width = 8
[training]
epochs = 1
[search]
strategies = ["fixed", "threshold"]
scopes = ["layer"]
bases = ["relu"]
"""


def _study(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


FACTORY = 'factory = "own_plugin.models:residual_mlp"'
DATASET = 'datasets = ["own_plugin.data:blobs"]'

# (id, study file, substrings of the one stderr line)
CASES = [
    ("factory-not-importable", _study(FACTORY, 'factory = "own_plugin.nothere:net"'),
     ("model.factory", "cannot be imported", "No module named 'own_plugin.nothere'")),
    ("factory-missing-attribute", _study(FACTORY, 'factory = "own_plugin.models:nope"'),
     ("model.factory", "has no attribute 'nope'")),
    ("factory-not-callable", _study(FACTORY, 'factory = "own_plugin.models:NOT_CALLABLE"'),
     ("model.factory", "int object is not callable")),
    ("factory-unknown-name", _study(FACTORY, 'factory = "resnet"'), ("model.factory", "not a registered model", "mlp")),
    ("factory-rejects-params", _study(FACTORY, 'factory = "own_plugin.models:raises"'),
     ("model.params", "does not accept 'width'")),
    ("factory-raises-in-call", _study(FACTORY + "\n[model.params]\nwidth = 8", 'factory = "own_plugin.models:raises"\n[model.params]'),
     ("model.factory", "raised RuntimeError: out of ideas")),
    ("factory-returns-no-module", _study(FACTORY + "\n[model.params]\nwidth = 8",
                                         'factory = "own_plugin.models:no_module"\n[model.params]'),
     ("model.factory", "returned str, not a torch nn.Module")),
    ("factory-wrong-shape", _study(FACTORY + "\n[model.params]\nwidth = 8", 'factory = "own_plugin.models:wrong_shape"\n[model.params]'),
     ("model.factory", "returns shape (2, 7)", "expected (2, 2)")),
    ("factory-no-activation", _study(FACTORY + "\n[model.params]\nwidth = 8",
                                     'factory = "own_plugin.models:no_activation"\n[model.params]'),
     ("model.factory", "no activation module to make dynamic")),
    ("factory-unknown-param", _study("width = 8", "depth = 3"), ("model.params", "does not accept 'depth'", "width")),
    ("factory-unknown-searched-param", GOOD + "[search.model]\ndepth = [1, 3]\n",
     ("model.params", "does not accept 'depth'")),
    ("params-without-factory", _study(FACTORY, 'kind = "mlp"'), ("model.params", "needs model.factory")),
    ("loader-not-importable", _study(DATASET, 'datasets = ["own_plugin.nodata:load"]'),
     ("datasets[0]", "cannot be imported", "No module named 'own_plugin.nodata'")),
    ("loader-not-callable", _study(DATASET, 'datasets = ["own_plugin.models:NOT_CALLABLE"]'),
     ("datasets[0]", "not callable")),
    ("loader-raises", _study(DATASET, 'datasets = ["own_plugin.data:raises"]'),
     ("datasets", "raised OSError: the share is not mounted")),
    ("loader-no-target", _study(DATASET, 'datasets = ["own_plugin.data:no_target"]'),
     ("datasets", "returned no 'y_train'")),
    ("loader-task-unknown", _study(DATASET, 'datasets = ["own_plugin.data:unknown_task"]'),
     ("datasets", "cannot tell the task", "task='classification'")),
    ("loader-unknown-option", _study(DATASET, 'datasets = [{ name = "own_plugin.data:blobs", size = 3 }]'),
     ("datasets", "does not accept 'size'", "n")),
    ("objective-not-importable", 'objective = "own_plugin.nofit:fit"\n' + GOOD,
     ("objective", "cannot be imported")),
    ("objective-not-callable", 'objective = "own_plugin.models:NOT_CALLABLE"\n' + GOOD, ("objective", "not callable")),
]  # fmt: skip


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNSEARCH_")}
    env.update(PYTHONPATH=str(PLUGIN_PATH), CUDA_VISIBLE_DEVICES="", PYTHONDONTWRITEBYTECODE="1")
    return env


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynsearch", *args], cwd=root, env=_env(), capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess, bool]]:
    """Every case run once, a few at a time: ``{id: (process, whether the folder is unchanged)}``."""

    def one(case: tuple[str, str, tuple[str, ...]]) -> tuple[subprocess.CompletedProcess, bool]:
        root = tmp_path_factory.mktemp(case[0])
        (root / "s.toml").write_text(case[1])
        before = _listing(root)
        proc = _run(root, "run", "s.toml", "--workers", "1")
        return proc, _listing(root) == before

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip([c[0] for c in CASES], pool.map(one, CASES)))


@pytest.mark.parametrize(("case_id", "expect"), [pytest.param(c[0], c[2], id=c[0]) for c in CASES])
def test_bad_own_input_is_one_line_exit_2_and_writes_nothing(case_id: str, expect: tuple[str, ...], outcomes) -> None:
    proc, unchanged = outcomes[case_id]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    for expected in expect:
        assert expected in proc.stderr, f"{expected!r} not in {proc.stderr!r}"
    assert unchanged, "the run wrote files"


@pytest.mark.parametrize(("fit", "cause"), [
    ("own_plugin.train:never_reports", "returned without calling ctx.report"),
    ("own_plugin.train:reports_nan", "reported a non-finite value"),
])  # fmt: skip
def test_a_fit_that_breaks_the_contract_fails_its_trials_and_the_study_goes_on(tmp_path: Path, fit: str,
                                                                               cause: str) -> None:  # fmt: skip
    import optuna
    from optuna.trial import TrialState

    from dynsearch.search.storage import open_storage

    (tmp_path / "s.toml").write_text(f'objective = "{fit}"\n' + GOOD)
    url = f"journal:{tmp_path / 's.journal'}"
    proc = _run(tmp_path, "run", "s.toml", "--storage", url, "--workers", "1", "--quiet")
    assert "Traceback" not in proc.stderr, proc.stderr
    study = optuna.load_study(study_name="own", storage=open_storage(url, heartbeat=False))
    states = [t.state for t in study.get_trials()]
    assert states and all(s == TrialState.FAIL for s in states), states  # each trial failed, none hung
    reasons = [t.system_attrs.get("fail_reason") or t.user_attrs.get("fail_reason") or "" for t in study.get_trials()]
    assert proc.returncode in (0, 1) and (any(cause in r for r in reasons) or cause in proc.stdout + proc.stderr)


def test_train_config_with_a_factory_that_no_longer_fits_is_one_line_exit_2(tmp_path: Path) -> None:
    config = {
        "schema": "dynsearch.export/1",
        "strategy": {"name": "fixed", "params": {"base": "relu"}},
        "train": {"epochs": 1, "factory": "own_plugin.models:wrong_shape", "model_params": {}},
        "split_seed": 0,
        "datasets": [{"name": "own_plugin.data:blobs", "options": {}}],
    }
    (tmp_path / "c.json").write_text(json.dumps(config))
    before = _listing(tmp_path)
    proc = _run(tmp_path, "train", "--config", "c.json", "--json", "r.json")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "returns shape (2, 7)" in proc.stderr
    assert _listing(tmp_path) == before
