"""The shuffled control: the candidate's rule fed another site's value, reproducible, in train() and packed."""

from __future__ import annotations

import optuna
import pytest
import tolerances as tol
from study_helpers import assert_same, run_both
from torch import nn

import dynsearch
from dynsearch.config import parse_study
from dynsearch.data import load_dataset
from dynsearch.packed import PackMember
from dynsearch.search import suggest_plan
from dynsearch.strategies import ShuffledSignal, make_strategy
from dynsearch.train import TrainConfig, train

CONFIG = TrainConfig(epochs=4, hidden=(12, 10, 8), batch_size=32, lr=5e-3, patience=0)


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def test_each_site_reads_another_site_reproducibly() -> None:
    s = ShuffledSignal(seed=7)
    for n in (2, 3, 5):
        for epoch in range(6):
            order = s.value_sources(n, epoch)
            assert sorted(order) == list(range(n)) and all(i != j for i, j in enumerate(order))
            assert ShuffledSignal(seed=7).value_sources(n, epoch) == order
    assert len({tuple(s.value_sources(5, e)) for e in range(10)}) > 1
    assert {tuple(ShuffledSignal(seed=k).value_sources(5, 0)) for k in range(10)} != {tuple(s.value_sources(5, 0))}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"scope": "global"}, r"ShuffledSignal feeds each site another site's value, so it needs scope 'layer' and a "
                              r"per-site signal \(io, dead, saturation, gradient.*\)\. Got scope='global', signal='io'\."),
        ({"signal": "target"}, r"needs scope 'layer' and a per-site signal .* Got scope='layer', signal='target'\."),
        ({"rule": "step"}, r"The 'rule' parameter of ShuffledSignal must be one of threshold, linear\. Got 'step' instead\."),
        ({"seed": -1}, r"The 'seed' parameter of ShuffledSignal must be an integer >= 0\. Got -1 instead\."),
        ({"signal": "dead"}, r"The 'lower' parameter of ThresholdSwitch must be a float in \[0, 1\]"),
        ({"rule": "linear", "base": "gelu"}, r"LinearUpdate adjusts a family's α, but 'gelu' has none"),
    ],
)
def test_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_strategy("shuffled", **params)


def test_one_site_has_no_other_value_to_read() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), ShuffledSignal())
    with pytest.raises(ValueError, match="needs at least two activation sites; it has 1"):
        dynsearch.adjust(model, 0)


def test_train_feeds_each_site_the_value_of_its_source(iris) -> None:
    # Thresholds that never fire: the training equals the candidate's, so the values can be matched.
    params = {"signal": "dead", "lower": 0.0, "upper": 1.0}
    candidate = train(iris, {"name": "threshold", "params": params}, CONFIG)
    control = train(iris, {"name": "shuffled", "params": {**params, "seed": 3}}, CONFIG)
    sources = ShuffledSignal(seed=3)
    for epoch, (cand, ctrl) in enumerate(zip(candidate.history, control.history)):
        measured = {s["site"]: s["r"] for s in cand.sites}
        names = [s["site"] for s in cand.sites]
        order = sources.value_sources(len(names), epoch)
        assert [s["source"] for s in ctrl.sites] == [names[j] for j in order]
        assert [s["r"] for s in ctrl.sites] == [measured[names[j]] for j in order]
        assert ctrl.val_metric == cand.val_metric


def test_the_rule_acts_on_the_value_it_was_dealt(iris) -> None:
    params = {"rule": "linear", "signal": "gradient", "base": "leaky_relu", "lam": 0.8, "alpha0": 0.2, "seed": 1}
    result = train(iris, {"name": "shuffled", "params": params}, CONFIG)
    for epoch in result.history:
        for site in epoch.sites:
            assert site["source"] != site["site"]
            assert site["alpha"] == pytest.approx(min(max(0.2 + 0.8 * site["r"], 0.0), 1.0), abs=tol.ALPHA)
    again = train(iris, {"name": "shuffled", "params": params}, CONFIG)
    assert [e.sites for e in again.history] == [e.sites for e in result.history]


def test_packed_equals_train(iris) -> None:
    members = [
        PackMember({"name": "shuffled", "params": {"signal": "dead", "lower": 0.45, "upper": 0.9, "seed": 2}}, CONFIG),
        PackMember({"name": "shuffled", "params": {"signal": "io", "lower": 0.3, "upper": 0.85, "seed": 5}}, CONFIG),
        PackMember({"name": "shuffled", "params": {"rule": "linear", "signal": "gradient", "base": "elu", "lam": 1.0}},
                   CONFIG),  # fmt: skip
        PackMember({"name": "threshold", "params": {"signal": "dead", "lower": 0.45, "upper": 0.9}}, CONFIG),
    ]
    pairs = run_both(iris, members)
    for (packed, alone), member in zip(pairs, members):
        assert_same(packed, alone, str(member.strategy))
        assert [s.get("source") for e in packed.history for s in e.sites] == [
            s.get("source") for e in alone.history for s in e.sites]
    assert pairs[0][1].n_switches > 0


def test_a_study_searches_it_as_a_control() -> None:
    spec = parse_study({"datasets": ["iris"], "n_trials": 12, "search": {
        "strategies": ["threshold", "shuffled"], "scopes": ["layer"],
        "signals": {"io": {"lower": [0.8, 0.9], "upper": [0.9, 0.99]}, "dead": {}},
        "shuffled": {"rule": ["threshold", "linear"]}}}, "s.toml")  # fmt: skip
    shuffled = [spec.arm(a) for a in spec.arms if a.startswith("shuffled")]
    assert [a.label for a in shuffled] == ["shuffled-threshold-io", "shuffled-threshold-dead", "shuffled-linear-io",
                                           "shuffled-linear-dead"]  # fmt: skip
    assert {a.role for a in shuffled} == {"control"}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(40):
        trial = study.ask()
        config, _ = suggest_plan(trial, spec)
        strategy = dynsearch.strategy_from_config(config)
        if config["name"] == "shuffled":
            params = config["params"]
            assert ("lower" in params) == (params["rule"] == "threshold")
            assert ("lam" in params) == (params["rule"] == "linear")
            if params["rule"] == "threshold" and params["signal"] == "io":
                assert 0.8 <= strategy.lower < strategy.upper <= 0.99
        study.tell(trial, 0.0)
