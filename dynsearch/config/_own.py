"""A study's own model and loop: ``[model] factory`` with ``[model.params]``, ``[search.model]`` and ``objective``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from ..factories import FactoryError, check_params, model_factory
from ..fit import resolve_fit
from ..train_config import TrainConfig
from ._errors import Checker, got, join_key, show

__all__ = ["parse_own", "OWN_MODEL_KEYS"]

OWN_MODEL_KEYS = ("factory", "params")


def _param_value(c: Checker, key: str, value: Any) -> Any:
    """A factory parameter: a JSON-safe scalar or a list of them (stored with the study)."""
    if isinstance(value, list):
        return [_param_value(c, join_key(key, i), v) for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise c.fail(key, f"expected a finite number, got {show(value)}")
    if not isinstance(value, (str, int, float, bool)):
        raise c.fail(key, f"a factory parameter must be a string, number, boolean or an array of them, {got(value)}")
    return value


def _ranges(c: Checker, value: Any) -> tuple[tuple[str, tuple[Any, Any]], ...]:
    """``[search.model]``: each searched factory parameter with its int or float ``[low, high]``."""
    table = c.table("search.model", value)
    out: list[tuple[str, tuple[Any, Any]]] = []
    for name, bounds in table.items():
        key = join_key("search.model", name)
        if isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                  for v in bounds):  # fmt: skip
            out.append((str(name), c.int_range(key, bounds, 0)))
        else:
            out.append((str(name), c.float_range(key, bounds)))
    return tuple(out)


def parse_own(c: Checker, data: Mapping[str, Any], train: TrainConfig) -> tuple[TrainConfig, tuple[Any, ...]]:
    """The training settings with the factory, its parameters and the objective; the searched model ranges.

    The factory must accept every parameter given or searched (checked with ``inspect.signature`` now, not
    after hours of search); the objective must import and be callable.
    """
    model = data.get("model", {}) if isinstance(data.get("model", {}), Mapping) else {}
    search = data.get("search", {}) if isinstance(data.get("search", {}), Mapping) else {}
    factory = c.string("model.factory", model["factory"]).strip() if "factory" in model else ""
    params = {str(k): _param_value(c, join_key("model.params", k), v)
              for k, v in c.table("model.params", model.get("params", {})).items()}  # fmt: skip
    ranges = _ranges(c, search["model"]) if "model" in search else ()
    if (params or ranges) and not factory:
        key = "model.params" if params else "search.model"
        raise c.fail(key, 'needs model.factory (the built-in models take hidden/channels; search "search.width")')
    if factory:
        try:
            model_factory(factory)
            check_params(factory, [*params, *(name for name, _ in ranges)])
        except FactoryError as exc:
            key = "model.factory" if "does not accept" not in str(exc) else "model.params"
            raise c.fail(key, str(exc)) from None
    fit = c.string("objective", data["objective"]).strip() if "objective" in data else ""
    if fit:
        try:
            resolve_fit(fit)
        except ValueError as exc:
            raise c.fail("objective", str(exc)) from None
    return dataclasses.replace(train, factory=factory, model_params=params, fit=fit), ranges
