"""Which signal a strategy reads: its ``signal`` parameter names one of the registry's signals.

There is one registry (``_base``): a signal registered with ``dynsearch.register_signal`` is a valid
``signal`` of every strategy and in study files, with no edit anywhere else. This module gives the
strategy side its two questions: the signal class a name stands for, and the scope it forces.

Example:
    >>> get_signal("target").per_network
    True
    >>> implied_scope("target"), implied_scope("io")
    ('global', None)
"""

from __future__ import annotations

from ._base import Signal, get_signal_class

__all__ = ["get_signal", "implied_scope"]

#: The signal class registered under a name (unknown names list the registered ones).
get_signal = get_signal_class


def implied_scope(name: str) -> str | None:
    """The scope a signal forces: ``global`` for a per-network signal (target, data), else None."""
    signal: type[Signal] = get_signal_class(name)
    return "global" if signal.per_network else None
