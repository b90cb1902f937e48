"""The define-by-run search space: from a trial and the study's ranges to a strategy and training.

Every trial belongs to one *arm* (a strategy family with its scope or base: ``threshold-layer``,
``fixed-relu``, …), fixed when its slot was queued, so every arm gets the same budget. Parameters
exist only where the arm uses them, and are named after their strategy (``threshold.lower``,
``linear.lam``) so that Optuna models each family's parameters on their own trials. The
thresholds are drawn as lower, then upper above it: no trial is spent on an invalid pair.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import optuna

from ..activations import get_family
from ..config import StudySpec, arm_strategy
from ..strategies import get_strategy_class
from ..train import TrainConfig

__all__ = ["suggest_plan", "ARM_PARAM", "MIN_THRESHOLD_GAP"]

ARM_PARAM = "arm"
# Smallest gap between the two thresholds, so a sampled pair always satisfies lower < upper.
MIN_THRESHOLD_GAP = 0.01


def _int_param(trial: optuna.Trial, name: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    return low if low == high else trial.suggest_int(name, low, high)


def suggest_plan(trial: optuna.Trial, spec: StudySpec) -> tuple[dict[str, Any], TrainConfig]:
    """Sample (or read back, for a queued or retried trial) the trial's strategy config and training."""
    arm = trial.suggest_categorical(ARM_PARAM, list(spec.arms))
    kind, scope, base = arm_strategy(arm)
    space = spec.search
    params: dict[str, Any] = {}
    if kind in ("fixed", "learned"):
        params["base"] = base
    else:
        params["scope"] = scope
        bases = [b for b in space.bases if kind != "linear" or get_family(b).has_alpha]
        params["base"] = bases[0] if len(bases) == 1 else trial.suggest_categorical(f"{kind}.base", bases)
        if len(space.signals) > 1:
            params["signal"] = trial.suggest_categorical(f"{kind}.signal", list(space.signals))
        else:
            params["signal"] = space.signals[0]
        params["every"] = _int_param(trial, f"{kind}.every", space.every)
        params["warmup"] = _int_param(trial, f"{kind}.warmup", space.warmup)
    if kind == "threshold":
        # lower stays far enough below the largest upper that a valid upper always exists inside
        # the file's range (the config guarantees lower[0] < upper[1]).
        gap = min(MIN_THRESHOLD_GAP, (space.upper[1] - space.lower[0]) / 2)
        lower = trial.suggest_float("threshold.lower", space.lower[0], min(space.lower[1], space.upper[1] - gap))
        upper_low = max(space.upper[0], lower + gap)
        params["lower"] = lower
        params["upper"] = trial.suggest_float("threshold.upper", upper_low, space.upper[1])
        if len(space.below) > 1:
            params["below"] = trial.suggest_categorical("threshold.below", list(space.below))
        else:
            params["below"] = space.below[0]
        if len(space.above) > 1:
            params["above"] = trial.suggest_categorical("threshold.above", list(space.above))
        else:
            params["above"] = space.above[0]
        params["cooldown"] = _int_param(trial, "threshold.cooldown", space.cooldown)
    elif kind == "linear":
        params["lam"] = trial.suggest_float("linear.lam", *space.lam)
        if space.alpha0 is not None:
            low, high = get_family(params["base"]).alpha_range  # type: ignore[misc]
            a_low, a_high = max(space.alpha0[0], low), min(space.alpha0[1], high)
            if a_low < a_high:
                params["alpha0"] = trial.suggest_float("linear.alpha0", a_low, a_high)
    elif kind not in ("fixed", "learned"):
        # A user's own registered strategy: the common parameters only; its own keep their defaults.
        allowed = get_strategy_class(kind).param_names()
        params = {k: v for k, v in params.items() if k in allowed}

    train = spec.train
    changes: dict[str, Any] = {}
    if space.lr is not None:
        changes["lr"] = trial.suggest_float("lr", *space.lr, log=True)
    if space.width is not None:
        width = trial.suggest_int("width", *space.width)
        changes["hidden"] = tuple(width for _ in train.hidden) or (width,)
    if changes:
        train = dataclasses.replace(train, **changes)
    return {"name": kind, "params": params}, train
