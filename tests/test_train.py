"""The trainer: the write-up's loop, determinism, early stopping, divergence, the test split."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import dynsearch
from dynsearch.data import load_dataset
from dynsearch.train import TrainConfig, TrainingInterrupted, train

SMALL = TrainConfig(epochs=4, hidden=(16,), model="mlp", batch_size=32, patience=0)


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


@pytest.fixture(scope="module")
def diabetes():
    return load_dataset("diabetes")


def test_same_seed_gives_identical_history(iris) -> None:
    strategy = dynsearch.ThresholdSwitch(lower=-0.2, upper=0.6)
    a = train(iris, strategy, SMALL)
    b = train(iris, strategy, SMALL)
    assert [dataclasses.asdict(e) for e in a.history] == [dataclasses.asdict(e) for e in b.history]
    c = train(iris, strategy, dataclasses.replace(SMALL, seed=1))
    assert [e.train_loss for e in c.history] != [e.train_loss for e in a.history]


def test_history_has_every_site_each_epoch(iris) -> None:
    config = dataclasses.replace(SMALL, hidden=(16, 8))
    result = train(iris, dynsearch.LinearUpdate(lam=0.5, base="elu"), config)
    assert result.status == "ok" and result.epochs_run == 4
    for record in result.history:
        assert [s["site"] for s in record.sites] == ["1", "3"]
        for site in record.sites:
            assert -1.0 <= site["r"] <= 1.0 and site["family"] == "elu"
            low, high = dynsearch.get_family("elu").alpha_range
            assert low <= site["alpha"] <= high
    # The linear rule moved α away from its default 1.0 somewhere.
    assert any(s["alpha"] != 1.0 for e in result.history for s in e.sites)


def test_threshold_switches_are_counted(iris) -> None:
    # ReLU's input/output correlation is high, so an upper threshold of 0.1 switches every site.
    result = train(iris, dynsearch.ThresholdSwitch(lower=-0.9, upper=0.1), SMALL)
    assert result.n_switches >= 1
    assert result.history[-1].sites[0]["family"] == "sigmoid"


def test_test_split_only_when_asked(iris) -> None:
    assert train(iris, {"name": "fixed", "params": {}}, SMALL).test_metric is None
    scored = train(iris, {"name": "fixed", "params": {}}, SMALL, evaluate_test=True)
    assert 0.0 <= scored.test_metric <= 1.0


def test_search_path_never_reads_the_test_split(iris) -> None:
    poisoned = dataclasses.replace(iris, x_test=torch.full_like(iris.x_test, math.nan))
    clean = train(iris, {"name": "fixed", "params": {}}, SMALL)
    dirty = train(poisoned, {"name": "fixed", "params": {}}, SMALL)
    assert clean.best_val_metric == dirty.best_val_metric


def test_regression_reports_r2(diabetes) -> None:
    result = train(diabetes, {"name": "fixed", "params": {}}, dataclasses.replace(SMALL, epochs=8, lr=0.01))
    assert result.metric == "r2" and result.task == "regression"
    assert -1.0 < result.best_val_metric <= 1.0


def test_divergence_ends_the_run_with_a_status(diabetes) -> None:
    config = dataclasses.replace(SMALL, optimizer="sgd", lr=1e6, epochs=6)
    result = train(diabetes, {"name": "fixed", "params": {}}, config)
    assert result.status == "diverged"
    assert result.diverged_epoch is not None and result.diverged_epoch < 6
    assert "epoch" in result.message


def test_early_stopping_stops_after_patience(iris) -> None:
    # A learning rate of 0 never improves after the first epoch.
    config = dataclasses.replace(SMALL, epochs=30, patience=3, optimizer="sgd", lr=1e-12)
    result = train(iris, {"name": "fixed", "params": {}}, config)
    assert result.epochs_run == result.best_epoch + 4


def test_on_epoch_callback_sees_every_epoch_and_may_raise(iris) -> None:
    seen: list[int] = []

    def on_epoch(epoch: int, value: float) -> None:
        seen.append(epoch)
        if epoch == 1:
            raise KeyError("stop here")

    with pytest.raises(KeyError):
        train(iris, {"name": "fixed", "params": {}}, SMALL, on_epoch=on_epoch)
    assert seen == [0, 1]


def test_should_stop_interrupts_within_a_batch(iris) -> None:
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(TrainingInterrupted):
        train(iris, {"name": "fixed", "params": {}}, SMALL, should_stop=should_stop)
    assert calls["n"] == 4


def test_learned_alpha_trains_and_stays_in_range(iris) -> None:
    result = train(iris, dynsearch.LearnedAlpha(base="leaky_relu"), dataclasses.replace(SMALL, lr=0.05, epochs=6))
    alphas = [s["alpha"] for e in result.history for s in e.sites]
    assert len(set(alphas)) > 1
    assert all(0.0 <= a <= 1.0 for a in alphas)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", 0, "epochs: expected an integer >= 1, got 0"),
        ("batch_size", -1, "batch_size: expected an integer >= 1"),
        ("optimizer", "rmsprop", "optimizer: expected one of adam, adamw, sgd, got 'rmsprop'"),
        ("lr", 0.0, "lr: expected a finite number > 0, got 0.0"),
        ("dropout", 1.0, r"dropout: expected a number in \[0, 1\)"),
        ("model", "resnet", "model: expected one of auto, mlp, cnn"),
        ("hidden", (0,), r"hidden: expected a sequence of positive integers, got \(0,\)"),
        ("patience", True, "patience: expected an integer >= 0"),
    ],
)
def test_config_validation_messages(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_config_round_trip() -> None:
    config = TrainConfig(epochs=3, hidden=(8, 4), optimizer="adamw", lr=0.01)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown training setting 'epoch'; allowed: epochs"):
        TrainConfig.from_dict({"epoch": 3})
