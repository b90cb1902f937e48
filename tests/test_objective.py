"""What a trial stores of its training: the compact history, and that the report reads old and new forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState, create_trial

from dynsearch.data import load_dataset
from dynsearch.report.figures import trajectory_figure
from dynsearch.report.figures._figure import _Writer
from dynsearch.search.objective import compact_history
from dynsearch.train import TrainConfig, train


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def test_r_is_stored_as_not_measured_where_nothing_was_measured(iris) -> None:
    config = TrainConfig(epochs=2, hidden=(8, 8), patience=0)
    for name in ("fixed", "learned"):  # they read no signal: every site's r is unmeasured
        result = train(iris, {"name": name, "params": {}}, config)
        assert all(not s["n"] for e in result.history for s in e.sites)
        history = compact_history(result)
        assert [[s[0] for s in e[2]] for e in history["epochs"]] == [[None, None], [None, None]], name
        assert [[s[1:] for s in e[2]] for e in history["epochs"]] == \
            [[[s["family"], round(s["alpha"], 5)] for s in e.sites] for e in result.history]  # fmt: skip
    reading = train(iris, {"name": "threshold", "params": {"lower": 0.3, "upper": 0.8}}, config)
    assert all(s["n"] > 0 for e in reading.history for s in e.sites)
    stored = [[s[0] for s in e[2]] for e in compact_history(reading)["epochs"]]
    assert stored == [[round(s["r"], 5) for s in e.sites] for e in reading.history]
    assert all(isinstance(r, float) for epoch in stored for r in epoch)


@pytest.mark.parametrize("unmeasured", [None, 0.0], ids=["stored-now", "stored-by-older-studies"])
def test_the_trajectory_figure_reads_both_forms_of_an_unmeasured_r(tmp_path: Path, unmeasured: float | None) -> None:
    epochs = [[0, 0.5, [[unmeasured, "relu", 0.0], [0.81, "relu", 0.0]]],
              [1, 0.6, [[0.79, "tanh", 1.0], [unmeasured, "relu", 0.0]]]]  # fmt: skip
    trial = create_trial(state=TrialState.COMPLETE, value=0.6, user_attrs={
        "strategy": {"name": "threshold", "params": {"lower": 0.3, "upper": 0.8}},
        "history": {"iris": {"sites": ["0", "1"], "epochs": epochs}},
    })  # fmt: skip
    figure = trajectory_figure(_Writer(tmp_path, "accuracy"), "threshold-layer", trial, ["iris"])
    assert figure.note in (None, "") and figure.png == "figures/trajectory-threshold-layer.png"
    assert (tmp_path / figure.png).stat().st_size > 0


def test_the_trajectory_figure_of_many_datasets_shows_the_first_rows_and_says_so(tmp_path: Path) -> None:
    import matplotlib.image

    from dynsearch.report.figures import MAX_DATASETS

    epochs = [[0, 0.5, [[0.9, "relu", 0.0]]], [1, 0.6, [[0.95, "tanh", 1.0]]]]
    labels = [f"d{i:02d}" for i in range(MAX_DATASETS + 12)]

    def draw(n: int) -> tuple[str, int]:
        trial = create_trial(state=TrialState.COMPLETE, value=0.6, user_attrs={
            "strategy": {"name": "threshold", "params": {"lower": 0.93, "upper": 0.94}},
            "history": {label: {"sites": ["0"], "epochs": epochs} for label in labels[:n]},
        })  # fmt: skip
        figure = trajectory_figure(_Writer(tmp_path / str(n), "accuracy"), "threshold-layer", trial, labels[:n])
        return figure.caption, matplotlib.image.imread(tmp_path / str(n) / figure.png).shape[0]

    caption, height = draw(len(labels))
    assert f"the first {MAX_DATASETS} of the {len(labels)} datasets" in caption
    few_caption, few_height = draw(MAX_DATASETS)
    assert "Shown:" not in few_caption and height == few_height  # as tall as a figure of 8 datasets
