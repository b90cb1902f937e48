"""Signals by name: what a strategy's ``signal`` parameter may be, and what each one implies.

A signal declares itself once with ``declare_signal``; strategy validation, the study-file checks
and the arm layout read these declarations, so a new signal needs no edit anywhere else.

Example:
    >>> get_signal("target").per_network
    True
    >>> signal_names()[:2]
    ['io', 'target']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SignalInfo", "declare_signal", "get_signal", "signal_names"]


@dataclass(frozen=True)
class SignalInfo:
    """A declared signal.

    Attributes:
        name: the value of a strategy's ``signal`` parameter.
        per_network: one value for the whole network (not per site), so it acts with global scope.
        description: one line for docs and messages.
    """

    name: str
    per_network: bool = False
    description: str = ""

    @property
    def implied_scope(self) -> str | None:
        """The scope this signal forces, or None when each site may use its own value."""
        return "global" if self.per_network else None


_SIGNALS: dict[str, SignalInfo] = {}


def declare_signal(name: str, *, per_network: bool = False, description: str = "") -> SignalInfo:
    """Declare a signal; re-declaring a name with different settings is an error."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A signal name must be a non-empty string. Got {name!r} instead.")
    info = SignalInfo(name, per_network, description)
    existing = _SIGNALS.get(name)
    if existing is not None and existing != info:
        raise ValueError(f"A signal named {name!r} is already declared ({existing}).")
    _SIGNALS[name] = info
    return info


def signal_names() -> list[str]:
    """Declared signal names, in declaration order."""
    return list(_SIGNALS)


def get_signal(name: str) -> SignalInfo:
    """The declaration of ``name``; an unknown name lists the declared ones."""
    if name not in _SIGNALS:
        raise ValueError(f"Unknown signal {name!r}; declared signals: {', '.join(_SIGNALS)}.")
    return _SIGNALS[name]


declare_signal("io", description="r between a site's input and output")
declare_signal("target", per_network=True, description="r between the network's output and the target")
