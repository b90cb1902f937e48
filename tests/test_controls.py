"""Controls as strategies: schedule and final_fixed, alone, through apply/adjust, and in real training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dynsearch
from dynsearch.data import load_dataset
from dynsearch.strategies import ROLES, FinalFixed, ScheduledSwitch, SiteState, ThresholdSwitch, strategy_from_config
from dynsearch.testing import check_strategy
from dynsearch.train import TrainConfig, train

CONFIG = TrainConfig(model="mlp", hidden=(16, 16), epochs=4, batch_size=32, lr=0.01, patience=0, seed=0)


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_samples=200, noise=0.2)


def families(result) -> list[list[str]]:
    return [[site["family"] for site in rec.sites] for rec in result.history]


def alphas(result) -> list[list[float]]:
    return [[site["alpha"] for site in rec.sites] for rec in result.history]


@pytest.mark.parametrize("name", ["schedule", "final_fixed"])
def test_controls_pass_the_strategy_contract_and_are_controls(name: str) -> None:
    check_strategy(name)
    cls = type(strategy_from_config({"name": name, "params": {}}))
    assert cls.role == "control" and cls.role in ROLES and cls.uses_signal is False


# --- schedule -------------------------------------------------------------------------------------------------


def test_schedule_switches_every_site_at_its_epoch_in_training(moons) -> None:
    result = train(moons, ScheduledSwitch(at=2, to="tanh", base="relu"), CONFIG)
    assert families(result) == [["relu", "relu"], ["tanh", "tanh"], ["tanh", "tanh"], ["tanh", "tanh"]]
    assert alphas(result)[1] == [1.0, 1.0]  # tanh's default gain
    assert result.n_switches == 2 and result.status == "ok"
    # No signal is read, so nothing is measured: every record has n = 0.
    assert {site["n"] for rec in result.history for site in rec.sites} == {0}


def test_schedule_moves_alpha_only_and_respects_warmup_and_every(moons) -> None:
    result = train(moons, ScheduledSwitch(at=1, to=None, alpha=0.3, base="leaky_relu"), CONFIG)
    assert families(result) == [["leaky_relu"] * 2] * 4
    assert alphas(result) == [[pytest.approx(0.3)] * 2] * 4
    assert result.n_switches == 0
    # Adjustments only after epoch 3 (warmup 2, every 2): the switch waits for the first one.
    late = train(moons, ScheduledSwitch(at=1, to="sigmoid", base="relu", warmup=2, every=2), CONFIG)
    assert families(late) == [["relu"] * 2, ["relu"] * 2, ["relu"] * 2, ["sigmoid"] * 2]


def test_schedule_decisions() -> None:
    s = ScheduledSwitch(at=3, to="elu", alpha=2.0)
    start = SiteState("relu", 0.0, "relu", 0.0, epoch=0)
    assert s.decide(0.0, start) == start and s.decide(0.0, start.replace(epoch=1)) == start.replace(epoch=1)
    switched = s.decide(0.0, start.replace(epoch=2))
    assert (switched.family, switched.alpha) == ("elu", 2.0)
    assert s.decide(-1.0, switched.replace(epoch=3)) == switched.replace(epoch=3)  # stays
    # α without a family: clipped into each site's range.
    moved = ScheduledSwitch(at=1, to=None, alpha=5.0).decide(0.0, SiteState("relu", 0.0, "relu", 0.0))
    assert (moved.family, moved.alpha) == ("relu", 1.0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"at": 0}, r"The 'at' parameter of ScheduledSwitch must be an integer >= 1\. Got 0 instead\."),
        ({"at": 2.0}, r"The 'at' parameter of ScheduledSwitch must be an integer >= 1\. Got 2\.0 instead\."),
        ({"to": "tanhh"}, r"The 'to' parameter of ScheduledSwitch must be an activation family \(relu, .*\)\. Got 'tanhh'"),
        ({"to": None}, r"ScheduledSwitch needs a family 'to' or an 'alpha' to set; both are None\."),
        ({"to": "tanh", "alpha": 20.0}, r"The 'alpha' parameter of ScheduledSwitch must lie in tanh's α range \[0\.1, 10\.0\]\. Got 20\.0"),
        ({"alpha": float("nan")}, r"The 'alpha' parameter of ScheduledSwitch must be a finite number\. Got nan"),
    ],
)
def test_schedule_rejects_bad_parameters_in_one_line(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduledSwitch(**params)


# --- final_fixed ----------------------------------------------------------------------------------------------


def test_final_fixed_starts_each_site_in_its_state_and_never_changes(moons) -> None:
    control = FinalFixed(families=["tanh", "elu"], alphas=[2.0, 0.5])
    result = train(moons, control, CONFIG)
    assert families(result) == [["tanh", "elu"]] * 4
    assert alphas(result) == [[2.0, 0.5]] * 4
    assert result.n_switches == 0
    # The same instance applied again (another seed, another model) assigns the same states.
    again = train(moons, control, TrainConfig(**{**CONFIG.to_dict(), "seed": 1}))
    assert families(again) == families(result) and alphas(again) == alphas(result)


def test_final_fixed_from_the_end_of_a_dynamic_run(moons) -> None:
    dynamic = train(moons, ThresholdSwitch(lower=-0.5, upper=0.5, base="relu"), CONFIG)
    end = dynamic.history[-1].sites
    assert {s["family"] for s in end} == {"sigmoid"}  # r near 0.9 on relu sites: everything switched up
    control = FinalFixed.from_records(end)
    assert control.get_params()["families"] == "sigmoid" and control.get_params()["alphas"] == 1.0
    result = train(moons, control.to_config(), CONFIG)
    assert families(result) == [["sigmoid", "sigmoid"]] * 4 and result.n_switches == 0
    per_site = FinalFixed.from_records([{"family": "relu", "alpha": 0.2}, {"family": "swish", "alpha": 1.5}])
    assert per_site.get_params()["families"] == ["relu", "silu"] and per_site.get_params()["alphas"] == [0.2, 1.5]


def test_final_fixed_in_a_user_model_through_apply() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh())
    dynsearch.apply(model, FinalFixed(families=["relu", "silu", "sigmoid"], alphas=[0.1, 2.0, 3.0]))
    assert [(s.family, s.alpha_value) for _, s in dynsearch.sites(model)] == [("relu", pytest.approx(0.1)),
                                                                             ("silu", 2.0), ("sigmoid", 3.0)]  # fmt: skip
    one = dynsearch.apply(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU()), FinalFixed(families="gelu"))
    assert [s.family for _, s in dynsearch.sites(one)] == ["gelu", "gelu"]
    out = one(torch.randn(5, 3))
    assert out.shape == (5, 2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"families": []}, r"The 'families' parameter of FinalFixed must be a family or a non-empty list\. Got \[\]"),
        ({"families": ["relu", "nope"]}, r"The 'families\[1\]' parameter of FinalFixed must be an activation family"),
        ({"families": ["relu", "tanh"], "alphas": [0.1]}, r"one entry per site each\. Got 2 families and 1 alphas\."),
        ({"families": ["relu", "tanh"], "alphas": [0.1, 20.0]}, r"The 'alphas\[1\]' parameter of FinalFixed must lie in tanh's α range"),
        ({"families": ["relu", "tanh"], "alphas": 5.0}, r"The 'alphas' parameter of FinalFixed must lie in relu's α range \[0\.0, 1\.0\]"),
        ({"alphas": "big"}, r"The 'alphas' parameter of FinalFixed must be a finite number\. Got 'big'"),
        ({"alphas": []}, r"The 'alphas' parameter of FinalFixed must be a number, a non-empty list or None\. Got \[\]"),
    ],
)
def test_final_fixed_rejects_bad_parameters_in_one_line(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FinalFixed(**params)
    with pytest.raises(ValueError, match="at least one site"):
        FinalFixed.from_records([])


def test_final_fixed_without_families_keeps_its_base() -> None:
    # A study's final_fixed-tanh arm sets only base: every site must start, and stay, tanh.
    assert FinalFixed(base="tanh").initial_state("relu", 0.0)[0] == "tanh"
    assert FinalFixed().initial_state("tanh", 1.0)[0] == "relu"
    assert FinalFixed(base="elu", families="tanh").initial_state("relu", 0.0)[0] == "tanh"
