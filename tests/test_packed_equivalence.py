"""Packing changes speed, never results: every packed member equals ``train()`` for its settings.

Each test trains one pack with the vectorized engine and every member alone with ``train()``,
then compares status, best epoch, epochs run, switches, per-epoch families, α and r, and the
validation metrics (within 1e-4: only the summation order differs).
"""

from __future__ import annotations

import itertools
import math

import pytest
import tolerances as tol
from study_helpers import THRESHOLD, assert_packed_equals_alone, assert_same, first_rows, run_both, seeded_members

from dynsearch.activations import get_family
from dynsearch.data import load_dataset
from dynsearch.packed import PackMember, train_packed
from dynsearch.packed._run import engine_unsupported
from dynsearch.strategies import SiteState, Strategy, register_strategy, strategy_from_config
from dynsearch.strategies.registry import _REGISTRY
from dynsearch.testing import check_strategy
from dynsearch.train import TrainConfig, train

pytestmark = pytest.mark.numerics


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


@pytest.fixture(scope="module")
def digits():
    """A digits subset: enough for a CNN to learn a little, small enough to train many times."""
    return first_rows(load_dataset("digits"), n_train=240, n_val=120, n_test=120)


STRATEGIES = {
    "fixed": {},
    "threshold": THRESHOLD,
    "linear": {"lam": 0.5},
    "learned": {"base": "leaky_relu"},
}


def _all_built_in() -> list[dict]:
    return [
        {"name": name, "params": {**params, "scope": scope, "signal": signal}}
        for (name, params), scope, signal in itertools.product(STRATEGIES.items(), ("layer", "global"), ("io", "target"))
    ]


def test_every_built_in_strategy_scope_and_signal_in_one_mlp_pack(iris) -> None:
    members = seeded_members(_all_built_in(), TrainConfig(epochs=6, lr=0.02, hidden=(8, 6), batch_size=32, patience=0))
    pairs = assert_packed_equals_alone(iris, members)
    # The test means something: threshold members did switch, linear ones moved α.
    assert any(alone.n_switches for (_, alone), m in zip(pairs, members) if m.strategy["name"] == "threshold")


def test_strategy_options_warmup_every_cumulative_cooldown(iris) -> None:
    variants = [
        {"name": "threshold", "params": {**THRESHOLD, "warmup": 2, "every": 2, "cooldown": 2}},
        {"name": "threshold", "params": {"lower": -0.2, "upper": 0.9, "below": "elu", "above": "silu", "base": "tanh"}},
        {"name": "linear", "params": {"lam": -0.8, "cumulative": True, "base": "elu", "every": 2}},
        {"name": "linear", "params": {"lam": 2.0, "alpha0": 0.3, "base": "softplus", "signal": "target"}},
        {"name": "learned", "params": {"base": "silu"}},
        {"name": "fixed", "params": {"base": "gelu"}},
    ]
    config = TrainConfig(epochs=6, lr=0.03, hidden=(8,), batch_size=16, patience=0, measure_every=2)
    assert_packed_equals_alone(iris, seeded_members(variants, config, first_seed=10))


def test_hysteresis_threshold_and_linear_rules_that_move_alpha(iris) -> None:
    # relu's io r lies below lower and tanh's between the thresholds: the literal rule goes back and forth
    # there, hysteresis stays on tanh. The linear members start inside their family's α range, λ of both signs.
    rule = {"lower": 0.9, "upper": 0.999, "base": "relu", "below": "tanh", "above": "sigmoid"}
    variants = [
        {"name": "threshold", "params": {**rule, "between": "base"}},
        {"name": "threshold", "params": {**rule, "between": "keep"}},
        {"name": "threshold", "params": {**rule, "lower": 0.95, "between": "keep", "scope": "global", "cooldown": 1}},
        {"name": "shuffled", "params": {**rule, "between": "keep", "seed": 2}},
        {"name": "linear", "params": {"base": "leaky_relu", "alpha0": 0.2, "lam": -0.15}},
        {"name": "linear", "params": {"base": "elu", "alpha0": 1.0, "lam": 0.9, "scope": "global"}},
        {"name": "linear", "params": {"base": "tanh", "alpha0": 1.5, "lam": -1.0, "cumulative": True}},
        {"name": "linear", "params": {"base": "sigmoid", "alpha0": 2.0, "lam": 1.2}},
        {"name": "linear", "params": {"base": "silu", "alpha0": 1.0, "lam": -0.6, "signal": "target"}},
    ]
    config = TrainConfig(epochs=6, lr=0.02, hidden=(8, 6), batch_size=32, patience=0)
    pairs = assert_packed_equals_alone(iris, seeded_members(variants, config, first_seed=30))
    switches = [alone.n_switches for _, alone in pairs]
    assert switches[1] < switches[0], switches  # hysteresis did not flip back where the literal rule did
    assert any(s["family"] == "tanh" for e in pairs[1][1].history[1:] for s in e.sites)
    for _, alone in pairs[4:]:  # every linear member's α left α₀
        start = alone.strategy["params"]["alpha0"]
        assert any(s["alpha"] != start for e in alone.history for s in e.sites), alone.strategy


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_optimizers_with_per_member_lr_weight_decay_and_momentum(iris, optimizer: str) -> None:
    settings = [(0.01, 0.0, 0.9), (0.05, 1e-3, 0.5), (0.002, 0.05, 0.0)]
    strategies = [{"name": "learned", "params": {}}, {"name": "threshold", "params": THRESHOLD}, {"name": "linear", "params": {"lam": 0.4}}]
    members = [
        PackMember(strategy, TrainConfig(epochs=5, seed=i, optimizer=optimizer, lr=lr, weight_decay=wd, momentum=mom,
                                         hidden=(8,), batch_size=32, patience=0))
        for i, ((lr, wd, mom), strategy) in enumerate(zip(settings, strategies))
    ]
    for member, (packed, alone) in zip(members, run_both(iris, members, evaluate_test=True)):
        assert_same(packed, alone, f"{optimizer} {member.config.lr}")
        assert alone.test_metric is not None


def test_cnn_pack(digits) -> None:
    configs = [
        {"name": "threshold", "params": {**THRESHOLD, "scope": "global"}},
        {"name": "linear", "params": {"lam": 0.3}},
        {"name": "learned", "params": {}},
        {"name": "fixed", "params": {"base": "tanh"}},
        {"name": "threshold", "params": {**THRESHOLD, "signal": "target"}},
    ]
    config = TrainConfig(epochs=3, lr=0.01, channels=(4, 6), batch_size=64, patience=0)
    assert_packed_equals_alone(digits, seeded_members(configs, config), evaluate_test=True)


def test_mlp_on_image_data_and_regression() -> None:
    diabetes = load_dataset("diabetes")
    strategies = [{"name": "threshold", "params": {**THRESHOLD, "signal": "target"}}, {"name": "linear", "params": {"lam": 0.5}},
                  {"name": "fixed", "params": {}}]  # fmt: skip
    config = TrainConfig(epochs=4, lr=0.01, hidden=(6,), patience=0)
    assert_packed_equals_alone(diabetes, seeded_members(strategies, config), evaluate_test=True)


def test_a_diverging_member_fails_alone_and_one_stops_early(iris) -> None:
    members = [
        PackMember({"name": "threshold", "params": THRESHOLD}, TrainConfig(epochs=8, seed=0, lr=0.02, hidden=(8,), patience=0)),
        PackMember({"name": "fixed", "params": {}}, TrainConfig(epochs=8, seed=1, lr=1e25, hidden=(8,), patience=0)),
        PackMember({"name": "linear", "params": {"lam": 0.5}}, TrainConfig(epochs=8, seed=2, lr=1e-5, hidden=(8,), patience=1)),
        PackMember({"name": "learned", "params": {}}, TrainConfig(epochs=8, seed=3, lr=0.02, hidden=(8,), patience=0)),
    ]
    pairs = assert_packed_equals_alone(iris, members)
    statuses = [alone.status for _, alone in pairs]
    runs = [alone.epochs_run for _, alone in pairs]
    assert statuses[1] == "diverged" and statuses[0] == statuses[3] == "ok", statuses
    assert runs[2] < 8 == runs[0] == runs[3], runs  # the early stopper left, the others went on


class NanAlphaRule(Strategy):
    """A broken rule: α becomes NaN at the first adjustment (the member must diverge alone)."""

    def decide(self, r: float, state: SiteState) -> SiteState:
        return state.replace(alpha=math.nan)


@pytest.fixture
def nan_alpha_rule():
    """Registered for one test only: the conformance suite iterates over every registered strategy."""
    register_strategy("packed_test_nan_alpha")(NanAlphaRule)
    yield
    _REGISTRY.pop("packed_test_nan_alpha", None)


def test_a_member_whose_rule_sets_nan_alpha_diverges_alone(iris, nan_alpha_rule) -> None:
    # Members share α values at a site, so each family runs at one float α; NaN equals no value.
    names = ("fixed", "packed_test_nan_alpha", "fixed", "packed_test_nan_alpha")
    members = seeded_members([{"name": name, "params": {}} for name in names], TrainConfig(epochs=4, lr=0.02, hidden=(8,), patience=0))
    pairs = assert_packed_equals_alone(iris, members)
    assert [alone.status for _, alone in pairs] == ["ok", "diverged", "ok", "diverged"]
    assert [packed.epochs_run for packed, _ in pairs] == [4, 1, 4, 1]


@register_strategy("packed_test_sign")
class SignSwitch(Strategy):
    """A user's rule: tanh while r is below its own cut, else back to the base family with α scaled."""

    def __init__(self, *, cut: float = 0.84, **common) -> None:
        super().__init__(**common)
        self.cut = cut

    def decide(self, r: float, state: SiteState) -> SiteState:
        if r < self.cut:
            return state.replace(family="tanh", alpha=1.5 + 0.5 * r)
        base = get_family(state.initial_family)
        return state.replace(family=base.name, alpha=base.clip(state.initial_alpha + 0.1 * r))


def test_a_user_registered_strategy_runs_packed_unchanged(iris) -> None:
    check_strategy("packed_test_sign")  # a well-formed user strategy, as the conformance suite sees it
    strategies = [{"name": "packed_test_sign", "params": {"cut": cut, "scope": scope}}
                  for cut, scope in [(0.84, "layer"), (0.9, "global"), (0.5, "layer")]]  # fmt: skip
    pairs = assert_packed_equals_alone(iris, seeded_members(strategies, TrainConfig(epochs=6, lr=0.03, hidden=(8, 8), patience=0)))
    assert any(alone.n_switches for _, alone in pairs)


def test_train_packed_uses_the_engine_and_stops_members_by_callback(iris) -> None:
    members = seeded_members([{"name": "threshold", "params": THRESHOLD} for _ in range(3)], TrainConfig(epochs=5, hidden=(8,), patience=0))
    calls: list[tuple[int, int]] = []

    def on_epoch(index: int, epoch: int, value: float) -> bool:
        calls.append((index, epoch))
        return index == 1 and epoch == 1

    results = train_packed(iris, members, on_epoch=on_epoch)
    assert [r.status for r in results] == ["ok", "pruned", "ok"]
    assert [r.epochs_run for r in results] == [5, 2, 5]
    assert (1, 2) not in calls and (2, 4) in calls
    assert results[0].wall_time > 0  # set by the engine (the sequential reference would set it too)
    for member, result in zip(members, results):
        if result.status == "ok":
            assert_same(result, train(iris, member.strategy, member.config))


def test_what_the_engine_cannot_run_trains_one_by_one(iris) -> None:
    members = seeded_members([{"name": "fixed", "params": {}} for _ in range(2)], TrainConfig(epochs=2, hidden=(8,), dropout=0.2))
    assert engine_unsupported([strategy_from_config(m.strategy) for m in members], [m.config for m in members]) == "dropout"
    for member, result in zip(members, train_packed(iris, members)):
        assert_same(result, train(iris, member.strategy, member.config))


def test_should_stop_interrupts_the_pack_within_one_batch(iris) -> None:
    from dynsearch.train import TrainingInterrupted

    members = seeded_members([{"name": "fixed", "params": {}} for _ in range(2)], TrainConfig(epochs=3, hidden=(8,), batch_size=16))
    checks: list[int] = []

    def should_stop() -> bool:
        checks.append(1)
        return len(checks) > 7  # iris has 6 batches of 16 an epoch: stop in the second epoch

    with pytest.raises(TrainingInterrupted, match="stopped during epoch 1"):
        train_packed(iris, members, should_stop=should_stop)
    assert len(checks) == 8


def test_grouped_and_per_member_convolutions_agree() -> None:
    """CUDA runs a pack's convolutions grouped, the CPU one per member: both are the members' own."""
    import torch

    from dynsearch.packed._net import _conv

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 2, 6, 6, generator=gen, requires_grad=True)
    w = torch.randn(3, 4, 2, 3, 3, generator=gen, requires_grad=True)
    b = torch.randn(3, 4, generator=gen, requires_grad=True)
    outs, grads = [], []
    for grouped in (True, False):
        out = _conv(x, w, b, ((1, 1), (1, 1), (1, 1)), grouped=grouped)
        outs.append(out)
        grads.append(torch.autograd.grad((out * out).sum(), (x, w, b)))
    alone = torch.nn.functional.conv2d(x[1], w[1], b[1], padding=1)
    # Each output sums 2·3·3 products, each gradient of w at most 5·6·6 (batch × pixels): two orders of
    # summation differ by 2·γ_k against the sum of the terms' magnitudes.
    magnitude = torch.nn.functional.conv2d(x.abs()[1], w.abs()[1], b.abs()[1], padding=1)
    assert ((outs[0] - outs[1]).abs()[1] <= 2 * tol.gamma(18, torch.float32) * magnitude).all()
    torch.testing.assert_close(outs[1][1], alone)
    terms = 5 * 6 * 6 * 2 * float(outs[1].abs().max()) * float(max(x.abs().max(), w.abs().max()))
    for g1, g2 in zip(*grads):
        assert float((g1 - g2).abs().max()) <= 2 * tol.gamma(180, torch.float32) * terms
