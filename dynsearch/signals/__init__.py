"""Signals strategies read: the Pearson arithmetic, the registered signals, and which one a strategy reads.

One package for one concept: ``_pearson`` holds the streaming, mergeable Pearson statistics a site keeps
(``PearsonStats``), ``_stats`` the same arithmetic per member and unit for the registered signals
(``_base`` the registry, ``_builtin`` the signals that ship), and ``_reads`` the rule of which signal a
strategy's ``signal`` parameter names and the scope it forces.

Each signal declares its range, what it measures and the batches it reads (``Signal.source``), and
keeps per-site statistics as plain dicts of tensors updated by pure functions, per member (a packed
engine's leading dimension) and unit (feature or channel), so the reduction — ``pooled`` or
``unit_mean`` — is chosen when the value is read. Built in: ``io``, ``target``, ``dead``,
``saturation``, ``gradient`` and ``data``; ``register_signal`` adds more.

Example:
    >>> import torch
    >>> from dynsearch.signals import make_signal
    >>> dead = make_signal("dead")
    >>> z = torch.tensor([[-1.0, 2.0], [-3.0, 4.0], [5.0, -6.0]])
    >>> state = dead.update(None, z, torch.relu(z), family="relu")
    >>> dead.value(state).item()
    (0.5, 6, False)
"""

from ._base import (
    SOURCES,
    Signal,
    get_signal_class,
    make_signal,
    register_signal,
    signal_from_config,
    signal_names,
)
from ._builtin import DataSignal, DeadSignal, GradientSignal, IOSignal, SaturationSignal, TargetSignal
from ._derivatives import derivative
from ._meter import SignalMeter
from ._pearson import (
    PearsonMoments,
    PearsonResult,
    PearsonStats,
    first_shift,
    merge_moments,
    moments_from_gram,
    pearson_from_moments,
    shifted_gram,
)
from ._reads import get_signal, implied_scope
from ._recorder import NETWORK, SignalRecorder
from ._stats import (
    REDUCTIONS,
    SignalValue,
    as_members,
    copy_state_,
    pearson_moments,
    pearson_update,
    pearson_value,
    reset_state,
    share_update,
    share_value,
)

__all__ = [
    "PearsonStats",
    "PearsonMoments",
    "PearsonResult",
    "merge_moments",
    "pearson_from_moments",
    "moments_from_gram",
    "shifted_gram",
    "first_shift",
    "get_signal",
    "implied_scope",
    "Signal",
    "SignalValue",
    "SOURCES",
    "REDUCTIONS",
    "register_signal",
    "signal_names",
    "get_signal_class",
    "make_signal",
    "signal_from_config",
    "IOSignal",
    "TargetSignal",
    "DeadSignal",
    "SaturationSignal",
    "GradientSignal",
    "DataSignal",
    "derivative",
    "SignalRecorder",
    "SignalMeter",
    "NETWORK",
    "as_members",
    "copy_state_",
    "pearson_update",
    "pearson_moments",
    "pearson_value",
    "share_update",
    "share_value",
    "reset_state",
]
