"""Dataset suites: CSV globs with sidecars, the synthetic suite, the real-data suite, and their errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from study_helpers import study_toml

from dynsearch.config import ConfigError, load_study_file, parse_study
from dynsearch.data import (
    REAL_DATASETS,
    DatasetError,
    describe_dataset,
    expand_dataset_entry,
    load_dataset,
    synthetic_recipe,
)

TENSORS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def _same(a, b) -> bool:
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in TENSORS)


def _write_csvs(folder: Path, n: int = 3, rows: int = 60) -> list[Path]:
    """``n`` small CSV files whose label is the first column (not the last), so a sidecar matters."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        x = rng.standard_normal((rows, 3))
        frame = pd.DataFrame({"label": (x[:, 0] + 0.3 * i > 0).astype(int), "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
        path = folder / f"set{i}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths


# --- the synthetic suite ---------------------------------------------------------------------------


def test_synthetic_suite_expands_to_members_that_load_alone() -> None:
    entries = expand_dataset_entry({"suite": "synthetic", "n": 4, "seed": 0})
    assert entries == [(f"synthetic_0{i}", {}) for i in range(4)]
    seeded = expand_dataset_entry({"suite": "synthetic", "n": 2, "seed": 5})
    assert seeded == [("synthetic_00", {"suite_seed": 5}), ("synthetic_01", {"suite_seed": 5})]
    # A member is an ordinary dataset: any spelling of its name, the same tensors.
    assert _same(load_dataset("synthetic-03"), load_dataset("synthetic_03", suite_seed=0))


def test_synthetic_suite_is_reproducible_from_its_seed_and_members_do_not_depend_on_n() -> None:
    small = expand_dataset_entry({"suite": "synthetic", "n": 3, "seed": 1})
    large = expand_dataset_entry({"suite": "synthetic", "n": 6, "seed": 1})
    assert large[:3] == small
    for name, options in small:
        assert _same(load_dataset(name, **options), load_dataset(name, **options))
    # Another suite seed gives other datasets.
    differs = [
        synthetic_recipe(i, 1) != synthetic_recipe(i, 2)
        or not _same(load_dataset(f"synthetic_0{i}", suite_seed=1), load_dataset(f"synthetic_0{i}", suite_seed=2))
        for i in range(3)
    ]
    assert all(differs)


def test_synthetic_suite_varies_task_size_classes_features_and_noise() -> None:
    recipes = [synthetic_recipe(i) for i in range(26)]
    assert {r["task"] for r in recipes} == {"classification", "regression"}
    # Any 13 consecutive members cover every generator.
    generators = {r["generator"] for r in recipes[13:26]}
    assert generators == {"classification", "gaussian_quantiles", "moons", "circles", "spirals", "regression",
                          "friedman1", "friedman2", "friedman3"}  # fmt: skip
    assert len({r["n_samples"] for r in recipes}) > 15
    assert all(200 <= r["n_samples"] <= 3000 for r in recipes)
    assert len({r["n_features"] for r in recipes}) > 8
    assert len({r["n_classes"] for r in recipes if r["task"] == "classification"}) >= 4
    assert len({r.get("noise", r.get("label_noise")) for r in recipes}) > 20
    for i in (0, 2, 9):
        splits = load_dataset(f"synthetic_{i:02d}")
        recipe = recipes[i]
        assert splits.task == recipe["task"]
        assert splits.n_features == recipe["n_features"]
        rows = len(splits.y_train) + len(splits.y_val) + len(splits.y_test)
        assert rows == recipe["n_samples"]
        if recipe["task"] == "classification":
            assert splits.n_outputs == recipe["n_classes"]


def test_synthetic_member_options_are_checked() -> None:
    with pytest.raises(DatasetError, match=r"Unknown option 'noise' for dataset 'synthetic_01'; allowed: suite_seed"):
        load_dataset("synthetic_01", noise=0.1)
    with pytest.raises(DatasetError, match=r"suite_seed=-1 .* integer in \[0, 4294967295\]"):
        load_dataset("synthetic_01", suite_seed=-1)
    with pytest.raises(DatasetError, match="Unknown dataset 'synthetic_1'"):
        load_dataset("synthetic_1")  # members have two digits at least


# --- the real-data suite ---------------------------------------------------------------------------


def test_real_suite_lists_the_offline_datasets_and_each_loads() -> None:
    assert expand_dataset_entry({"suite": "real"}) == [(name, {}) for name in REAL_DATASETS]
    tips, gapminder = load_dataset("tips"), load_dataset("gapminder")
    assert (tips.task, len(tips.y_train) + len(tips.y_val) + len(tips.y_test)) == ("regression", 244)
    assert (gapminder.task, len(gapminder.y_train) + len(gapminder.y_val) + len(gapminder.y_test)) == ("regression", 1704)
    assert "day=Sun" in tips.feature_names and "size" in tips.feature_names
    assert not any("country" in f or "iso" in f for f in gapminder.feature_names)


# --- describe_dataset ------------------------------------------------------------------------------


def test_describe_dataset_names_task_size_classes_and_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert describe_dataset(load_dataset("iris")) == "iris: classification, 3 classes, 4 features, 90 train / 30 val / 30 test"
    assert describe_dataset(load_dataset("diabetes")) == "diabetes: regression, 10 features, 264 train / 89 val / 89 test"
    assert "64 features (1×8×8)" in describe_dataset(load_dataset("digits"))
    path = _write_csvs(tmp_path / "data", 1)[0]
    monkeypatch.chdir(tmp_path)
    text = describe_dataset(load_dataset(f"csv:{path}", target="label"))
    assert text == "csv:data/set0.csv: classification, 2 classes, 3 features, 36 train / 12 val / 12 test"


# --- CSV globs and sidecars ------------------------------------------------------------------------


def test_glob_expands_to_each_file_from_the_study_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _write_csvs(tmp_path / "studies" / "data")
    study = tmp_path / "studies" / "s.toml"
    study.write_text('datasets = [{ name = "csv:data/*.csv", target = "label" }]\n')
    monkeypatch.chdir(tmp_path / "studies" / "data")  # not the study's folder: the pattern is read from there
    spec = load_study_file(study)
    assert [d.name for d in spec.datasets] == [f"csv:{p.resolve()}" for p in paths]
    assert all(d.options == {"target": "label"} for d in spec.datasets)
    # The stored form re-parses to the same datasets (the glob is not stored, its files are).
    assert type(spec).from_dict(spec.to_dict()).datasets == spec.datasets


def test_sidecars_give_each_file_its_target_and_explicit_options_win(tmp_path: Path) -> None:
    paths = _write_csvs(tmp_path / "data")
    paths[0].with_suffix(".target").write_text("label\n")
    paths[1].with_suffix(".json").write_text(json.dumps({"target": "label", "task": "classification"}))
    entries = expand_dataset_entry("csv:data/*.csv", base_dir=tmp_path)
    assert [options for _, options in entries] == [{"target": "label"}, {"target": "label", "task": "classification"}, {}]
    explicit = expand_dataset_entry({"name": "csv:data/*.csv", "target": "a"}, base_dir=tmp_path)
    assert [options["target"] for _, options in explicit] == ["a", "a", "a"]
    # A single file reads its sidecar too: the label column, not the last column, is the target.
    assert load_dataset(f"csv:{paths[0]}").task == "classification"
    assert load_dataset(f"csv:{paths[2]}").task == "regression"  # no sidecar: the last column, c
    assert load_dataset(f"csv:{paths[0]}", target="c").task == "regression"


GLOB_ERRORS = [
    ('"csv:data/*.parquet"', "datasets[0]", "matches no file"),
    ('{ suite = "synthtic", n = 3 }', "datasets[0].suite", 'unknown suite "synthtic"; allowed: synthetic, real, real-tables'),
    ('{ suite = "synthetic" }', "datasets[0]", 'the synthetic suite needs "n"'),
    ('{ suite = "synthetic", n = 0 }', "datasets[0].n", "expected an integer in [1, 1000], got 0"),
    ('{ suite = "synthetic", n = 2.0 }', "datasets[0].n", "expected an integer in [1, 1000], got 2.0"),
    ('{ suite = "synthetic", n = 3, seed = -1 }', "datasets[0].seed", "expected an integer in [0, 4294967295]"),
    ('{ suite = "synthetic", n = 3, noise = 0.1 }', "datasets[0].noise", "unknown key \"noise\" for suite \"synthetic\"; allowed: suite, n, seed"),
    ('{ suite = "real", n = 3 }', "datasets[0].n", 'unknown key "n" for suite "real"; allowed: suite'),
    ('{ suite = "real-tables", k = 3 }', "datasets[0].k", 'unknown key "k" for suite "real-tables"; allowed: suite, n, seed'),
    ('{ suite = "real-tables", n = 0 }', "datasets[0].n", "expected an integer in [1, 4294967295], got 0"),
    ('["rdata_mass_boston", { suite = "real-tables" }]', "datasets[1]", "dataset rdata_mass_boston is listed twice"),
    ('{ name = "csv:data/*.csv", targt = "y" }', "datasets[0].targt", "unknown option \"targt\" for a data file; allowed: target, task, missing"),
    ('{ name = "csv:data/*.csv", target = 3 }', "datasets[0].target", "option target must be a string, got 3"),
    ('["iris", { suite = "real" }]', "datasets[1]", "dataset iris is listed twice"),
]


@pytest.mark.parametrize(("datasets", "key", "message"), GLOB_ERRORS, ids=[c[1] + ":" + c[2][:20] for c in GLOB_ERRORS])
def test_bad_suite_and_glob_entries_are_one_line_naming_file_and_key(
    datasets: str, key: str, message: str, tmp_path: Path
) -> None:
    _write_csvs(tmp_path / "data")
    study = tmp_path / "s.toml"
    body = datasets if datasets.startswith("[") else f"[{datasets}]"
    study.write_text(f"datasets = {body}\n")
    with pytest.raises(ConfigError) as info:
        load_study_file(study)
    err = info.value
    assert (err.path, err.key) == (str(study), key)
    assert message in err.message
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("sidecar", "content", "message"),
    [
        (".json", "{not json", "is not valid JSON"),
        (".json", '["label"]', "must hold a JSON object"),
        (".json", '{"column": "label"}', 'unknown option "column" for a data file'),
        (".target", "label\nother\n", "must hold one line"),
    ],
)
def test_bad_sidecars_name_the_sidecar(sidecar: str, content: str, message: str, tmp_path: Path) -> None:
    paths = _write_csvs(tmp_path / "data")
    paths[1].with_suffix(sidecar).write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        parse_study({"datasets": ["csv:data/*.csv"]}, str(tmp_path / "s.toml"))
    assert info.value.key == "datasets[0]" and str(paths[1].with_suffix(sidecar)) in info.value.message
    with pytest.raises(DatasetError, match=message):
        load_dataset(f"csv:{paths[1]}")


def test_two_sidecars_for_one_file_are_an_error(tmp_path: Path) -> None:
    paths = _write_csvs(tmp_path / "data", 1)
    paths[0].with_suffix(".target").write_text("label")
    paths[0].with_suffix(".json").write_text('{"target": "label"}')
    with pytest.raises(ConfigError, match="set0.csv has two sidecars, set0.target and set0.json; keep one"):
        parse_study({"datasets": ["csv:data/*.csv"]}, str(tmp_path / "s.toml"))


# --- one study line through the real `dynsearch run` -----------------------------------------------


def _run(study: Path, cwd: Path, journal: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    return subprocess.run(
        [sys.executable, "-m", "dynsearch", "run", str(study), "--storage", f"journal:{journal}", "--workers", "1",
         "--quiet"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _trial_datasets(journal: Path, name: str) -> list[dict]:
    storage = JournalStorage(JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * len(trials)
    return [t.user_attrs["datasets"] for t in trials]


@pytest.mark.slow
def test_a_glob_of_three_csv_files_runs_as_one_study_line(tmp_path: Path) -> None:
    paths = _write_csvs(tmp_path / "studies" / "data", rows=80)
    for path in paths:
        path.with_suffix(".target").write_text("label")
    study = tmp_path / "studies" / "glob.toml"
    study.write_text(study_toml("glob", datasets='["csv:data/*.csv"]', n_trials=1, epochs=2, strategies=("fixed",)))
    journal = tmp_path / "glob.journal"
    proc = _run(study, tmp_path, journal)
    assert proc.returncode == 0, proc.stderr
    (per_dataset,) = _trial_datasets(journal, "glob")
    assert sorted(per_dataset) == [f"csv:{p.resolve()}(target='label')" for p in paths]


@pytest.mark.slow
def test_the_synthetic_suite_runs_as_one_study_line(tmp_path: Path) -> None:
    study = tmp_path / "suite.toml"
    study.write_text(study_toml("suite", datasets='[{ suite = "synthetic", n = 3, seed = 0 }]', n_trials=1,
                                epochs=2, strategies=("fixed",)))  # fmt: skip
    journal = tmp_path / "suite.journal"
    proc = _run(study, tmp_path, journal)
    assert proc.returncode == 0, proc.stderr
    (per_dataset,) = _trial_datasets(journal, "suite")
    assert sorted(per_dataset) == ["synthetic_00", "synthetic_01", "synthetic_02"]


def test_a_bad_suite_line_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    study = tmp_path / "bad.toml"
    study.write_text(study_toml("bad", datasets='[{ suite = "synthetic", n = 3, colour = 1 }]', n_trials=1,
                                epochs=2, strategies=("fixed",)))  # fmt: skip
    journal = tmp_path / "bad.journal"
    proc = _run(study, tmp_path, journal)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "datasets[0].colour" in lines[0] and "allowed: suite, n, seed" in lines[0]
    assert proc.stdout == "" and not journal.exists()


def test_dynsearch_train_takes_a_suite_member(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dynsearch.cli import main

    out = tmp_path / "r.json"
    argv = ["train", "--dataset", "synthetic-07", "--dataset-option", "suite_seed=2", "--epochs", "1", "--quiet"]
    assert main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["dataset"] == "synthetic_07" and result["task"] == synthetic_recipe(7, 2)["task"]
    with pytest.raises(SystemExit) as info:
        main(["train", "--dataset", "synthetic-7", "--epochs", "1"])
    assert info.value.code == 2
    assert "Unknown dataset 'synthetic-7'" in capsys.readouterr().err


def test_parquet_globs_reach_into_subfolders_with_double_star(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"a": np.arange(30.0), "y": np.arange(30) % 2})
    (tmp_path / "t" / "deep").mkdir(parents=True)
    frame.to_parquet(tmp_path / "t" / "one.parquet")
    frame.to_parquet(tmp_path / "t" / "deep" / "two.parquet")
    names = [name for name, _ in expand_dataset_entry("parquet:t/**/*.parquet", base_dir=tmp_path)]
    assert names == [f"parquet:{(tmp_path / 't' / 'deep' / 'two.parquet').resolve()}",
                     f"parquet:{(tmp_path / 't' / 'one.parquet').resolve()}"]  # fmt: skip
    assert load_dataset(names[0]).task == "classification"
    assert expand_dataset_entry("parquet:t/one.parquet", base_dir=tmp_path) is None  # no glob: an ordinary entry
