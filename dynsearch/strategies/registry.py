"""Strategies by name: a decorator to register them, and config round trips."""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, TypeVar

from ..plugins import load_entry_point_plugins
from .base import ROLES, Strategy

__all__ = ["register_strategy", "get_strategy_class", "strategy_names", "make_strategy", "strategy_from_config"]

_REGISTRY: dict[str, type[Strategy]] = {}

S = TypeVar("S", bound=type[Strategy])


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator: register a ``Strategy`` subclass under ``name``.

    Example:
        >>> from dynsearch.strategies import Strategy, register_strategy
        >>> @register_strategy("keep_doc")
        ... class Keep(Strategy):
        ...     def decide(self, r, state):
        ...         return state
        >>> "keep_doc" in strategy_names()
        True
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A strategy name must be a non-empty string. Got {name!r} instead.")

    def decorate(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"register_strategy({name!r}) decorates Strategy subclasses, not {cls!r}.")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"A strategy named {name!r} is already registered ({existing.__qualname__}).")
        _check_declarations(name, cls)
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _check_declarations(name: str, cls: type[Strategy]) -> None:
    """A declared parameter must be a constructor parameter; an arm axis must be a declared choice."""
    accepted = cls.param_names()
    declared = {p.name: p for p in cls.declared_params()}
    for p in declared.values():
        if p.name not in accepted:
            raise TypeError(
                f"Strategy {name!r} declares a search parameter {p.name!r} that its __init__ does not take; "
                f"parameters: {', '.join(accepted)}."
            )
        setting = p.default_setting()
        if p.kind != "choice" and setting is not None and not all(math.isfinite(v) for v in setting):
            raise TypeError(f"Strategy {name!r} searches {p.name!r} by default but declares no finite default range.")
    for axis in cls.arm_layout():
        if getattr(declared.get(axis), "kind", None) != "choice":
            raise TypeError(f"Strategy {name!r} makes arms by {axis!r}, which is not one of its declared choices.")
    if cls.role not in ROLES:
        raise TypeError(f"Strategy {name!r} has role {cls.role!r}; allowed: {', '.join(ROLES)}.")


def strategy_names() -> list[str]:
    """Registered strategy names, in registration order (installed plugins included)."""
    load_entry_point_plugins()
    return list(_REGISTRY)


def get_strategy_class(name: str) -> type[Strategy]:
    """The class registered under ``name``; an unknown name lists the valid ones."""
    if name not in _REGISTRY:
        load_entry_point_plugins()
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown strategy {name!r}; registered strategies: {', '.join(_REGISTRY)}. A strategy of your own "
            "must be imported first: name its module in the study file's plugins, or install it under the "
            "'dynsearch.plugins' entry point."
        )
    return _REGISTRY[name]


def make_strategy(name: str, **params: Any) -> Strategy:
    """Build a registered strategy from keyword parameters, with a clear error for unknown ones."""
    cls = get_strategy_class(name)
    allowed = cls.param_names()
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise ValueError(
            f"Unknown parameter {unknown[0]!r} for strategy {name!r}; allowed: {', '.join(allowed)}."
        )
    return cls(**params)


def strategy_from_config(config: Mapping[str, Any] | Strategy) -> Strategy:
    """Inverse of ``Strategy.to_config()``: ``{"name": ..., "params": {...}}`` → strategy.

    Example:
        >>> from dynsearch.strategies import ThresholdSwitch
        >>> s = ThresholdSwitch(lower=-0.3, upper=0.6)
        >>> strategy_from_config(s.to_config()) == s
        True
    """
    if isinstance(config, Strategy):
        return config
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(f"A strategy config must be a mapping with 'name' and 'params'. Got {config!r} instead.")
    params = config.get("params", {})
    if not isinstance(params, Mapping):
        raise ValueError(f"A strategy config's 'params' must be a mapping. Got {params!r} instead.")
    extra = set(config) - {"name", "params"}
    if extra:
        raise ValueError(f"Unknown key {sorted(extra)[0]!r} in a strategy config; allowed: name, params.")
    return make_strategy(str(config["name"]), **dict(params))
