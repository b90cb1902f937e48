"""The signals a strategy's ``signal`` parameter may name: the registry of ``dynsearch.signals``.

There is one registry: a signal registered with ``dynsearch.register_signal`` is a valid ``signal``
of every strategy and in study files, with no edit anywhere else. This module re-exports it for
the strategy side.

Example:
    >>> get_signal("target").per_network
    True
    >>> signal_names()[:2]
    ['io', 'target']
"""

from __future__ import annotations

from ..signals import Signal, get_signal_class, register_signal, signal_names

__all__ = ["get_signal", "signal_names", "register_signal", "implied_scope"]

#: The signal class registered under a name (unknown names list the registered ones).
get_signal = get_signal_class


def implied_scope(name: str) -> str | None:
    """The scope a signal forces: ``global`` for a per-network signal (target, data), else None."""
    signal: type[Signal] = get_signal_class(name)
    return "global" if signal.per_network else None
