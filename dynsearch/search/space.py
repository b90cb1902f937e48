"""The define-by-run search space: from a trial and the study's settings to a strategy and training.

Every trial belongs to one *arm* (``StudySpec.arm(label)``), fixed when its slot was queued, so
every arm gets the same budget. The arm fixes some parameters; the others are sampled from the
strategy's own declarations (``Strategy.declared_params()``) in declaration order, each named
``<strategy>.<parameter>`` so Optuna models every strategy's parameters on its own trials. A
declaration's rules narrow a range from values drawn before it (a threshold pair is drawn lower,
then upper above it), and a choice that would contradict the arm (a per-network signal in a
per-layer arm) is never offered. Nothing here knows any strategy by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import optuna

from ..config import StudySpec
from ..config._calibrated import resolve_for_signal
from ..selection import ARM_PARAM
from ..strategies import Arm, get_strategy_class
from ..strategies.params import Choice, Param, Setting
from ..train import TrainConfig

__all__ = ["suggest_plan", "suggest_strategy", "ARM_PARAM", "optuna_name"]

def optuna_name(strategy: str, param: str) -> str:
    """The Optuna parameter name of a strategy's parameter, e.g. ``threshold.lower``."""
    return f"{strategy}.{param}"


def suggest_plan(trial: optuna.Trial, spec: StudySpec) -> tuple[dict[str, Any], TrainConfig]:
    """Sample (or read back, for a queued or retried trial) the trial's strategy config and training."""
    label = trial.suggest_categorical(ARM_PARAM, list(spec.arms))
    arm = spec.arm(label)
    params = suggest_strategy(trial, arm, spec.search.settings_for(arm.strategy, arm.get("signal")))
    train = spec.train
    changes: dict[str, Any] = {}
    if spec.search.lr is not None:
        changes["lr"] = trial.suggest_float("lr", *spec.search.lr, log=True)
    if spec.search.width is not None:
        width = trial.suggest_int("width", *spec.search.width)
        changes["hidden"] = tuple(width for _ in train.hidden) or (width,)
    if spec.search.model:  # [search.model]: the factory's own parameters, each under "model.<name>"
        model_params = dict(train.model_params)
        for name, (low, high) in spec.search.model:
            model_params[name] = (trial.suggest_int(f"model.{name}", low, high) if isinstance(low, int)
                            else trial.suggest_float(f"model.{name}", low, high))  # fmt: skip
        changes["model_params"] = model_params
    if changes:
        train = dataclasses.replace(train, **changes)
    return {"name": arm.strategy, "params": params}, train


def suggest_strategy(trial: optuna.Trial, arm: Arm, settings: Mapping[str, Setting]) -> dict[str, Any]:
    """The strategy parameters of one trial of ``arm``: its fixed values plus the sampled ones.

    A declared parameter without a setting keeps its constructor default (it is left out).
    """
    declared = get_strategy_class(arm.strategy).declared_params()
    values: dict[str, Any] = dict(arm.fixed)
    settings = resolve_for_signal(settings, values.get("signal"))  # "calibrated": the range of the arm's signal
    for p in declared:
        if p.name in values or settings.get(p.name) is None:
            continue
        value = _suggest(trial, optuna_name(arm.strategy, p.name), p, values, settings)
        if value is not _SKIP:
            values[p.name] = value
    order = [p.name for p in declared]
    return {k: values[k] for k in sorted(values, key=lambda k: order.index(k) if k in order else len(order))}


_SKIP = object()


def _suggest(trial: optuna.Trial, name: str, p: Param, values: dict[str, Any], settings: Mapping[str, Setting]) -> Any:
    setting = settings[p.name]
    if isinstance(p, Choice):
        options = [v for v in setting if _consistent(p, v, values)]
        if not options:
            raise ValueError(f"no value of {p.name} ({list(setting)}) fits the arm's fixed values {values}")
        return options[0] if len(options) == 1 else trial.suggest_categorical(name, options)
    low, high = setting
    bounds = getattr(p, "bounds", None)
    if bounds is not None:
        narrowed = bounds(values, settings)
        if narrowed is None:
            return _SKIP
        low, high = narrowed
    if p.kind == "int":
        return int(low) if low == high else trial.suggest_int(name, int(low), int(high), log=p.log)
    return trial.suggest_float(name, float(low), float(high), log=p.log)


def _consistent(p: Choice, value: Any, values: Mapping[str, Any]) -> bool:
    """Whether ``value`` forces nothing that contradicts what is already fixed."""
    if p.implies is None:
        return True
    return all(values.get(k, v) == v for k, v in p.implies(value).items())
