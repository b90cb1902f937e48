"""Strategies: decision rules at their thresholds, validation messages, schedule, registry, a user strategy,
and the conformance suite over every registered strategy."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import dynsearch
from dynsearch.activations import family_names, get_family
from dynsearch.strategies import (
    FixedActivation,
    LearnedAlpha,
    LinearUpdate,
    SiteState,
    Strategy,
    ThresholdSwitch,
    get_strategy_class,
    make_strategy,
    register_strategy,
    strategy_from_config,
    strategy_names,
)
from dynsearch.strategies import registry as registry_module
from dynsearch.testing import check_strategy, strategy_names_for_tests

BUILTIN = [FixedActivation, ThresholdSwitch, LinearUpdate, LearnedAlpha]
WITH_ALPHA = ", ".join(n for n in family_names() if get_family(n).has_alpha)  # what learned may train
# What linear may adjust: not acon_c, whose parameters only the learned strategy trains.
ADJUSTABLE = ", ".join(n for n in family_names() if get_family(n).has_alpha and not get_family(n).learned_only)


# --- a user's own strategy, registered the way the docs tell users to --------------------------


@register_strategy("test_user_rule")
class GainAboveCut(Strategy):
    """r > cut → tanh with gain ``gain``; otherwise back to the site's starting family and α."""

    def __init__(self, *, cut: float = 0.0, gain: float = 2.0, **common) -> None:
        super().__init__(**common)
        self.cut = float(cut)
        self.gain = float(gain)

    def decide(self, r: float, state: SiteState) -> SiteState:
        if r > self.cut:
            return state.replace(family="tanh", alpha=get_family("tanh").clip(self.gain))
        return state.replace(family=state.initial_family, alpha=state.initial_alpha)


def state(
    family: str = "relu",
    alpha: float | None = None,
    *,
    initial: str | None = None,
    initial_alpha: float | None = None,
    epoch: int = 0,
    last_switch: int | None = None,
) -> SiteState:
    """A site's state; by default it is still on its starting family, at its starting α."""
    alpha = get_family(family).alpha_default if alpha is None else alpha
    initial = family if initial is None else initial
    if initial_alpha is None:
        initial_alpha = alpha if initial == family else get_family(initial).alpha_default
    return SiteState(family, alpha, initial, initial_alpha, epoch=epoch, last_switch_epoch=last_switch)


@pytest.fixture
def scratch_registry():
    """Strategies registered inside a test are removed afterwards (the registry is process-wide)."""
    saved = dict(registry_module._REGISTRY)
    yield
    registry_module._REGISTRY.clear()
    registry_module._REGISTRY.update(saved)


# --- ThresholdSwitch --------------------------------------------------------------------------


def test_threshold_defaults_are_the_write_ups_rule() -> None:
    s = ThresholdSwitch()
    assert (s.lower, s.upper, s.below, s.above, s.cooldown) == (-0.5, 0.5, "tanh", "sigmoid", 0)
    base = state("relu")
    assert s.decide(0.9, base).family == "sigmoid"
    assert s.decide(-0.9, base).family == "tanh"
    assert s.decide(0.0, base) == base


@pytest.mark.parametrize(("lower", "upper"), [(-0.5, 0.5), (-0.2, 0.7), (0.1, 0.3), (-1.0, 1.0)])
def test_threshold_exactly_at_and_around_the_thresholds(lower: float, upper: float) -> None:
    s = ThresholdSwitch(lower=lower, upper=upper, below="elu", above="sigmoid")
    base = state("relu", epoch=3)
    eps = 1e-9
    # Strict inequalities: r exactly at a threshold stays on the base family.
    assert s.decide(upper, base) == base
    assert s.decide(lower, base) == base
    assert s.decide((lower + upper) / 2, base) == base
    if upper < 1.0:
        assert s.decide(upper + eps, base).family == "sigmoid"
    if lower > -1.0:
        assert s.decide(lower - eps, base).family == "elu"
    assert s.decide(upper - eps, base) == base
    assert s.decide(lower + eps, base) == base


def test_threshold_target_family() -> None:
    s = ThresholdSwitch(lower=-0.3, upper=0.4)
    assert s.target_family(0.41, "gelu") == "sigmoid"
    assert s.target_family(0.4, "gelu") == "gelu"
    assert s.target_family(-0.3, "gelu") == "gelu"
    assert s.target_family(-0.31, "gelu") == "tanh"


def test_threshold_switch_resets_alpha_to_the_new_familys_default() -> None:
    s = ThresholdSwitch(below="leaky_relu", above="softplus")
    start = state("elu", 2.5, epoch=4)  # base elu with α₀ = 2.5
    up = s.decide(0.9, start)
    assert (up.family, up.alpha, up.last_switch_epoch) == ("softplus", 1.0, 4)
    down = s.decide(-0.9, start)
    assert (down.family, down.alpha) == ("leaky_relu", 0.01)
    # Coming back to the base restores the initial α, not the base family's default.
    back = s.decide(0.0, up.replace(alpha=7.0, epoch=6))
    assert (back.family, back.alpha, back.last_switch_epoch) == ("elu", 2.5, 6)
    # Going straight from one side to the other uses the other side's default.
    across = s.decide(-0.9, up.replace(epoch=7))
    assert (across.family, across.alpha) == ("leaky_relu", 0.01)


def test_threshold_staying_keeps_alpha_and_switch_epoch() -> None:
    s = ThresholdSwitch()
    current = state("sigmoid", 3.0, initial="relu", epoch=9, last_switch=2)
    assert s.decide(0.8, current) is current


def test_threshold_cooldown() -> None:
    s = ThresholdSwitch(cooldown=2)
    switched = state("sigmoid", 1.0, initial="relu", last_switch=3)
    # epoch 4: one epoch after the switch, blocked; epoch 5: two epochs after, allowed.
    assert s.decide(0.0, switched.replace(epoch=4)).family == "sigmoid"
    assert s.decide(0.0, switched.replace(epoch=4)) == switched.replace(epoch=4)
    again = s.decide(0.0, switched.replace(epoch=5))
    assert (again.family, again.alpha, again.last_switch_epoch) == ("relu", 0.0, 5)
    # a site that never switched is not held back
    assert s.decide(0.9, state("relu", epoch=0)).family == "sigmoid"
    # without cooldown the very next epoch may switch back
    assert ThresholdSwitch().decide(0.0, switched.replace(epoch=4)).family == "relu"


def test_hysteresis_keeps_the_family_between_the_thresholds_where_the_literal_rule_returns_to_base() -> None:
    literal, keep = ThresholdSwitch(lower=0.9, upper=0.99), ThresholdSwitch(lower=0.9, upper=0.99, between="keep")
    assert literal.between == "base" and literal.get_params()["between"] == "base"  # the write-up's rule by default
    on_tanh = state("tanh", 1.0, initial="relu", epoch=3, last_switch=2)
    back = literal.decide(0.97, on_tanh)  # tanh's own r lies between: the literal rule switches back
    assert (back.family, back.alpha, back.last_switch_epoch) == ("relu", 0.0, 3)
    assert keep.decide(0.97, on_tanh) is on_tanh
    # Outside the thresholds both rules switch alike; on the base family, between, neither moves.
    for r, family in ((0.5, "tanh"), (0.995, "sigmoid")):
        assert literal.decide(r, state("relu")).family == keep.decide(r, state("relu")).family == family
    assert keep.decide(0.95, state("relu")).family == literal.decide(0.95, state("relu")).family == "relu"
    assert keep.target_family(0.95, "relu", "tanh") == "tanh" and literal.target_family(0.95, "relu", "tanh") == "relu"
    assert ThresholdSwitch(between="keep").to_config()["params"]["between"] == "keep"


def test_hysteresis_rides_out_a_relu_tanh_oscillation() -> None:
    # relu's r below lower, tanh's between: the literal rule flips every epoch, hysteresis switches once.
    rules = {"base": ThresholdSwitch(lower=0.9, upper=0.99), "keep": ThresholdSwitch(lower=0.9, upper=0.99, between="keep")}
    r_of = {"relu": 0.85, "tanh": 0.97}
    switches = {}
    for name, rule in rules.items():
        current, n = state("relu"), 0
        for epoch in range(6):
            new = rule.decide(r_of[current.family], current.replace(epoch=epoch))
            n += new.family != current.family
            current = new
        switches[name] = n
    assert switches == {"base": 6, "keep": 1}


def test_between_is_validated() -> None:
    with pytest.raises(ValueError, match=r"^The 'between' parameter of ThresholdSwitch must be one of base, keep\. "
                                         r"Got 'kept' instead\.$"):
        ThresholdSwitch(between="kept")


@pytest.mark.parametrize("between", ["base", "keep"])
def test_conformance_of_both_between_rules(between: str) -> None:
    check_strategy(ThresholdSwitch(lower=0.8, upper=0.95, between=between, cooldown=1))
    check_strategy(dynsearch.strategies.ShuffledSignal(rule="threshold", lower=0.8, upper=0.95, between=between))


@pytest.mark.parametrize(("family", "alpha0", "lam"), [("leaky_relu", 0.2, -0.3), ("elu", 1.5, 0.8), ("silu", 2.0, -1.0),
                                                       ("tanh", 2.0, 1.5), ("sigmoid", 0.5, -0.4), ("softplus", 3.0, 2.0)])
def test_linear_moves_alpha_on_every_family_with_an_inner_alpha0(family: str, alpha0: float, lam: float) -> None:
    s = LinearUpdate(base=family, alpha0=alpha0, lam=lam)
    check_strategy(s)
    start = state(family, alpha0)
    for r in (0.2, 0.5):  # α₀ inside the range: λ of either sign moves α (the same float operations: exact)
        moved = s.decide(r, start).alpha
        assert moved == alpha0 + lam * r != alpha0


def test_threshold_families_are_canonical() -> None:
    s = ThresholdSwitch(below="swish", above="LeakyReLU")
    assert (s.below, s.above) == ("silu", "leaky_relu")
    assert s.decide(-1.0, state("relu")).family == "silu"


def test_base_sets_the_initial_family() -> None:
    s = ThresholdSwitch(base="tanh")
    assert s.initial_state("relu", 0.0) == ("tanh", 1.0)
    # same family as the module: the module's own α is kept
    assert ThresholdSwitch(base="leaky_relu").initial_state("leaky_relu", 0.2) == ("leaky_relu", 0.2)
    assert ThresholdSwitch(base="swish").initial_state("silu", 1.5) == ("silu", 1.5)
    # no base: each module keeps its family and α
    assert ThresholdSwitch().initial_state("leakyrelu", 0.2) == ("leaky_relu", 0.2)


# --- LinearUpdate -----------------------------------------------------------------------------


@pytest.mark.parametrize(("r", "expected"), [(0.4, 1.2), (-1.0, 0.5), (0.0, 1.0), (1.0, 1.5)])
def test_linear_rule(r: float, expected: float) -> None:
    s = LinearUpdate(lam=0.5)
    new = s.decide(r, state("elu", 1.0))
    assert new.family == "elu"
    assert new.alpha == pytest.approx(expected)


def test_linear_restarts_from_the_initial_alpha() -> None:
    s = LinearUpdate(lam=0.5)
    moved = state("elu", 2.0, initial="elu", initial_alpha=1.0)
    assert s.decide(0.4, moved).alpha == pytest.approx(1.2)
    assert s.decide(0.4, s.decide(0.4, moved)).alpha == pytest.approx(1.2)


@pytest.mark.parametrize(
    ("family", "alpha0", "lam", "r", "expected"),
    [
        ("relu", 0.0, 0.5, -1.0, 0.0),  # clipped at the low end
        ("leaky_relu", 0.9, 0.5, 1.0, 1.0),  # clipped at the high end
        ("tanh", 1.0, 5.0, -1.0, 0.1),
        ("tanh", 1.0, 50.0, 1.0, 10.0),
        ("softplus", 1.0, 100.0, 0.5, 20.0),
        ("silu", 1.0, 2.0, -0.75, 0.0),
    ],
)
def test_linear_clips_to_the_family_range(family, alpha0, lam, r, expected) -> None:
    new = LinearUpdate(lam=lam).decide(r, state(family, alpha0))
    assert new.alpha == expected
    low, high = get_family(family).alpha_range
    assert low <= new.alpha <= high


def test_linear_cumulative() -> None:
    s = LinearUpdate(lam=0.1, cumulative=True)
    current = state("elu", 1.0)
    alphas = []
    for _ in range(3):
        current = s.decide(0.5, current)
        alphas.append(current.alpha)
    assert alphas == pytest.approx([1.05, 1.10, 1.15])
    assert current.initial_alpha == 1.0
    # it compounds up to the range's end and stays there
    for _ in range(100):
        current = s.decide(1.0, current)
    assert current.alpha == 3.0
    # the non-cumulative rule would not have moved past α₀ + λ
    assert LinearUpdate(lam=0.1).decide(1.0, current).alpha == pytest.approx(1.1)


def test_linear_alpha0_sets_the_starting_alpha() -> None:
    assert LinearUpdate(alpha0=0.3).initial_state("relu", 0.0) == ("relu", 0.3)
    assert LinearUpdate().initial_state("leaky_relu", 0.2) == ("leaky_relu", 0.2)
    assert LinearUpdate(base="elu", alpha0=2.0).initial_state("relu", 0.0) == ("elu", 2.0)
    assert LinearUpdate(base="elu").initial_state("relu", 0.0) == ("elu", 1.0)


def test_linear_alpha0_outside_the_base_range() -> None:
    with pytest.raises(ValueError, match=r"The 'alpha0' parameter of LinearUpdate must lie in relu's α range \[0\.0, 1\.0\]\. Got 2\.0 instead\."):
        LinearUpdate(base="relu", alpha0=2.0)
    # Without a base the site's family is known only at apply time.
    s = LinearUpdate(alpha0=0.05)
    with pytest.raises(ValueError, match=r"must lie in tanh's α range \[0\.1, 10\.0\]\. Got 0\.05 instead\."):
        s.initial_state("tanh", 1.0)
    with pytest.raises(ValueError, match="tanh's α range"):
        dynsearch.apply(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), s)


@pytest.mark.parametrize("family", ["gelu", "selu", "identity", "linear"])
def test_linear_refuses_families_without_alpha(family: str) -> None:
    canonical = get_family(family).name
    message = rf"LinearUpdate adjusts a family's α, but '{canonical}' has none; families with α: {ADJUSTABLE}\."
    with pytest.raises(ValueError, match=message):
        LinearUpdate(base=family)
    with pytest.raises(ValueError, match=message):
        LinearUpdate().initial_state(family, 1.0)


def test_linear_refuses_a_model_with_a_gelu() -> None:
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.GELU())
    with pytest.raises(ValueError, match="LinearUpdate adjusts a family's α, but 'gelu' has none"):
        dynsearch.apply(model, LinearUpdate())


@pytest.mark.parametrize("family", ["gelu", "selu", "identity"])
def test_learned_refuses_families_without_alpha(family: str) -> None:
    message = rf"LearnedAlpha trains a family's α, but '{family}' has none; families with α: {WITH_ALPHA}\."
    with pytest.raises(ValueError, match=message):
        LearnedAlpha(base=family).initial_state("relu", 0.0)
    with pytest.raises(ValueError, match=message):
        dynsearch.apply(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), LearnedAlpha(base=family))


def test_fixed_and_learned_never_change_the_state() -> None:
    for s in (FixedActivation(), LearnedAlpha(), FixedActivation(base="tanh")):
        assert s.uses_signal is False
        for r in (-1.0, -0.5, 0.0, 0.5, 1.0):
            current = state("sigmoid", 2.0, initial="relu", epoch=3, last_switch=1)
            assert s.decide(r, current) == current
    assert ThresholdSwitch.uses_signal and LinearUpdate.uses_signal
    assert FixedActivation(base="tanh").initial_state("relu", 0.0) == ("tanh", 1.0)


# --- parameter validation: every message ------------------------------------------------------


@pytest.mark.parametrize("cls", BUILTIN)
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"scope": "local"}, r"The 'scope' parameter of {cls} must be one of layer, global\. Got 'local' instead\."),
        ({"scope": None}, r"The 'scope' parameter of {cls} must be one of layer, global\. Got None instead\."),
        ({"signal": "grad"}, r"The 'signal' parameter of {cls} must be one of io, target, dead, saturation, gradient, "
                             r"data\. Got 'grad' instead\."),
        ({"reduction": "mean"}, r"The 'reduction' parameter of {cls} must be one of pooled, unit_mean\. Got 'mean' instead\."),
        ({"every": 0}, r"The 'every' parameter of {cls} must be an integer >= 1\. Got 0 instead\."),
        ({"every": 1.5}, r"The 'every' parameter of {cls} must be an integer >= 1\. Got 1\.5 instead\."),
        ({"every": True}, r"The 'every' parameter of {cls} must be an integer >= 1\. Got True instead\."),
        ({"every": "2"}, r"The 'every' parameter of {cls} must be an integer >= 1\. Got '2' instead\."),
        ({"warmup": -1}, r"The 'warmup' parameter of {cls} must be an integer >= 0\. Got -1 instead\."),
        ({"warmup": 2.0}, r"The 'warmup' parameter of {cls} must be an integer >= 0\. Got 2\.0 instead\."),
        ({"warmup": False}, r"The 'warmup' parameter of {cls} must be an integer >= 0\. Got False instead\."),
        ({"base": "mish"}, r"Unknown activation family 'mish'; valid names: relu"),
    ],
)
def test_common_parameter_messages(cls: type[Strategy], params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.format(cls=cls.__name__)):
        cls(**params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lower": 0.5, "upper": 0.5}, r"The 'lower' parameter of ThresholdSwitch must be less than 'upper'\. Got lower=0\.5, upper=0\.5\."),
        ({"lower": 0.6, "upper": 0.2}, r"The 'lower' parameter of ThresholdSwitch must be less than 'upper'\. Got lower=0\.6, upper=0\.2\."),
        ({"lower": -1.5}, r"The 'lower' parameter of ThresholdSwitch must be a float in \[-1, 1\]\. Got -1\.5 instead\."),
        ({"lower": 1.01, "upper": 0.5}, r"The 'lower' parameter of ThresholdSwitch must be a float in \[-1, 1\]\. Got 1\.01 instead\."),
        ({"upper": 1.5}, r"The 'upper' parameter of ThresholdSwitch must be a float in \[-1, 1\]\. Got 1\.5 instead\."),
        ({"upper": -2}, r"The 'upper' parameter of ThresholdSwitch must be a float in \[-1, 1\]\. Got -2\.0 instead\."),
        ({"lower": float("nan")}, r"The 'lower' parameter of ThresholdSwitch must be a finite number\. Got nan instead\."),
        ({"upper": float("inf")}, r"The 'upper' parameter of ThresholdSwitch must be a finite number\. Got inf instead\."),
        ({"lower": "-0.5"}, r"The 'lower' parameter of ThresholdSwitch must be a finite number\. Got '-0\.5' instead\."),
        ({"upper": True}, r"The 'upper' parameter of ThresholdSwitch must be a finite number\. Got True instead\."),
        ({"below": "mish"}, r"The 'below' parameter of ThresholdSwitch must be an activation family \(relu, leaky_relu, .*identity\)\. Got 'mish' instead\."),
        ({"above": "prelu"}, r"The 'above' parameter of ThresholdSwitch must be an activation family \(relu, .*\)\. Got 'prelu' instead\."),
        ({"cooldown": -1}, r"The 'cooldown' parameter of ThresholdSwitch must be an integer >= 0\. Got -1 instead\."),
        ({"cooldown": 1.0}, r"The 'cooldown' parameter of ThresholdSwitch must be an integer >= 0\. Got 1\.0 instead\."),
        ({"cooldown": True}, r"The 'cooldown' parameter of ThresholdSwitch must be an integer >= 0\. Got True instead\."),
    ],
)
def test_threshold_parameter_messages(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ThresholdSwitch(**params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lam": float("nan")}, r"The 'lam' parameter of LinearUpdate must be a finite number\. Got nan instead\."),
        ({"lam": float("-inf")}, r"The 'lam' parameter of LinearUpdate must be a finite number\. Got -inf instead\."),
        ({"lam": "0.1"}, r"The 'lam' parameter of LinearUpdate must be a finite number\. Got '0\.1' instead\."),
        ({"lam": None}, r"The 'lam' parameter of LinearUpdate must be a finite number\. Got None instead\."),
        ({"alpha0": float("inf")}, r"The 'alpha0' parameter of LinearUpdate must be a finite number\. Got inf instead\."),
        ({"alpha0": False}, r"The 'alpha0' parameter of LinearUpdate must be a finite number\. Got False instead\."),
        ({"base": "tanh", "alpha0": 0.0}, r"The 'alpha0' parameter of LinearUpdate must lie in tanh's α range \[0\.1, 10\.0\]\. Got 0\.0 instead\."),
        ({"cumulative": "yes"}, r"The 'cumulative' parameter of LinearUpdate must be true or false\. Got 'yes' instead\."),
        ({"cumulative": 1}, r"The 'cumulative' parameter of LinearUpdate must be true or false\. Got 1 instead\."),
        ({"cumulative": None}, r"The 'cumulative' parameter of LinearUpdate must be true or false\. Got None instead\."),
        ({"base": "gelu"}, r"LinearUpdate adjusts a family's α, but 'gelu' has none"),
    ],
)
def test_linear_parameter_messages(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinearUpdate(**params)


def test_valid_edge_parameters_are_accepted() -> None:
    s = ThresholdSwitch(lower=-1, upper=1, cooldown=0)
    assert (s.lower, s.upper) == (-1.0, 1.0) and isinstance(s.lower, float)
    assert LinearUpdate(lam=-3, alpha0=0, base="relu").lam == -3.0
    assert FixedActivation(every=5, warmup=0, scope="global", signal="target").every == 5


def test_parameters_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ThresholdSwitch(-0.5, 0.5)  # type: ignore[misc]
    with pytest.raises(TypeError):
        LinearUpdate(lam=0.1, bogus=1)  # type: ignore[call-arg]


# --- schedule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup", "every", "adjusted"),
    [
        (0, 1, [0, 1, 2, 3, 4, 5, 6, 7, 8]),
        (2, 1, [2, 3, 4, 5, 6, 7, 8]),
        (0, 3, [2, 5, 8]),
        (2, 3, [4, 7]),
        (1, 2, [2, 4, 6, 8]),
        (20, 1, []),
    ],
)
def test_should_adjust(warmup: int, every: int, adjusted: list[int]) -> None:
    s = ThresholdSwitch(warmup=warmup, every=every)
    assert [e for e in range(9) if s.should_adjust(e)] == adjusted


def test_target_signal_implies_global_scope() -> None:
    assert ThresholdSwitch(signal="target", scope="layer").effective_scope == "global"
    assert ThresholdSwitch(scope="layer").effective_scope == "layer"
    assert ThresholdSwitch(scope="global").effective_scope == "global"


def test_warmup_and_every_in_a_training_loop() -> None:
    """Statistics accumulate until an adjustment runs; decisions only happen on scheduled epochs."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 1))
    # upper = -0.99: any positive r switches to sigmoid, so the epoch of the switch shows the schedule.
    dynsearch.apply(model, ThresholdSwitch(lower=-1.0, upper=-0.99, warmup=1, every=2))
    (_, site), = dynsearch.sites(model)
    x = torch.randn(32, 3)
    seen = []
    for epoch in range(4):
        model(x)
        (record,) = dynsearch.adjust(model, epoch)
        seen.append((record["n"], record["family"], record["switched"]))
    # warmup=1, every=2: epochs 0 and 1 only accumulate, epoch 2 adjusts (and resets), epoch 4 would be next.
    # n counts the pairs seen since the last adjustment.
    assert seen == [(32 * 6, "relu", False), (64 * 6, "relu", False), (96 * 6, "sigmoid", True), (32 * 6, "sigmoid", False)]
    assert site.stats.count == 32 * 6


# --- registry ---------------------------------------------------------------------------------


def test_builtin_names_in_registration_order() -> None:
    assert strategy_names()[:4] == ["fixed", "threshold", "linear", "learned"]
    for cls in BUILTIN:
        assert get_strategy_class(cls.name) is cls
    assert "test_user_rule" in strategy_names()
    assert "test_user_rule" in strategy_names_for_tests()


def test_duplicate_name_rejected(scratch_registry) -> None:
    class OtherThreshold(Strategy):
        def decide(self, r, state):
            return state

    with pytest.raises(ValueError, match=r"A strategy named 'threshold' is already registered \(ThresholdSwitch\)\."):
        register_strategy("threshold")(OtherThreshold)
    assert get_strategy_class("threshold") is ThresholdSwitch
    assert OtherThreshold.name == ""


def test_reregistering_the_same_class_is_allowed(scratch_registry) -> None:
    assert register_strategy("threshold")(ThresholdSwitch) is ThresholdSwitch
    assert strategy_names()[:4] == ["fixed", "threshold", "linear", "learned"]


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_bad_registration_names(name) -> None:
    with pytest.raises(ValueError, match=r"A strategy name must be a non-empty string\. Got .* instead\."):
        register_strategy(name)


def test_only_strategy_subclasses_register(scratch_registry) -> None:
    with pytest.raises(TypeError, match=r"register_strategy\('plain'\) decorates Strategy subclasses"):
        register_strategy("plain")(object)
    assert "plain" not in strategy_names()


def test_unknown_strategy_lists_registered_ones() -> None:
    valid = ", ".join(strategy_names())
    with pytest.raises(ValueError, match=rf"Unknown strategy 'nope'; registered strategies: {valid}\."):
        get_strategy_class("nope")
    with pytest.raises(ValueError, match=r"Unknown strategy 'nope'; registered strategies: fixed, threshold, linear, learned"):
        make_strategy("nope")


def test_make_strategy() -> None:
    assert make_strategy("threshold", lower=-0.2, upper=0.3) == ThresholdSwitch(lower=-0.2, upper=0.3)
    assert make_strategy("linear") == LinearUpdate()
    with pytest.raises(
        ValueError,
        match=r"Unknown parameter 'lam' for strategy 'threshold'; allowed: base, scope, signal, reduction, every, "
        r"warmup, lower, upper, below, above, cooldown, between\.",
    ):
        make_strategy("threshold", lower=-0.2, lam=0.1)
    with pytest.raises(ValueError, match=r"Unknown parameter 'lower' for strategy 'fixed'; allowed: base, scope, signal, reduction, every, warmup\."):
        make_strategy("fixed", lower=0.0)
    # parameter values are still validated by the class
    with pytest.raises(ValueError, match="The 'every' parameter of LinearUpdate"):
        make_strategy("linear", every=0)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("threshold", r"A strategy config must be a mapping with 'name' and 'params'\. Got 'threshold' instead\."),
        ({}, r"A strategy config must be a mapping with 'name' and 'params'\. Got \{\} instead\."),
        ({"params": {}}, r"A strategy config must be a mapping with 'name' and 'params'\."),
        (None, r"A strategy config must be a mapping with 'name' and 'params'\. Got None instead\."),
        ({"name": "threshold", "params": [1, 2]}, r"A strategy config's 'params' must be a mapping\. Got \[1, 2\] instead\."),
        ({"name": "threshold", "params": None}, r"A strategy config's 'params' must be a mapping\. Got None instead\."),
        ({"name": "threshold", "params": {}, "version": 2}, r"Unknown key 'version' in a strategy config; allowed: name, params\."),
        ({"name": "nope", "params": {}}, r"Unknown strategy 'nope'; registered strategies: fixed"),
        ({"name": "linear", "params": {"lambda": 0.1}}, r"Unknown parameter 'lambda' for strategy 'linear'"),
        ({"name": "threshold", "params": {"upper": 2}}, r"The 'upper' parameter of ThresholdSwitch must be a float in \[-1, 1\]"),
    ],
)
def test_malformed_configs(config, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        strategy_from_config(config)


def test_config_round_trips() -> None:
    s = ThresholdSwitch(lower=-0.3, upper=0.6, below="swish", cooldown=2, scope="global", every=2, warmup=1)
    cfg = s.to_config()
    assert cfg == {
        "name": "threshold",
        "params": {
            "base": None, "scope": "global", "signal": "io", "reduction": "pooled", "every": 2, "warmup": 1,
            "lower": -0.3, "upper": 0.6, "below": "silu", "above": "sigmoid", "cooldown": 2, "between": "base",
        },
    }
    loaded = strategy_from_config(json.loads(json.dumps(cfg)))
    assert loaded == s and loaded is not s and hash(loaded) == hash(s)
    assert strategy_from_config({"name": "threshold"}) == ThresholdSwitch()
    # A config stored before `between` existed reads as the literal rule.
    stored = {"name": "threshold", "params": {k: v for k, v in cfg["params"].items() if k != "between"}}
    assert strategy_from_config(stored) == s
    assert strategy_from_config(s) is s
    for other in (LinearUpdate(lam=0.25, alpha0=0.5, cumulative=True, base="leaky_relu"), LearnedAlpha(base="silu"), FixedActivation()):
        assert strategy_from_config(json.loads(json.dumps(other.to_config()))) == other


def test_equality_and_clone() -> None:
    s = LinearUpdate(lam=0.2)
    assert s == LinearUpdate(lam=0.2)
    assert s != LinearUpdate(lam=0.3)
    assert FixedActivation() != LearnedAlpha()  # same parameters, different rule
    assert s != "linear"
    twin = s.clone()
    assert twin == s and twin is not s and type(twin) is LinearUpdate
    assert len({s, twin, LinearUpdate(lam=0.3)}) == 2
    assert repr(s).startswith("LinearUpdate(base=None, scope='layer'")


def test_param_names_base_first() -> None:
    common = ["base", "scope", "signal", "reduction", "every", "warmup"]
    assert ThresholdSwitch.param_names() == [*common, "lower", "upper", "below", "above", "cooldown", "between"]
    assert LinearUpdate.param_names()[6:] == ["lam", "alpha0", "cumulative"]
    assert FixedActivation.param_names() == common
    assert LearnedAlpha.param_names() == [*common, "per_channel"]
    assert GainAboveCut.param_names()[6:] == ["cut", "gain"]


# --- a user strategy through dynsearch.apply --------------------------------------------------


def _train(model: nn.Module, epochs: int, x: torch.Tensor, y: torch.Tensor) -> list[list[dict]]:
    optimizer = torch.optim.SGD(dynsearch.parameter_groups(model, 0.0), lr=0.05)
    history = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in zip(x.split(16), y.split(16)):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
        history.append(dynsearch.adjust(model, epoch))
    return history


def test_user_strategy_through_apply_and_config() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x.sum(dim=1, keepdim=True)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    rule = GainAboveCut(cut=-1.0, gain=2.5)  # any r above -1 → tanh(2.5 x)
    dynsearch.apply(model, rule)
    names = [name for name, _ in dynsearch.sites(model)]
    assert names == ["1", "3"]
    history = _train(model, 2, x, y)
    assert [len(records) for records in history] == [2, 2]
    first = history[0]
    assert [rec["site"] for rec in first] == names
    assert all(rec["family"] == "tanh" and rec["alpha"] == 2.5 and rec["switched"] for rec in first)
    assert all(not rec["switched"] for rec in history[1])
    for _, site in dynsearch.sites(model):
        z = torch.randn(10)
        torch.testing.assert_close(site(z), torch.tanh(2.5 * z))

    # The exported config rebuilds the same rule in a fresh model, and the trained state loads into it.
    cfg = json.loads(json.dumps(rule.to_config()))
    assert cfg == {"name": "test_user_rule", "params": {"base": None, "scope": "layer", "signal": "io",
                                                       "reduction": "pooled", "every": 1, "warmup": 0,
                                                       "cut": -1.0, "gain": 2.5}}
    fresh = dynsearch.apply(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1)), cfg)
    assert all(site.strategy == rule for _, site in dynsearch.sites(fresh))
    fresh.load_state_dict(model.state_dict())
    assert [(s.family, s.alpha_value) for _, s in dynsearch.sites(fresh)] == [("tanh", 2.5), ("tanh", 2.5)]
    model.eval()
    fresh.eval()
    torch.testing.assert_close(fresh(x), model(x))


# --- the conformance suite --------------------------------------------------------------------


@pytest.mark.parametrize("name", strategy_names_for_tests())
def test_conformance(name: str) -> None:
    check_strategy(name)


def test_conformance_takes_a_class() -> None:
    check_strategy(GainAboveCut)


def test_conformance_rejects_an_unregistered_class() -> None:
    class Loose(Strategy):
        def decide(self, r, state):
            return state

    with pytest.raises(AssertionError, match=r"Loose has no name: register it with @register_strategy"):
        check_strategy(Loose)
    with pytest.raises(AssertionError, match="Strategy subclass or a registered name"):
        check_strategy(int)  # type: ignore[arg-type]


def test_conformance_catches_positional_parameters(scratch_registry) -> None:
    @register_strategy("broken_positional")
    class Positional(Strategy):
        def __init__(self, gain=1.0, **common):
            super().__init__(**common)
            self.gain = gain

        def decide(self, r, state):
            return state

    with pytest.raises(AssertionError, match=r"parameter 'gain' must be keyword-only"):
        check_strategy("broken_positional")


def test_conformance_catches_renamed_attributes(scratch_registry) -> None:
    @register_strategy("broken_rename")
    class Renamed(Strategy):
        def __init__(self, *, gain: float = 1.0, **common):
            super().__init__(**common)
            self._gain = gain

        def decide(self, r, state):
            return state

    with pytest.raises(AssertionError, match=r"does not store parameter 'gain' as an attribute"):
        check_strategy("broken_rename")


def test_conformance_catches_params_that_do_not_survive_json(scratch_registry) -> None:
    @register_strategy("broken_json")
    class TupleParam(Strategy):
        def __init__(self, *, families: tuple = ("relu", "tanh"), **common):
            super().__init__(**common)
            self.families = families

        def decide(self, r, state):
            return state

    with pytest.raises(AssertionError, match=r"does not survive a JSON config round trip"):
        check_strategy("broken_json")


def test_conformance_catches_unserializable_params(scratch_registry) -> None:
    @register_strategy("broken_unserializable")
    class SetParam(Strategy):
        def __init__(self, *, families: frozenset = frozenset({"relu"}), **common):
            super().__init__(**common)
            self.families = families

        def decide(self, r, state):
            return state

    with pytest.raises(AssertionError, match=r"to_config\(\) is not JSON-serializable"):
        check_strategy("broken_unserializable")


@pytest.mark.parametrize(
    ("decide", "message"),
    [
        (lambda r, s: s.replace(family="swish"), r"returned family 'swish'; it must be a canonical family name"),
        (lambda r, s: s.replace(family="tanh", alpha=20.0 * (r + 1.5)), r"outside tanh's range \(0\.1, 10\.0\)"),
        (lambda r, s: s.replace(alpha=float("nan")), r"not a finite float"),
        (lambda r, s: (s.family, s.alpha), r"not a SiteState"),
        (lambda r, s: s.replace(initial_family="tanh"), r"changed initial_family"),
    ],
)
def test_conformance_catches_bad_decisions(scratch_registry, decide, message: str) -> None:
    @register_strategy("broken_decide")
    class Bad(Strategy):
        def decide(self, r, state):
            return decide(r, state)

    with pytest.raises(AssertionError, match=message):
        check_strategy("broken_decide")


def test_conformance_catches_hidden_memory(scratch_registry) -> None:
    @register_strategy("broken_memory")
    class Memory(Strategy):
        def decide(self, r, state):
            self.calls_ = getattr(self, "calls_", 0) + 1
            return state.replace(family="tanh", alpha=1.0 + (self.calls_ % 2))

    with pytest.raises(AssertionError, match=r"is not deterministic|depends on earlier calls"):
        check_strategy("broken_memory")


def test_conformance_catches_uses_signal_false_that_reads_r(scratch_registry) -> None:
    @register_strategy("broken_uses_signal")
    class Liar(Strategy):
        uses_signal = False

        def decide(self, r, state):
            return state.replace(family="tanh" if r > 0 else "sigmoid", alpha=1.0)

    with pytest.raises(AssertionError, match=r"says uses_signal = False, but its decision .* depends on r"):
        check_strategy("broken_uses_signal")


def test_conformance_catches_a_missing_super_init(scratch_registry) -> None:
    @register_strategy("broken_super")
    class NoSuper(Strategy):
        def __init__(self, *, gain: float = 1.0) -> None:
            self.gain = gain  # forgets super().__init__(**common): the common parameters are never stored

        def decide(self, r, state):
            return state

    with pytest.raises(AssertionError, match=r"does not store parameter 'base' as an attribute"):
        check_strategy("broken_super")
