"""Every signal drives a strategy in train(): the values it reads equal SignalRecorder's (checked against
numpy in test_signals_pkg), measuring changes nothing of the training, and decisions follow the values."""

from __future__ import annotations

import math

import pytest
import tolerances as tol
import torch

import dynsearch
from dynsearch.data import iter_batches, load_dataset
from dynsearch.signals import NETWORK, SignalRecorder, get_signal_class
from dynsearch.train import TrainConfig, _optimizer, batch_loss, build, train

CONFIG = TrainConfig(epochs=3, hidden=(12, 10), batch_size=32, lr=3e-3, patience=0)
# (signal, reduction): every signal besides io/target pooled, which the io statistics keep as before.
CASES = [(name, reduction) for name in ("io", "target", "dead", "saturation", "gradient", "data")
         for reduction in ("pooled", "unit_mean") if (name, reduction) not in {("io", "pooled"), ("target", "pooled")}]


@pytest.fixture(scope="module")
def splits():
    return load_dataset("iris")


def _recorded(splits, signal: str, reduction: str, scope: str) -> list[list[float]]:
    """Per epoch, each site's value as SignalRecorder measures it on the same (fixed) training."""
    model = build(splits, {"name": "fixed", "params": {}}, CONFIG)
    recorder = SignalRecorder(model, [{"name": signal, "params": {"reduction": reduction}}])
    optimizer = _optimizer(model, CONFIG)
    generator = torch.Generator().manual_seed(CONFIG.seed)
    names = [name for name, _ in dynsearch.sites(model)]
    out = []
    for _ in range(CONFIG.epochs):
        model.train()
        for xb, yb in iter_batches(splits.x_train, splits.y_train, CONFIG.batch_size, generator=generator):
            optimizer.zero_grad(set_to_none=True)
            output = model(xb)
            batch_loss(output, yb, splits.task).backward()
            optimizer.step()
            recorder.observe_output(output, yb)
            recorder.observe_input(xb, yb)
        if get_signal_class(signal).per_network:
            value = recorder.epoch_values()[NETWORK][signal][0]
            out.append([value] * len(names))
        elif scope == "global":
            value = recorder.global_values()[signal][0]
            recorder.epoch_values()
            out.append([value] * len(names))
        else:
            values = recorder.epoch_values()
            out.append([values[name][signal][0] for name in names])
    recorder.close()
    return out


@pytest.mark.parametrize(("signal", "reduction"), CASES)
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_train_reads_each_signal_as_the_recorder_measures_it(splits, signal: str, reduction: str, scope: str) -> None:
    low, high = get_signal_class(signal).value_range
    # Thresholds at the ends of the range: the rule never fires, so the training equals the fixed run's.
    strategy = {"name": "threshold", "params": {"signal": signal, "reduction": reduction, "scope": scope,
                                                "lower": low, "upper": high}}  # fmt: skip
    result = train(splits, strategy, CONFIG)
    fixed = train(splits, {"name": "fixed", "params": {}}, CONFIG)
    assert [e.val_metric for e in result.history] == [e.val_metric for e in fixed.history]
    assert [e.train_loss for e in result.history] == [e.train_loss for e in fixed.history]
    got = [[site["r"] for site in epoch.sites] for epoch in result.history]
    want = _recorded(splits, signal, reduction, scope)
    assert len(got) == len(want)
    for epoch, got_epoch, want_epoch in zip(result.history, got, want):
        # The recorder re-centres each epoch: the same pairs, other shifts.
        bounds = [tol.pearson(site["n"]) for site in epoch.sites]
        assert all(abs(g - w) <= b for g, w, b in zip(got_epoch, want_epoch, bounds, strict=True)), (got_epoch, want_epoch)
    assert all(site["n"] > 0 and not site["degenerate"] for epoch in result.history for site in epoch.sites)
    assert result.n_switches == 0


def test_a_rule_on_the_dead_share_switches_where_the_share_says(splits) -> None:
    # relu sites are about half dead: a lower threshold above that share sends every site to tanh.
    strategy = {"name": "threshold", "params": {"signal": "dead", "lower": 0.6, "upper": 0.9, "below": "tanh"}}
    result = train(splits, strategy, CONFIG)
    first = result.history[0].sites
    assert all(0.2 < site["r"] < 0.6 and site["family"] == "tanh" and site["switched"] for site in first)
    # tanh is never exactly flat: nothing is dead any more, and the sites stay tanh.
    assert all(site["r"] == 0.0 and site["family"] == "tanh" for e in result.history[1:] for site in e.sites)
    assert result.n_switches == len(first)


def test_a_linear_rule_on_the_gradient_signal_moves_alpha(splits) -> None:
    strategy = {"name": "linear", "params": {"signal": "gradient", "base": "leaky_relu", "lam": 0.5, "alpha0": 0.3}}
    result = train(splits, strategy, CONFIG)
    for epoch in result.history:
        for site in epoch.sites:
            assert site["alpha"] == pytest.approx(min(max(0.3 + 0.5 * site["r"], 0.0), 1.0), abs=tol.ALPHA)
    assert all(site["r"] != 0.0 for e in result.history for site in e.sites)


def test_the_data_signal_is_a_constant_of_the_dataset(splits) -> None:
    strategy = {"name": "linear", "params": {"signal": "data", "base": "elu", "lam": 0.2}}
    result = train(splits, strategy, CONFIG)
    values = [e.sites[0]["r"] for e in result.history]
    assert all(math.isclose(v, values[0], abs_tol=tol.pearson(e.sites[0]["n"])) for v, e in zip(values, result.history))
    assert {e.sites[0]["r"] for e in result.history} == {e.sites[1]["r"] for e in result.history}


def test_measuring_is_per_strategy_signal(splits) -> None:
    model = build(splits, {"name": "threshold", "params": {"signal": "gradient", "lower": -0.5, "upper": 0.5}}, CONFIG)
    assert all(site.signal_meter is not None and site.measure for _, site in dynsearch.sites(model))
    model = build(splits, {"name": "threshold", "params": {"signal": "data", "lower": -0.5, "upper": 0.5}}, CONFIG)
    assert all(site.signal_meter is None and not site.measure for _, site in dynsearch.sites(model))
    assert dynsearch.sites(model)[0][1].network_meter is not None
    model = build(splits, {"name": "threshold", "params": {"lower": -0.5, "upper": 0.5}}, CONFIG)
    assert all(site.signal_meter is None and site.measure for _, site in dynsearch.sites(model))
