"""A worker imports only what it uses: no plotting or report modules, and no scikit-learn or pandas when
``dynsearch run`` handed it prepared splits; the splits it reads equal what ``load_dataset`` gives."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import torch
from study_helpers import study_toml

from dynsearch.config import DatasetSpec, load_study_file
from dynsearch.data import load_dataset
from dynsearch.search import open_storage, prepare_study
from dynsearch.search.split_cache import CACHE_ENV, read_cached_splits, write_split_cache
from dynsearch.train import TrainConfig, train

HEAVY = ("sklearn", "pandas", "scipy", "matplotlib", "plotly", "optuna_dashboard", "dynsearch.report")


def test_cached_splits_equal_loaded_ones(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    body = study_toml("c", datasets='["iris", { name = "moons", n_samples = 90 }]', n_trials=1, epochs=1,
                      strategies=("fixed",))  # fmt: skip
    path.write_text(body.replace("n_trials = 1", "n_trials = 1\nreplicates = 2\nsplit_seeds = [3, 4]"))
    spec = load_study_file(path)
    assert write_split_cache(spec, tmp_path) == 2 * 3  # two datasets x split seeds {0, 3, 4}
    for ds in spec.datasets:
        for seed in (3, 4):
            cached = read_cached_splits(tmp_path, ds, seed, torch.device("cpu"))
            fresh = load_dataset(ds.name, split_seed=seed, **ds.options)
            for f in dataclasses.fields(fresh):
                a, b = getattr(cached, f.name), getattr(fresh, f.name)
                if isinstance(b, torch.Tensor):
                    assert a.dtype == b.dtype and torch.equal(a, b), f.name
                elif isinstance(b, np.ndarray):
                    assert np.array_equal(a, b), f.name
                else:
                    assert a == b, f.name
    assert read_cached_splits(tmp_path, DatasetSpec("wine"), 0, torch.device("cpu")) is None
    assert read_cached_splits(None, spec.datasets[0], 3, torch.device("cpu")) is None


def _modules_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return sorted({m for m in modules for h in HEAVY if m == h or m.startswith(h + ".")})


def test_the_worker_command_imports_no_plotting_report_or_data_libraries() -> None:
    modules = _modules_after("import dynsearch.cli.search_cmd, dynsearch.search.worker, dynsearch.search.runner")
    assert _heavy(modules) == []
    assert "torch" in modules and "optuna" in modules  # the probe does see imports


def test_a_worker_on_cached_splits_trains_without_scikit_learn(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(study_toml("w", datasets='["iris"]', n_trials=1, epochs=1, strategies=("fixed",)))
    spec = load_study_file(path)
    url = f"journal:{tmp_path / 'w.journal'}"
    prepare_study(spec, open_storage(url), url, 1)
    cache = tmp_path / "splits"
    cache.mkdir()
    write_split_cache(spec, cache)
    env = {**os.environ, CACHE_ENV: str(cache), "DYNSEARCH_STORAGE": url}
    modules = _modules_after(
        "from dynsearch.cli import main\nassert main(['worker', '--study', 'w', '--quiet', '--pack', '1']) == 0", env
    )
    assert _heavy(modules) == []
    assert "torch._dynamo" not in modules  # an eager pack never needs torch's compiler stack (about 2 s to import)
    trials = optuna.load_study(study_name="w", storage=open_storage(url)).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE]
    # ... on the same data: its value is what train() gives on the dataset loaded the usual way.
    t = trials[0]
    config = TrainConfig(**{**t.user_attrs["train"], "seed": 0})
    assert t.values[0] == train(load_dataset("iris"), t.user_attrs["strategy"], config).best_val_metric
