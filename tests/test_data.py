"""Tests for dynsearch.data: built-in and file datasets, splits, scaling, batching, errors."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tolerances as tol
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dynsearch.data import DatasetError, DatasetSplits, dataset_names, iter_batches, load_dataset

TENSORS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")

# name -> (task, n_rows, n_features, n_outputs, input_shape)
BUILTINS = {
    "iris": ("classification", 150, 4, 3, (4,)),
    "wine": ("classification", 178, 13, 3, (13,)),
    "breast_cancer": ("classification", 569, 30, 2, (30,)),
    "digits": ("classification", 1797, 64, 10, (1, 8, 8)),
    "diabetes": ("regression", 442, 10, 1, (10,)),
    "tips": ("regression", 244, 12, 1, (12,)),
    "gapminder": ("regression", 1704, 8, 1, (8,)),
    "moons": ("classification", 1000, 2, 2, (2,)),
    "circles": ("classification", 1000, 2, 2, (2,)),
    "spirals": ("classification", 1000, 2, 3, (2,)),
    "classification": ("classification", 1000, 20, 2, (20,)),
    "friedman1": ("regression", 1000, 10, 1, (10,)),
}


def assert_same(a: DatasetSplits, b: DatasetSplits) -> None:
    for key in TENSORS:
        assert torch.equal(getattr(a, key), getattr(b, key)), key


def write_csv(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return f"csv:{path}"


def mixed_frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n),
            "count": rng.integers(0, 5, size=n),
            "label": rng.choice(["cat", "dog"], size=n),
        }
    )


# ---------------------------------------------------------------- built-ins


def test_dataset_names_lists_every_builtin() -> None:
    assert dataset_names() == list(BUILTINS)


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtin_shapes_dtypes_and_task(name: str) -> None:
    task, n_rows, n_features, n_outputs, input_shape = BUILTINS[name]
    splits = load_dataset(name)
    assert (splits.name, splits.task, splits.n_features, splits.n_outputs) == (name, task, n_features, n_outputs)
    assert splits.input_shape == input_shape
    assert len(splits.feature_names) == n_features
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == n_rows
    for part in ("train", "val", "test"):
        x, y = getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}")
        assert x.dtype == torch.float32 and x.shape == (len(y), n_features)
        assert torch.isfinite(x).all()
        assert y.dtype == (torch.int64 if task == "classification" else torch.float32) and y.dim() == 1
    if task == "classification":
        assert len(splits.class_names) == n_outputs
        assert set(splits.y_train.tolist()) == set(range(n_outputs))


def test_splits_are_disjoint_and_sized() -> None:
    splits = load_dataset("wine", val_fraction=0.25, test_fraction=0.15)
    rows = [splits.train_rows, splits.val_rows, splits.test_rows]
    assert sorted(np.concatenate(rows).tolist()) == list(range(178))
    assert len(splits.test_rows) == math.ceil(0.15 * 178)
    assert len(splits.val_rows) == math.ceil(0.25 * 178)


@settings(max_examples=25, deadline=None)
@given(
    n_samples=st.integers(30, 400),
    val_fraction=st.floats(0.05, 0.45),
    test_fraction=st.floats(0.05, 0.45),
    split_seed=st.integers(0, 2**32 - 1),
)
def test_splits_partition_rows_for_any_fractions(
    n_samples: int, val_fraction: float, test_fraction: float, split_seed: int
) -> None:
    splits = load_dataset(
        "moons", n_samples=n_samples, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed
    )
    rows = np.concatenate([splits.train_rows, splits.val_rows, splits.test_rows])
    assert sorted(rows.tolist()) == list(range(n_samples))
    assert len(splits.test_rows) == math.ceil(test_fraction * n_samples)


def test_stratification_keeps_class_proportions() -> None:
    iris = load_dataset("iris")  # 50 per class: 30 test rows -> 10 each, exactly
    assert torch.bincount(iris.y_test).tolist() == [10, 10, 10]
    assert torch.bincount(iris.y_val).tolist() == [10, 10, 10]
    cancer = load_dataset("breast_cancer", split_seed=3)
    overall = 212 / 569  # share of class 0
    for y in (cancer.y_train, cancer.y_val, cancer.y_test):
        assert abs((y == 0).float().mean().item() - overall) < 2 / len(y)


def test_same_split_seed_gives_identical_tensors() -> None:
    assert_same(load_dataset("digits", split_seed=5), load_dataset("digits", split_seed=5))
    assert_same(load_dataset("spirals", split_seed=1, seed=2), load_dataset("spirals", split_seed=1, seed=2))


def test_different_split_seed_gives_different_rows() -> None:
    a, b = load_dataset("wine", split_seed=0), load_dataset("wine", split_seed=1)
    assert not np.array_equal(np.sort(a.test_rows), np.sort(b.test_rows))
    assert not torch.equal(a.x_train, b.x_train)


def test_test_rows_depend_only_on_split_seed() -> None:
    # Whatever else varies (validation share, hence train rows and scaler), the held-out rows stay.
    a = load_dataset("breast_cancer", split_seed=7, val_fraction=0.1)
    b = load_dataset("breast_cancer", split_seed=7, val_fraction=0.3)
    assert np.array_equal(a.test_rows, b.test_rows)
    assert torch.equal(a.y_test, b.y_test)
    assert not np.array_equal(a.train_rows, b.train_rows)


def test_scaler_is_fitted_on_train_only() -> None:
    splits = load_dataset("wine")
    # Standardized in float64, stored as float32 (u per value), then averaged here in float32.
    n = len(splits.x_train)
    bound = 2 * tol.float32_mean(n) * float(splits.x_train.abs().max())
    assert torch.allclose(splits.x_train.mean(0), torch.zeros(13), atol=bound)
    assert torch.allclose(splits.x_train.std(0, unbiased=False), torch.ones(13), atol=bound)
    assert splits.x_val.mean(0).abs().max() > 1e-3  # val statistics differ: not fitted on val


def test_regression_targets_standardized_with_train_statistics() -> None:
    from sklearn.datasets import load_diabetes

    splits = load_dataset("diabetes")
    raw = load_diabetes().target
    assert splits.target_mean == pytest.approx(raw[splits.train_rows].mean())
    assert splits.target_std == pytest.approx(raw[splits.train_rows].std())
    assert abs(splits.y_train.mean().item()) <= 2 * tol.float32_mean(len(splits.y_train)) * float(splits.y_train.abs().max())
    restored = splits.y_test.double() * splits.target_std + splits.target_mean
    # y is stored in float32: off by u·|y|, so by u·|raw − mean| once restored.
    atol = tol.closed_form(2, torch.float32) * float(np.abs(raw[splits.test_rows] - splits.target_mean).max())
    assert np.allclose(restored.numpy(), raw[splits.test_rows], rtol=0, atol=atol)


def test_to_moves_every_tensor() -> None:
    moved = load_dataset("iris").to("meta")  # "meta" stands in for an accelerator on CPU-only machines
    assert all(getattr(moved, key).device.type == "meta" for key in TENSORS)
    assert load_dataset("iris", device="meta").device.type == "meta"


def test_synthetic_options() -> None:
    spirals = load_dataset("spirals", n_classes=5, n_samples=500)
    assert spirals.n_outputs == 5 and len(spirals.class_names) == 5
    clf = load_dataset("classification", n_features=7, n_classes=3, n_informative=3, n_samples=300)
    assert (clf.n_features, clf.n_outputs) == (7, 3)
    assert load_dataset("friedman1", n_features=6).n_features == 6
    base, other_seed = load_dataset("moons", seed=0), load_dataset("moons", seed=1)
    assert not torch.equal(base.x_test, other_seed.x_test)
    assert not torch.equal(base.x_test, load_dataset("moons", noise=0.0).x_test)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("imagenet", {}, r"Unknown dataset 'imagenet'; built-in names: iris, .*csv:PATH"),
        ("iris", {"noise": 0.1}, r"Unknown option 'noise' for dataset 'iris'; allowed: none"),
        ("moons", {"n_classes": 3}, r"Unknown option 'n_classes' for dataset 'moons'; allowed: n_samples, seed, noise"),
        ("moons", {"n_samples": -5}, r"n_samples=-5 .* integer >= 1"),
        ("moons", {"n_samples": 2.5}, r"n_samples=2.5"),
        ("moons", {"noise": -0.1}, r"noise=-0.1 .* number >= 0"),
        ("spirals", {"n_classes": 1}, r"n_classes=1 .* integer >= 2"),
        ("friedman1", {"n_features": 4}, r"n_features=4 .* integer >= 5"),
        ("classification", {"n_informative": 1, "n_classes": 3}, r"incompatible; n_classes \* 2"),
        ("classification", {"n_informative": 30}, r"n_informative=30 .* exceeds n_features=20"),
        ("iris", {"val_fraction": 0.0}, r"val_fraction=0.0 .* in \(0, 1\)"),
        ("iris", {"test_fraction": 1.5}, r"test_fraction=1.5 .* in \(0, 1\)"),
        ("iris", {"val_fraction": 0.5, "test_fraction": 0.5}, r"must be below 1"),
        ("iris", {"split_seed": -1}, r"split_seed=-1"),
        ("moons", {"n_samples": 2}, r"has 2 row\(s\), too few"),
    ],
)
def test_builtin_errors(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(name, **kwargs)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------- files


def test_csv_numeric(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80), "y": rng.integers(0, 3, size=80)})
    splits = load_dataset(write_csv(tmp_path, frame))
    assert (splits.task, splits.n_features, splits.n_outputs) == ("classification", 2, 3)
    assert splits.feature_names == ["a", "b"] and splits.class_names == ["0", "1", "2"]
    assert torch.equal(splits.y_test, torch.from_numpy(frame["y"].to_numpy()[splits.test_rows]))


def test_csv_categorical_one_hot_fitted_on_train(tmp_path: Path) -> None:
    frame = mixed_frame()
    frame.loc[5, "color"] = "violet"  # one row only: a category the train split may never see
    splits = load_dataset(write_csv(tmp_path, frame), split_seed=0)
    train_colors = sorted(set(frame["color"].to_numpy()[splits.train_rows]))
    assert splits.feature_names == ["num", *(f"color={c}" for c in train_colors), "count"]
    assert splits.n_features == len(splits.feature_names) == splits.x_train.shape[1]
    # The split seed that leaves the violet row out of train must drop the category.
    seeds = [s for s in range(20) if 5 not in load_dataset(write_csv(tmp_path, frame), split_seed=s).train_rows]
    assert seeds and "color=violet" not in load_dataset(write_csv(tmp_path, frame), split_seed=seeds[0]).feature_names


def test_csv_non_numeric_feature_is_categorical(tmp_path: Path) -> None:
    frame = mixed_frame()
    frame["size"] = ["?" if i % 7 == 0 else str(i % 3) for i in range(len(frame))]  # junk makes it text
    splits = load_dataset(write_csv(tmp_path, frame), target="label")
    assert {"size=?", "size=0", "size=1", "size=2"} <= set(splits.feature_names)
    assert torch.isfinite(splits.x_train).all()


def test_csv_string_labels_sorted(tmp_path: Path) -> None:
    frame = mixed_frame()
    splits = load_dataset(write_csv(tmp_path, frame))
    assert splits.class_names == ["cat", "dog"]
    expected = (frame["label"].to_numpy()[splits.train_rows] == "dog").astype(np.int64)
    assert splits.y_train.tolist() == expected.tolist()


def test_csv_target_and_task_options(tmp_path: Path) -> None:
    frame = mixed_frame()
    name = write_csv(tmp_path, frame)
    regression = load_dataset(name, target="num")
    assert regression.task == "regression" and regression.n_outputs == 1
    assert "label=dog" in regression.feature_names
    assert load_dataset(name, target="count").task == "classification"  # integers, 5 values
    assert load_dataset(name, target="count", task="regression").task == "regression"
    many = pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100) * 3})  # integers, 100 values
    assert load_dataset(write_csv(tmp_path, many, "many.csv")).task == "regression"


def test_csv_missing_impute_uses_train_median(tmp_path: Path) -> None:
    frame = mixed_frame()
    frame.loc[[3, 10, 20, 41], "num"] = np.nan
    splits = load_dataset(write_csv(tmp_path, frame), split_seed=2)
    assert torch.isfinite(splits.x_train).all() and torch.isfinite(splits.x_test).all()
    raw = frame["num"].to_numpy()
    filled = np.where(np.isnan(raw), np.nanmedian(raw[splits.train_rows]), raw)
    mean, std = filled[splits.train_rows].mean(), filled[splits.train_rows].std()
    expected = (filled[splits.test_rows] - mean) / std
    atol = tol.closed_form(2, torch.float32) * float(np.abs(expected).max())
    assert np.allclose(splits.x_test[:, 0].numpy(), expected, rtol=0, atol=atol)


def test_csv_missing_reject_names_columns(tmp_path: Path) -> None:
    frame = mixed_frame()
    frame.loc[3, "num"] = np.nan
    frame.loc[[4, 5], "color"] = None
    with pytest.raises(DatasetError, match=r"missing values in column\(s\) 'num' \(1\), 'color' \(2\)"):
        load_dataset(write_csv(tmp_path, frame), missing="reject")


def test_csv_constant_column_gives_no_nan(tmp_path: Path) -> None:
    frame = mixed_frame().assign(const=1.0)
    splits = load_dataset(write_csv(tmp_path, frame), target="label")
    assert torch.isfinite(splits.x_val).all() and torch.isfinite(splits.x_train).all()


def test_csv_tiny_class_falls_back_to_unstratified(tmp_path: Path) -> None:
    frame = mixed_frame()
    frame.loc[0, "label"] = "emu"  # a class of one row cannot be stratified
    splits = load_dataset(write_csv(tmp_path, frame))
    assert splits.class_names == ["cat", "dog", "emu"]


def test_csv_file_change_is_reread(tmp_path: Path) -> None:
    frame = mixed_frame()
    name = write_csv(tmp_path, frame)
    first = load_dataset(name)
    write_csv(tmp_path, frame.assign(extra=2.0).iloc[:, [0, 1, 2, 4, 3]])
    assert load_dataset(name).n_features == first.n_features + 1


def test_parquet_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = mixed_frame()
    from_csv = load_dataset(write_csv(tmp_path, frame), split_seed=4)
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    frame.to_parquet(tmp_path / "data.pq", index=False)
    for name in (f"parquet:{tmp_path / 'data.parquet'}", f"csv:{tmp_path / 'data.pq'}"):
        splits = load_dataset(name, split_seed=4)
        assert splits.feature_names == from_csv.feature_names
        assert_same(splits, from_csv)


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    (tmp_path / "d.parquet").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"needs pyarrow; install it with"):
        load_dataset(f"parquet:{tmp_path / 'd.parquet'}")


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize(
    ("file", "content", "kwargs", "match"),
    [
        ("absent.csv", None, {}, r"Dataset file '.*absent.csv' not found"),
        ("empty.csv", "", {}, r"'.*empty.csv' is empty"),
        ("blank.csv", "\n\n", {}, r"has no header and no rows"),
        ("header.csv", "a,b,y\n", {}, r"has a header but no data rows"),
        ("d.csv", "a,b\n1,2\n3,4,5,6\n", {}, r"Could not parse '.*d.csv' as csv: .*Expected 2 fields"),
        ("d.parquet", b"not parquet at all", {}, r"Could not parse '.*d.parquet' as parquet"),
        ("d.csv", "a,b\n1,x\n2,y\n", {"target": "c"}, r"Target column 'c' not found in .*; columns: 'a', 'b'"),
        ("d.csv", "a,y\n1,k\n2,k\n3,k\n", {}, r"Target column 'y' .* has a single class 'k'"),
        ("d.csv", "a,y\n1,0\n2,1\n", {"sep": ";"}, r"Unknown option 'sep' .*; allowed: target, task, missing"),
        ("d.csv", "a,y\n1,0\n2,1\n", {"task": "ranking"}, r"task='ranking' .* use 'auto'"),
        ("d.csv", "a,y\n1,0\n2,1\n", {"missing": "drop"}, r"missing='drop' .* use 'impute' or 'reject'"),
        ("d.csv", "a,y\n1,p\n2,q\n", {"task": "regression"}, r"'y' .* is not numeric"),
        ("d.csv", "y\n1\n2\n", {}, r"has no feature columns besides the target 'y'"),
        ("d.csv", "a,y\n1,0\n2,1\n", {"val_fraction": -0.2}, r"val_fraction=-0.2"),
        ("d.csv", "a,y\ninf,0\n2,1\n3,0\n4,1\n5,0\n6,1\n", {}, r"Column 'a' .* has infinite values"),
    ],
)
def test_file_errors(tmp_path: Path, file: str, content: str | bytes | None, kwargs: dict, match: str) -> None:
    if content is None:
        path = tmp_path / file
    else:
        path = _write(tmp_path, file, content)
    prefix = "parquet" if file.endswith(".parquet") else "csv"
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(f"{prefix}:{path}", **kwargs)
    assert "\n" not in str(info.value)


def test_directory_and_empty_path_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"is a directory, not a file"):
        load_dataset(f"csv:{tmp_path}")
    with pytest.raises(DatasetError, match=r"has no path after the prefix"):
        load_dataset("csv:")


# ---------------------------------------------------------------- batches


def test_iter_batches_covers_every_row_once() -> None:
    x = torch.arange(23.0).unsqueeze(1)
    y = torch.arange(23)
    batches = list(iter_batches(x, y, 5, generator=torch.Generator().manual_seed(0)))
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    seen = torch.cat([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(23)) and not torch.equal(seen, y)
    assert all(torch.equal(xb[:, 0].long(), yb) for xb, yb in batches)  # rows stay paired


def test_iter_batches_deterministic_with_seeded_generator() -> None:
    x, y = torch.randn(50, 3), torch.arange(50)

    def order(seed: int) -> list[int]:
        return torch.cat([yb for _, yb in iter_batches(x, y, 8, generator=torch.Generator().manual_seed(seed))]).tolist()

    assert order(3) == order(3)
    assert order(3) != order(4)


def test_iter_batches_without_shuffle_keeps_order() -> None:
    x, y = torch.randn(10, 2), torch.arange(10)
    batches = list(iter_batches(x, y, 4, shuffle=False))
    assert torch.equal(torch.cat([xb for xb, _ in batches]), x)


def test_iter_batches_errors() -> None:
    x, y = torch.randn(10, 2), torch.arange(10)
    with pytest.raises(ValueError, match=r"batch_size: expected an integer >= 1, got 0"):
        next(iter_batches(x, y, 0))
    with pytest.raises(ValueError, match=r"same number of rows, got 10 and 9"):
        next(iter_batches(x, y[:9], 4))


# ---------------------------------------------------------------- paths in study files


def test_study_file_data_paths_resolve_from_the_study_folder(tmp_path: Path, monkeypatch) -> None:
    from dynsearch.config import load_study_file

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    mixed_frame().to_csv(project / "data" / "pets.csv", index=False)
    (project / "pets.toml").write_text('datasets = [{ name = "csv:data/pets.csv", target = "label" }]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the study's folder: a cwd-relative path would not exist here

    spec = load_study_file(Path("..") / "project" / "pets.toml")
    (dataset,) = spec.datasets
    assert dataset.name == f"csv:{project / 'data' / 'pets.csv'}"
    splits = load_dataset(dataset.name, **dataset.options)
    assert splits.task == "classification" and splits.n_outputs == 2
    assert load_study_file(project / "pets.toml").datasets == spec.datasets  # the same data from any folder


def test_a_missing_file_error_shows_the_absolute_path_tried(tmp_path: Path, monkeypatch, capsys) -> None:
    from dynsearch.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match=f"Dataset file '{tmp_path / 'data' / 'gone.csv'}' not found"):
        load_dataset("csv:data/gone.csv")
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "s.toml").write_text('datasets = ["csv:data/gone.csv"]\n')
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "studies/s.toml"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"'{tmp_path / 'studies' / 'data' / 'gone.csv'}' not found" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_csv_features_match_a_direct_pandas_encoding(tmp_path: Path) -> None:
    """The scikit-learn encoding equals the rule written out with pandas: medians and categories of train rows."""
    from dynsearch.data._tabular import load_table

    rng = np.random.default_rng(3)
    n = 80
    frame = pd.DataFrame({
        "num": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "color": np.where(rng.random(n) < 0.15, None, rng.choice(["red", "green", "blue", "teal"], size=n)),
        "flag": rng.random(n) < 0.5,
        "count": rng.integers(0, 9, size=n),
        "empty_in_train": np.nan,
        "label": rng.choice(["a", "b"], size=n),
    })
    train_rows = np.arange(0, n, 2)
    frame.loc[1, "empty_in_train"] = 4.0  # present only in a non-train row
    frame.loc[3, "color"] = "violet"  # a category the train rows never show
    path = tmp_path / "mixed.csv"
    frame.to_csv(path, index=False)
    raw = load_table("mixed", "csv", path, {"target": "label"})
    x, names = raw.features(train_rows)

    features = pd.read_csv(path).drop(columns=["label"])
    expected, expected_names = [], []
    for column in features.columns:
        series = features[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            median = series.iloc[train_rows].median()
            expected.append(series.fillna(0.0 if np.isnan(median) else median).to_numpy(dtype=float)[:, None])
            expected_names.append(column)
        else:
            text = series.astype(str).where(series.notna())
            categories = sorted(text.iloc[train_rows].dropna().unique())
            expected.append(np.stack([(text == c).to_numpy(dtype=float) for c in categories], axis=1))
            expected_names += [f"{column}={c}" for c in categories]
    assert names == expected_names
    np.testing.assert_array_equal(x, np.concatenate(expected, axis=1))
    assert "color=violet" not in names and x[3, [names.index(f"color={c}") for c in ("blue", "green", "red")]].sum() == 0
