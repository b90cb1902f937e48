"""Packed members equal train() for every signal: best epoch, switches, per-epoch families, α and the value
read, and metrics within 1e-4, in packs that mix signals, reductions, scopes, families and models."""

from __future__ import annotations

import dataclasses

import pytest
from study_helpers import assert_packed_equals_alone, assert_same, drift, first_rows

from dynsearch.data import load_dataset
from dynsearch.packed import PackMember, train_packed
from dynsearch.signals import NETWORK, signal_names
from dynsearch.train import TrainConfig, train

pytestmark = pytest.mark.numerics

# Thresholds inside each signal's range that fire on these tiny models (relu sites are about half dead).
RULES = {
    "dead": {"lower": 0.45, "upper": 0.9, "below": "tanh", "above": "elu"},
    "saturation": {"lower": 0.1, "upper": 0.4, "below": "silu", "above": "tanh"},
    "gradient": {"lower": -0.15, "upper": 0.3},
    "io": {"lower": 0.3, "upper": 0.75},
    "target": {"lower": 0.5, "upper": 0.8},
    "data": {"lower": -0.2, "upper": 0.3},
}


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


@pytest.fixture(scope="module")
def digits():
    return first_rows(load_dataset("digits"), n_train=160, n_val=80)


def _members(config: TrainConfig, scopes=("layer", "global")) -> list[PackMember]:
    members = []
    for i, (signal, rule) in enumerate(RULES.items()):
        for j, reduction in enumerate(("pooled", "unit_mean")):
            scope = scopes[(i + j) % len(scopes)]
            params = {"signal": signal, "reduction": reduction, "scope": scope, **rule}
            seed_config = dataclasses.replace(config, seed=i * 2 + j, lr=config.lr * (1 + 0.2 * j))
            members.append(PackMember({"name": "threshold", "params": params}, seed_config))
    # Hysteresis on a share signal: between the thresholds a switched site keeps its family.
    members.append(PackMember({"name": "threshold", "params": {"signal": "dead", **RULES["dead"], "lower": 0.4, "between": "keep"}},
                              dataclasses.replace(config, seed=20)))  # fmt: skip
    # A linear rule on α (leaky_relu) reading the gradient, and a relu baseline in the same pack.
    members.append(PackMember({"name": "linear", "params": {"signal": "gradient", "base": "leaky_relu", "lam": 0.8,
                                                            "alpha0": 0.2}}, config))  # fmt: skip
    # α of leaky_relu below saturation's eps (0.05) saturates the negative side; the rule lifts it above.
    members.append(PackMember({"name": "linear", "params": {"signal": "saturation", "base": "leaky_relu", "lam": 0.1,
                                                            "alpha0": 0.02, "reduction": "unit_mean"}}, config))  # fmt: skip
    members.append(PackMember({"name": "fixed", "params": {"base": "tanh"}}, config))
    return members


def test_every_signal_packed_equals_train_mlp(iris) -> None:
    config = TrainConfig(epochs=5, hidden=(12, 10), batch_size=32, lr=5e-3, patience=0, measure_every=2)
    pairs = assert_packed_equals_alone(iris, _members(config))
    assert sum(alone.n_switches for _, alone in pairs) > 0
    # Every signal read something and moved a rule in some member.
    switched = {alone.strategy["params"]["signal"] for _, alone in pairs if alone.n_switches}
    assert {"dead", "saturation", "gradient", "io", "target", "data"} <= switched
    alphas = {s["alpha"] for _, alone in pairs[-2:-1] for e in alone.history for s in e.sites}
    assert len(alphas) > 1  # the saturation-driven α moved


def test_every_signal_packed_equals_train_cnn(digits) -> None:
    config = TrainConfig(epochs=3, model="cnn", channels=(4, 6), batch_size=40, lr=3e-3, patience=0)
    assert_packed_equals_alone(digits, _members(config)[::3])


def test_members_leaving_keep_the_others_rows(iris) -> None:
    # Early stopping and pruning take members out mid-run: the meters' rows follow the compaction.
    config = TrainConfig(epochs=6, hidden=(8,), batch_size=50, lr=1e-2, patience=1)
    members = _members(config, scopes=("layer",))
    stops = {1: 1, 4: 2}

    def on_epoch(index: int, epoch: int, value: float) -> bool:
        return stops.get(index) == epoch

    packed = train_packed(iris, members, on_epoch=on_epoch, compile=False)
    from dynsearch.packed import train_sequential

    alone = train_sequential(iris, members, on_epoch=on_epoch)
    for p, a, member in zip(packed, alone, members):
        assert p.status == a.status
        assert_same(p, a, str(member.strategy)) if a.status == "ok" else None


def _recording(members: list[PackMember]) -> list[PackMember]:
    """Every second member records every registered signal per epoch, as a report's first-seed runs do."""
    names = signal_names()
    return [dataclasses.replace(m, record_signals=names if i % 2 == 0 else ()) for i, m in enumerate(members)]


def test_recorded_signals_packed_equal_train(iris, digits) -> None:
    # The engine records what train(record_signals=...) records alone: the same sites, signals and epochs,
    # values within the bound, beside members that record nothing and whatever their strategies read.
    config = TrainConfig(epochs=4, hidden=(12, 10), batch_size=32, lr=5e-3, patience=0, measure_every=2)
    pairs = assert_packed_equals_alone(iris, _recording(_members(config)))
    recorded = [alone.history[-1].signals for _, alone in pairs[::2]]
    assert all(set(r) == {"1", "3", NETWORK} for r in recorded)
    assert all(set(r["1"]) == {"io", "dead", "saturation", "gradient"} and set(r[NETWORK]) == {"target", "data"}
               for r in recorded)  # fmt: skip
    assert all(not alone.history[-1].signals for _, alone in pairs[1::2])
    cnn = TrainConfig(epochs=2, model="cnn", channels=(4, 6), batch_size=40, lr=3e-3, patience=0)
    assert_packed_equals_alone(digits, _recording(_members(cnn)[::4]))


def test_recording_members_leaving_keep_the_others_rows(iris) -> None:
    config = TrainConfig(epochs=5, hidden=(8,), batch_size=50, lr=1e-2, patience=0)
    members = _recording(_members(config, scopes=("layer",))[:6])
    stops = {0: 1, 3: 2}

    def on_epoch(index: int, epoch: int, value: float) -> bool:
        return stops.get(index) == epoch

    packed = train_packed(iris, members, on_epoch=on_epoch, compile=False)
    alone = [train(iris, m.strategy, m.config, record_signals=m.record_signals) for m in members]
    for index, (p, a, member) in enumerate(zip(packed, alone, members)):
        if index in stops:
            assert p.status == "pruned"
            continue
        assert_same(p, a, str(member.strategy), tol=drift(iris, config))
        assert bool(a.history[0].signals) == bool(member.record_signals)
