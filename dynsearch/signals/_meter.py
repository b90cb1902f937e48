"""One signal's running statistics at one site (or one network), as the sites and the trainer keep them.

A ``SignalMeter`` holds a signal and its state (tensors on the device, see ``_stats``). ``update``
adds a batch with no host sync; ``compute`` reads the value once per adjustment (one host sync);
``reset`` starts afresh after an adjustment. It offers what ``dynsearch.adjustment.adjust_sites`` reads
of a site's statistics (``compute``, ``reset``, ``pooled``), so every signal drives a strategy the
same way.

Example:
    >>> import torch
    >>> from dynsearch.signals import SignalMeter, make_signal
    >>> meter = SignalMeter(make_signal("dead"))
    >>> z = torch.tensor([[-1.0, 2.0], [3.0, -4.0]])
    >>> meter.update(z, torch.relu(z), family="relu", alpha=0.0)
    >>> meter.compute().r
    0.5
"""

from __future__ import annotations

from typing import Any, Iterable

from torch import Tensor

from ._base import Signal
from ._pearson import PearsonResult
from ._stats import State, reset_state

__all__ = ["SignalMeter"]


class SignalMeter:
    """Streaming statistics of ``signal`` for one model (``members`` False) or a packed engine's members."""

    def __init__(self, signal: Signal, *, members: bool = False) -> None:
        self.signal = signal
        self.members = members
        self.state: State | None = None

    @property
    def count(self) -> int:
        """Elements seen since the last reset (of member 0; one host sync)."""
        return 0 if self.state is None else int(self.state["n"][0].sum())

    def update(self, a: Tensor, b: Tensor, **kw: Any) -> None:
        """Add one batch of the signal's source pair (see ``Signal.update``); no host sync."""
        self.state = self.signal.update(self.state, a, b, members=self.members, **kw)

    def compute(self, member: int = 0) -> PearsonResult:
        """The value since the last reset, as ``(r, n, degenerate)`` (``r`` is the signal's value)."""
        if self.state is None:
            return PearsonResult(0.0, 0, True)
        value, n, degenerate = self.signal.value(self.state).item(member)
        return PearsonResult(value, n, degenerate)

    def reset(self) -> None:
        """Forget what was seen (a Pearson state keeps its shift: later batches are centred the same way)."""
        if self.state is not None:
            self.state = reset_state(self.state)

    @staticmethod
    def pooled(meters: Iterable[SignalMeter]) -> PearsonResult:
        """One value over the units of several sites (a global scope)."""
        meters = list(meters)
        states = [m.state for m in meters if m.state is not None]
        if not states:
            return PearsonResult(0.0, 0, True)
        value, n, degenerate = meters[0].signal.value(states).item()
        return PearsonResult(value, n, degenerate)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SignalMeter({self.signal!r})"
