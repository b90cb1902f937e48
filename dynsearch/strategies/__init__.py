"""Adjustment strategies: a small protocol, a registry by name, and the built-in rules."""

from .base import ROLES, SCOPES, SIGNALS, SiteState, Strategy
from .builtin import FixedActivation, LearnedAlpha, LinearUpdate, ThresholdSwitch
from .controls import FinalFixed, ScheduledSwitch
from .registry import get_strategy_class, make_strategy, register_strategy, strategy_from_config, strategy_names

__all__ = [
    "Strategy",
    "SiteState",
    "SCOPES",
    "SIGNALS",
    "ROLES",
    "FixedActivation",
    "ThresholdSwitch",
    "LinearUpdate",
    "LearnedAlpha",
    "ScheduledSwitch",
    "FinalFixed",
    "register_strategy",
    "get_strategy_class",
    "make_strategy",
    "strategy_from_config",
    "strategy_names",
]
