"""Adjustment strategies: a small protocol, a registry by name, and the built-in rules."""

from ..signals import get_signal, implied_scope, signal_names
from .arms import Arm, strategy_arms
from .base import COMMON_PARAMS, ROLES, SCOPES, SIGNALS, SiteState, Strategy
from .builtin import FixedActivation, LearnedAlpha, LinearUpdate, ThresholdSwitch
from .controls import FinalFixed, ScheduledSwitch, ShuffledSignal
from .params import Choice, Family, Float, Int, Param
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
    "ShuffledSignal",
    "register_strategy",
    "get_strategy_class",
    "make_strategy",
    "strategy_from_config",
    "strategy_names",
    "Arm",
    "strategy_arms",
    "COMMON_PARAMS",
    "Param",
    "Float",
    "Int",
    "Choice",
    "Family",
    "get_signal",
    "implied_scope",
    "signal_names",
]
