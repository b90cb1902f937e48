"""The define-by-run search space, equal arm budgets and the worker plan (no training here).

Many trials from Optuna's own samplers go through ``suggest_plan`` on in-memory studies; every
plan must be a strategy config that ``dynsearch.strategy_from_config`` accepts, with parameters
only where its arm uses them and values inside the study file's ranges.
"""

from __future__ import annotations

import random

import optuna
import pytest

import dynsearch
from dynsearch.activations import get_family
from dynsearch.config import parse_study
from dynsearch.search import arm_budgets, plan_workers, suggest_plan
from dynsearch.search import runner as runner_module
from dynsearch.search.space import ARM_PARAM

optuna.logging.set_verbosity(optuna.logging.ERROR)

# Everything searched at once: bases with and without α (gelu has none), two signals, ranges
# for every/warmup/cooldown, lr and width, and threshold ranges that overlap (lower may be
# drawn above the smallest upper, and close to the largest one).
WIDE = {
    "name": "wide",
    "datasets": ["iris"],
    "n_trials": 40,
    "model": {"kind": "mlp", "hidden": [16, 16]},
    "training": {"epochs": 2},
    "search": {
        "strategies": ["fixed", "threshold", "linear", "learned"],
        "scopes": ["layer", "global"],
        "signals": ["io", "target"],
        "bases": ["relu", "tanh", "gelu", "elu"],
        "lambda": [-2.0, 2.0],
        "alpha0": [0.0, 2.0],
        "lower": [-0.5, 0.95],
        "upper": [0.0, 0.9],
        "below": ["tanh", "elu"],
        "above": ["sigmoid", "silu"],
        "every": [1, 3],
        "warmup": [0, 2],
        "cooldown": [0, 2],
        "lr": [1e-4, 1e-2],
        "width": [8, 32],
    },
}

# The defaults: single-valued ranges are not searched at all.
NARROW = {
    "name": "narrow",
    "datasets": ["iris"],
    "n_trials": 8,
    "model": {"kind": "mlp", "hidden": [16]},
    "training": {"epochs": 2},
    "search": {"strategies": ["fixed", "threshold", "linear", "learned"], "bases": ["relu", "tanh"]},
}

# A tight pair: the thresholds' ranges leave a gap smaller than MIN_THRESHOLD_GAP.
TIGHT = {
    "name": "tight",
    "datasets": ["iris"],
    "n_trials": 2,
    "search": {"strategies": ["threshold"], "bases": ["relu"], "lower": [0.3, 0.5], "upper": [0.2, 0.305]},
}

def _check_plan(trial: optuna.Trial, spec, strategy: dict, train_config) -> None:
    """Every plan: the arm's own strategy with the arm's fixed values, each other value inside the study's
    setting for that strategy, Optuna parameters only of that strategy, and a buildable strategy."""
    label = trial.params[ARM_PARAM]
    arm = spec.arm(label)
    settings = spec.search.strategy(arm.strategy).as_dict()
    assert strategy["name"] == arm.strategy
    params = strategy["params"]
    for name, value in arm.fixed:
        assert params[name] == value, (label, name)
    for name, value in params.items():
        setting = settings[name]
        if isinstance(setting[0], str) or isinstance(value, bool):
            assert value in setting, (label, name, value)
        else:
            assert setting[0] <= value <= setting[1], (label, name, value, setting)
    # Optuna parameters: the arm, the shared training ranges, and this strategy's own names only.
    extra = {n for n, rng in (("lr", spec.search.lr), ("width", spec.search.width)) if rng is not None}
    for name in set(trial.params) - {ARM_PARAM} - extra:
        assert name.startswith(f"{arm.strategy}."), (label, name)
        assert name.split(".", 1)[1] in params
    # What each built-in rule requires of its values.
    if params.get("signal") == "target":
        assert params["scope"] == "global", params
    if arm.strategy in ("linear", "learned"):
        assert get_family(params["base"]).has_alpha, params
    if arm.strategy == "threshold":
        assert params["lower"] < params["upper"], params
    if "alpha0" in params:
        low, high = get_family(params["base"]).alpha_range
        assert low <= params["alpha0"] <= high

    if spec.search.lr is not None:
        assert spec.search.lr[0] <= train_config.lr <= spec.search.lr[1]
    if spec.search.width is not None:
        assert spec.search.width[0] <= train_config.hidden[0] <= spec.search.width[1]
        assert len(train_config.hidden) == len(spec.train.hidden)
        assert len(set(train_config.hidden)) == 1

    built = dynsearch.strategy_from_config(strategy)
    assert built.to_config()["name"] == arm.strategy
    assert built.effective_scope == (arm.get("scope") or built.effective_scope)


def _drive(spec, sampler: optuna.samplers.BaseSampler, n: int, *, enqueue_every: int = 3) -> dict[str, int]:
    """Ask ``n`` trials; every ``enqueue_every``-th has its arm queued (the way ``prepare_study`` does)."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    rng = random.Random(0)
    seen: dict[str, int] = {}
    for i in range(n):
        if i % enqueue_every == 0:
            study.enqueue_trial({ARM_PARAM: spec.arms[i % len(spec.arms)]})
        trial = study.ask()
        strategy, train_config = suggest_plan(trial, spec)
        _check_plan(trial, spec, strategy, train_config)
        seen[trial.params[ARM_PARAM]] = seen.get(trial.params[ARM_PARAM], 0) + 1
        study.tell(trial, rng.random())
    return seen


def test_random_sampler_plans_are_valid_and_minimal() -> None:
    spec = parse_study(WIDE, "studies/wide.toml")
    seen = _drive(spec, optuna.samplers.RandomSampler(seed=1), 400)
    assert set(seen) == set(spec.arms)  # every arm was exercised


def test_tpe_sampler_plans_are_valid_and_minimal() -> None:
    spec = parse_study(WIDE, "studies/wide.toml")
    seen = _drive(spec, optuna.samplers.TPESampler(seed=2, n_startup_trials=10), 120)
    assert set(seen) == set(spec.arms)


def test_tpe_on_defaults_searches_only_real_ranges() -> None:
    spec = parse_study(NARROW, "studies/narrow.toml")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=3, n_startup_trials=5))
    for i in range(60):
        study.enqueue_trial({ARM_PARAM: spec.arms[i % len(spec.arms)]})
        trial = study.ask()
        strategy, train_config = suggest_plan(trial, spec)
        _check_plan(trial, spec, strategy, train_config)
        kind = strategy["name"]
        # every/warmup/cooldown are fixed ranges (1,1), (0,0), (0,0): never Optuna parameters.
        assert not any(n.endswith((".every", ".warmup", ".cooldown", ".signal")) for n in trial.params)
        if kind == "threshold":
            assert set(trial.params) <= {ARM_PARAM, "threshold.base", "threshold.lower", "threshold.upper"}
        if kind == "linear":
            assert set(trial.params) <= {ARM_PARAM, "linear.base", "linear.lam"}
        study.tell(trial, float(i % 7))


def test_tight_threshold_ranges_still_give_valid_pairs() -> None:
    spec = parse_study(TIGHT, "studies/tight.toml")
    seen = _drive(spec, optuna.samplers.RandomSampler(seed=4), 200, enqueue_every=1)
    assert seen == {"threshold-layer": 100, "threshold-global": 100}


def test_arm_layout_never_lies_about_scope() -> None:
    """A per-layer arm never runs a per-network signal (which would act globally)."""
    spec = parse_study(WIDE, "studies/wide.toml")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=6))
    scopes: dict[str, set] = {}
    for i in range(120):
        study.enqueue_trial({ARM_PARAM: spec.arms[i % len(spec.arms)]})
        trial = study.ask()
        strategy, _ = suggest_plan(trial, spec)
        built = dynsearch.strategy_from_config(strategy)
        scopes.setdefault(trial.params[ARM_PARAM], set()).add(built.effective_scope)
        study.tell(trial, 0.5)
    for label, seen in scopes.items():
        if "layer" in label:
            assert seen == {"layer"}, (label, seen)
        if label.endswith("global-io") or label.endswith("-target"):
            assert seen == {"global"}, (label, seen)


def test_between_rules_are_arms_of_their_own_and_cooldown_is_searched() -> None:
    search = {"strategies": ["threshold"], "scopes": ["layer"], "threshold": {"between": ["base", "keep"], "cooldown": [0, 3]}}
    spec = parse_study({"datasets": ["iris"], "search": search}, "studies/between.toml")
    assert list(spec.arms) == ["threshold-layer-base", "threshold-layer-keep"]
    # A study that names no between rule keeps its arms and the literal rule.
    plain = parse_study({"datasets": ["iris"], "search": {"strategies": ["threshold"], "scopes": ["layer"]}}, "studies/p.toml")
    assert list(plain.arms) == ["threshold-layer"]
    # Listing only the hysteresis rule still names it: the literal rule's label never holds another rule.
    keep_only = {"strategies": ["threshold"], "scopes": ["layer"], "threshold": {"between": ["keep"]}}
    assert list(parse_study({"datasets": ["iris"], "search": keep_only}, "studies/k.toml").arms) == ["threshold-layer-keep"]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    seen: dict[str, set] = {"threshold-layer-base": set(), "threshold-layer-keep": set()}
    cooldowns = set()
    for i in range(24):
        study.enqueue_trial({ARM_PARAM: spec.arms[i % 2]})
        trial = study.ask()
        strategy, _ = suggest_plan(trial, spec)
        built = dynsearch.strategy_from_config(strategy)
        seen[trial.params[ARM_PARAM]].add(built.between)
        cooldowns.add(built.cooldown)
        study.tell(trial, 0.5)
    assert seen == {"threshold-layer-base": {"base"}, "threshold-layer-keep": {"keep"}}
    assert cooldowns <= {0, 1, 2, 3} and len(cooldowns) > 1
    plain_strategy, _ = suggest_plan(optuna.create_study().ask(), plain)
    assert "between" not in plain_strategy["params"]  # not sampled, so its trials' parameters are as before


def test_replayed_trial_gets_the_same_plan() -> None:
    """A re-queued trial (same params) must rebuild exactly the same strategy and training."""
    spec = parse_study(WIDE, "studies/wide.toml")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=5))
    for _ in range(40):
        trial = study.ask()
        plan = suggest_plan(trial, spec)
        study.tell(trial, 0.5)
        frozen = study.trials[-1]
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING, params=frozen.params,
                                                  distributions=frozen.distributions))
        replay = study.ask()
        assert suggest_plan(replay, spec) == plan
        study.tell(replay, 0.5)


# --- equal budgets ------------------------------------------------------------------------------


def test_arm_budgets_are_equal_for_a_multiple_of_the_arms() -> None:
    arms = parse_study(NARROW, "studies/narrow.toml").arms
    assert len(arms) == 8
    for per_arm in (1, 2, 5):
        budgets = arm_budgets(arms, per_arm * len(arms))
        assert list(budgets) == arms
        assert set(budgets.values()) == {per_arm}


@pytest.mark.parametrize("n", [8, 9, 13, 15, 17, 100])
def test_arm_budgets_split_any_total_within_one(n: int) -> None:
    arms = parse_study(NARROW, "studies/narrow.toml").arms
    budgets = arm_budgets(arms, n)
    assert sum(budgets.values()) == n
    assert max(budgets.values()) - min(budgets.values()) <= 1


# --- worker plan --------------------------------------------------------------------------------


def test_plan_without_gpu_is_one_worker_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "available_cores", lambda: 8)
    slots = plan_workers("auto", gpu_count=0)
    assert len(slots) == 8
    assert all(s.device == "cpu" and s.gpu is None and s.threads == 1 for s in slots)
    assert [s.index for s in slots] == list(range(8))
    two = plan_workers(2, gpu_count=0)
    assert [(s.device, s.threads) for s in two] == [("cpu", 4), ("cpu", 4)]
    three = plan_workers(3, gpu_count=0)
    assert [s.threads for s in three] == [2, 2, 2]
    many = plan_workers(20, gpu_count=0)
    assert len(many) == 20 and all(s.threads == 1 for s in many)


def test_plan_on_this_machine_without_gpu() -> None:
    import os

    cores = len(os.sched_getaffinity(0))  # the cores the OS lets this process run on
    slots = plan_workers("auto", gpu_count=0)
    assert len(slots) == cores
    assert all(s.threads == 1 for s in slots)  # one worker per core, one thread each
    (alone,) = plan_workers(1, gpu_count=0)
    assert alone.threads == cores  # a single worker gets every core


def test_a_broken_cuda_means_cpu_workers_and_says_why(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    import torch

    # No GPU here: stand in for a driver that torch finds but cannot initialize.
    def broken() -> int:
        raise RuntimeError("CUDA driver version is insufficient for CUDA runtime version")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", broken)
    with caplog.at_level("WARNING"):
        slots = plan_workers(2)
    assert [s.device for s in slots] == ["cpu", "cpu"]
    assert "CUDA is unusable (RuntimeError: CUDA driver version is insufficient" in caplog.text


def test_plan_with_gpus_pins_round_robin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "available_cores", lambda: 16)
    slots = plan_workers("auto", per_device=2, gpu_count=4)
    assert len(slots) == 8
    assert [s.gpu for s in slots] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert all(s.device == "cuda" for s in slots)
    assert [s.label for s in slots[:4]] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert all(s.threads == 2 for s in slots)
    one_each = plan_workers("auto", gpu_count=4)
    assert [s.gpu for s in one_each] == [0, 1, 2, 3]


def test_plan_restricted_to_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "available_cores", lambda: 16)
    slots = plan_workers("auto", devices=[0, 2], gpu_count=4)
    assert [s.gpu for s in slots] == [0, 2]
    doubled = plan_workers("auto", per_device=2, devices=[0, 2], gpu_count=4)
    assert sorted(s.gpu for s in doubled) == [0, 0, 2, 2]
    assert {s.gpu for s in doubled} == {0, 2}
    counted = plan_workers(3, devices=[2], gpu_count=4)
    assert [s.gpu for s in counted] == [2, 2, 2]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"devices": [5], "gpu_count": 0}, "GPU 5 does not exist"),
        ({"devices": [0, 4], "gpu_count": 4}, "GPU 4 does not exist"),
        ({"per_device": 0, "gpu_count": 2}, "--per-device"),
        ({"workers": 0, "gpu_count": 0}, "--workers"),
    ],
)
def test_plan_rejects_impossible_requests(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_workers(**kwargs)


def test_queued_trials_of_a_study_stored_in_the_old_layout_still_run() -> None:
    """Specs stored by dynsearch 0.1 (flat [search], signal sampled inside threshold-<scope>) keep their
    labels; a queued trial of such an arm gets a plan whose scope is the one its label says."""
    from dynsearch.config import StudySpec

    stored = parse_study(NARROW, "studies/narrow.toml").to_dict()
    stored["search"] = {"strategies": ["fixed", "threshold", "linear"], "scopes": ["layer", "global"],
                        "signals": ["io", "target"], "bases": ["relu"], "lambda": [-1.0, 1.0], "alpha0": None,
                        "lower": [-0.9, 0.0], "upper": [0.0, 0.9], "below": ["tanh"], "above": ["sigmoid"],
                        "every": [1, 1], "warmup": [0, 0], "cooldown": [0, 0], "lr": None, "width": None}  # fmt: skip
    spec = StudySpec.from_dict(stored)
    assert spec.arms == ["fixed-relu", "threshold-layer", "threshold-global", "linear-layer", "linear-global"]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=7))
    signals: dict[str, set] = {}
    for i in range(40):
        study.enqueue_trial({ARM_PARAM: spec.arms[1 + i % 4]})
        trial = study.ask()
        strategy, _ = suggest_plan(trial, spec)
        built = dynsearch.strategy_from_config(strategy)
        label = trial.params[ARM_PARAM]
        assert built.effective_scope == spec.arm(label).get("scope"), (label, strategy)
        signals.setdefault(label, set()).add(built.signal)
        study.tell(trial, 0.5)
    assert signals["threshold-layer"] == {"io"} and signals["threshold-global"] == {"io", "target"}
