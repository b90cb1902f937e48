"""One signal registry: what strategies may read and what study files list, with threshold ranges per signal."""

from __future__ import annotations

import json
from collections.abc import Iterator

import optuna
import pytest

import dynsearch
from dynsearch.config import ConfigError, StudySpec, parse_study
from dynsearch.search import suggest_plan
from dynsearch.signals import Signal, pearson_update, pearson_value, register_signal, signal_names
from dynsearch.signals._base import _REGISTRY
from dynsearch.strategies import get_signal, implied_scope, make_strategy

optuna.logging.set_verbosity(optuna.logging.ERROR)


class AbsIO(Signal):
    measures = "Pearson r between |z| and f(z)"
    source = "site"

    def update(self, state, a, b, *, members=False, family=None, alpha=None):
        return pearson_update(state, a.abs(), b, members=members)

    def value(self, states):
        return pearson_value(states, self.reduction)


@pytest.fixture(autouse=True, scope="module")
def _abs_io_registered() -> Iterator[None]:
    # Registered for this module only: other modules see the built-in signals alone.
    register_signal("test_abs_io")(AbsIO)
    yield
    _REGISTRY.pop("test_abs_io", None)


def test_strategies_read_the_one_registry() -> None:
    assert get_signal("dead") is dynsearch.signals.get_signal_class("dead")
    assert implied_scope("data") == "global" and implied_scope("dead") is None
    # A signal registered by the user is a valid signal of every strategy that reads one.
    for name in ("threshold", "linear"):
        strategy = make_strategy(name, signal="test_abs_io", **({"base": "elu"} if name == "linear" else {}))
        assert strategy.signal == "test_abs_io" and strategy.signal_object() == AbsIO()
    assert make_strategy("threshold", signal="dead", reduction="unit_mean", lower=0.2, upper=0.6).signal_object() \
        == dynsearch.signals.make_signal("dead", reduction="unit_mean")


def test_threshold_range_follows_the_signal() -> None:
    make_strategy("threshold", signal="dead", lower=0.1, upper=0.9)
    with pytest.raises(ValueError, match=r"The 'lower' parameter of ThresholdSwitch must be a float in \[0, 1\] "
                                         r"\(the range of the 'dead' signal\)\. Got -0\.5 instead\."):
        make_strategy("threshold", signal="dead")
    with pytest.raises(ValueError, match=r"must be a float in \[-1, 1\]\. Got 1\.5 instead"):
        make_strategy("threshold", upper=1.5)


def _study(search: dict) -> StudySpec:
    return parse_study({"datasets": ["iris"], "search": {"strategies": ["threshold", "linear"], **search}}, "s.toml")


def test_study_lists_signals_with_a_threshold_range_each() -> None:
    spec = _study({"signals": {"io": {"lower": [0.8, 0.9], "upper": [0.9, 0.99]}, "dead": {}, "test_abs_io": {}}})
    assert list(spec.arms) == [
        "threshold-layer-io", "threshold-layer-dead", "threshold-layer-test_abs_io", "threshold-global-io",
        "threshold-global-dead", "threshold-global-test_abs_io", "linear-layer-io", "linear-layer-dead",
        "linear-layer-test_abs_io", "linear-global-io", "linear-global-dead", "linear-global-test_abs_io",
    ]  # fmt: skip
    io = spec.search.settings_for("threshold", "io")
    assert (io["lower"], io["upper"]) == ((0.8, 0.9), (0.9, 0.99))
    # No range of its own: the [-1, 1] default maps onto dead's [0, 1].
    dead = spec.search.settings_for("threshold", "dead")
    assert dead["lower"] == pytest.approx((0.05, 0.5)) and dead["upper"] == pytest.approx((0.5, 0.95))
    assert spec.search.settings_for("linear", "dead") == spec.search.strategy("linear").as_dict()
    again = StudySpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.search.signal_ranges == spec.search.signal_ranges
    # Every sampled trial lies inside its signal's ranges.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        config, _ = suggest_plan(trial, spec)
        params = config["params"]
        strategy = dynsearch.strategy_from_config(config)
        if config["name"] == "threshold":
            seen.add(params["signal"])
            low, high = {"io": (0.8, 0.99), "dead": (0.05, 0.95)}.get(params["signal"], (-0.9, 0.9))
            assert low <= strategy.lower < strategy.upper <= high
        study.tell(trial, 0.0)
    assert seen == {"io", "dead", "test_abs_io"}


def test_the_array_form_still_works() -> None:
    spec = _study({"signals": ["io", "target"]})
    assert spec.search.signal_ranges == ()
    assert spec.search.settings_for("threshold", "io")["lower"] == (-0.9, 0.0)
    assert "signals" not in spec.to_dict()["search"]


@pytest.mark.parametrize(
    ("signals", "message"),
    [
        ({"nope": {}}, r"search\.signals\.nope: unknown signal \"nope\"; registered signals: io, target, dead"),
        ({"dead": {"lower": [-0.5, 0.2]}}, r"search\.signals\.dead\.lower: expected \[low, high\] with low < high, both in \[0, 1\]"),
        ({"io": {"lam": [0, 1]}}, r"search\.signals\.io\.lam: unknown key \"lam\"; allowed: lower, upper"),
        ({"io": {"lower": [0.5, 0.9], "upper": [0.1, 0.4]}}, r"search\.signals\.io: for threshold: no valid threshold pair"),
        ({}, r"search\.signals: expected at least one signal"),
    ],
)
def test_bad_signal_tables(signals: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _study({"signals": signals})


def test_builtin_signals_are_listed_first() -> None:
    assert signal_names()[:6] == ["io", "target", "dead", "saturation", "gradient", "data"]
