"""The examples under ``examples/`` run as shipped (a study file plus a module each), at a small size."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from study_helpers import trial_arm

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run_example(folder: str, name: str, tmp_path: Path) -> optuna.Study:
    """``dynsearch run study.toml`` in a copy of the example (2 trials, 1 worker); the stored study."""
    from dynsearch.search.storage import open_storage

    work = tmp_path / folder
    shutil.copytree(EXAMPLES / folder, work)
    url = f"journal:{work / 'study.journal'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNSEARCH_")}
    env.pop("PYTHONPATH", None)  # the example's module is found next to its study file, as for a user
    proc = subprocess.run([sys.executable, "-m", "dynsearch", "run", "study.toml", "--storage", url, "--workers", "1",
                           "--n-trials", "2", "--quiet"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name=name, storage=open_storage(url, heartbeat=False))
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
    return study


@pytest.mark.slow
def test_residual_mlp_on_a_csv(tmp_path: Path) -> None:
    study = _run_example("residual_mlp_csv", "resmlp_wine", tmp_path)
    trial = study.get_trials()[0]
    assert 16 <= trial.params["model.width"] <= 64 and trial.user_attrs["train"]["model_params"]["blocks"] == 2
    (label,) = trial.user_attrs["history"]
    assert label.startswith("csv:") and label.endswith("wine.csv(target='target')")
    assert len(trial.user_attrs["history"][label]["sites"]) == 3  # the stem's ReLU and one per block


@pytest.mark.slow
def test_residual_cnn_on_digits_makes_every_activation_a_site(tmp_path: Path) -> None:
    study = _run_example("digits_cnn", "rescnn_digits", tmp_path)
    for trial in study.get_trials():
        # The module activation and both F.relu calls of the forward: every activation is a site.
        assert trial.user_attrs["history"]["rescnn:load_digits(n=600)"]["sites"] == ["act", "relu_act", "relu_1_act"]
    fixed = next(t for t in study.get_trials() if trial_arm(t) == "fixed-relu")
    assert fixed.value is not None and fixed.value > 0.5  # it learns: far above the 0.1 of chance


@pytest.mark.slow
def test_own_training_loop_with_a_dataloader_and_a_scheduler(tmp_path: Path) -> None:
    study = _run_example("own_loop", "own_loop", tmp_path)
    for trial in study.get_trials():
        assert trial.user_attrs["train"]["fit"] == "loop:fit"
        assert len(trial.user_attrs["datasets"]) == 2 and all(
            len(h["epochs"]) == 5 for h in trial.user_attrs["history"].values())  # fmt: skip
