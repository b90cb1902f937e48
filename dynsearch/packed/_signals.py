"""The signals a pack measures besides io and target pooled: one ``SignalMeter`` per site and signal.

A meter holds the statistics of every member (``members=True``: states shaped ``(K, U, ...)``),
updated once per measured batch with no host sync, whatever the members read: a member that reads
another signal only leaves its row unread. Each member's ``MemberSite`` gets a ``MemberMeter``, its
row of the meter, which ``adjust_sites`` reads and resets like a site's own ``SignalMeter``, so the
decisions are the trainer's own. Signals that need the site's family evaluate it per family group
of members (each at its own α); ``gradient`` registers a hook on the site's input z.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ..signal import PearsonResult
from ..signals import Signal, SignalMeter
from ..signals._stats import reset_state

__all__ = ["MemberMeter", "PackSignals"]

Tap = Callable[[Tensor, Tensor], None]


class MemberMeter:
    """One member's row of a pack's meter, shaped like a site's ``SignalMeter`` for ``adjust_sites``."""

    def __init__(self, meter: SignalMeter, row: int) -> None:
        self.meter, self.row = meter, row
        self.reset_requested = False

    @property
    def signal(self) -> Signal:
        return self.meter.signal

    def compute(self) -> PearsonResult:
        return self.meter.compute(member=self.row)

    def reset(self) -> None:
        self.reset_requested = True  # the pack zeroes the row after the adjustment

    @staticmethod
    def pooled(views: Sequence[MemberMeter]) -> PearsonResult:
        """One member's value over several sites (a global scope)."""
        states = [{k: v[view.row : view.row + 1] for k, v in view.meter.state.items()}
                  for view in views if view.meter.state is not None]  # fmt: skip
        if not states:
            return PearsonResult(0.0, 0, True)
        return PearsonResult(*views[0].signal.value(states).item())


def _rows_update(meter: SignalMeter, rows: Tensor, a: Tensor, b: Tensor, **kw: Any) -> None:
    """Update only the members ``rows`` of a meter (their family differs from the others')."""
    assert meter.state is not None
    sub = {k: v.index_select(0, rows) for k, v in meter.state.items()}
    new = meter.signal.update(sub, a.index_select(0, rows), b.index_select(0, rows), members=True, **kw)
    meter.state = {k: v.index_copy(0, rows, new[k]) for k, v in meter.state.items()}


class PackSignals:
    """The meters of one pack: per site, one per signal its members read; per network, likewise."""

    def __init__(self, views: Sequence[Sequence[Any]], signals: Sequence[Signal | None], device: torch.device) -> None:
        """``views[row][site]`` are the members' ``MemberSite``; ``signals[row]`` the signal each reads
        through a meter (None: none, or io/target pooled, which the pack's sums measure)."""
        n_sites = len(views[0]) if views else 0
        self.device = device
        self.sites: list[dict[Signal, SignalMeter]] = [{} for _ in range(n_sites)]
        self.network: dict[Signal, SignalMeter] = {}
        self.network_views: list[MemberMeter | None] = []
        for row, (row_views, signal) in enumerate(zip(views, signals)):
            self.network_views.append(None)
            if signal is None:
                continue
            if signal.per_network:
                meter = self.network.setdefault(signal, SignalMeter(signal, members=True))
                self.network_views[row] = MemberMeter(meter, row)
                continue
            for s, view in enumerate(row_views):
                view.signal_meter = MemberMeter(self.sites[s].setdefault(signal, SignalMeter(signal, members=True)), row)
        self.family_rows: list[list[tuple[str, Tensor]]] = [[] for _ in range(n_sites)]

    @property
    def active(self) -> bool:
        return bool(self.network) or any(self.sites)

    def plan(self, views: Sequence[Sequence[Any]]) -> None:
        """After each adjustment: the members of each family per site (for signals that need f′)."""
        for s in range(len(self.sites)):
            families = [row[s].family for row in views]
            self.family_rows[s] = [
                (name, torch.tensor([i for i, f in enumerate(families) if f == name], device=self.device))
                for name in dict.fromkeys(families)
            ]

    # --- per batch -------------------------------------------------------------------------------

    def site_taps(self, alphas: Sequence[Tensor]) -> list[Tap | None] | None:
        """One callback per site, ``tap(z, f(z))`` (members first), or None when no site is measured."""
        if not any(self.sites):
            return None
        return [self._tap(s, alphas[s]) if meters else None for s, meters in enumerate(self.sites)]

    def _tap(self, s: int, alpha: Tensor) -> Tap:
        def tap(z: Tensor, y: Tensor) -> None:
            with torch.no_grad():
                for meter in self.sites[s].values():
                    if meter.signal.source == "site_gradient":
                        if z.requires_grad:
                            z.register_hook(_gradient_hook(meter, z.detach()))
                    elif meter.signal.needs_family:
                        self._by_family(meter, s, z.detach(), y.detach(), alpha.detach())
                    else:
                        meter.update(z.detach(), y.detach())

        return tap

    def _by_family(self, meter: SignalMeter, s: int, z: Tensor, y: Tensor, alpha: Tensor) -> None:
        view = alpha.view(-1, *([1] * (z.dim() - 1)))
        groups = self.family_rows[s]
        if meter.state is None:  # shaped by a first batch, then emptied: the groups fill it
            meter.update(z, y, family=groups[0][0], alpha=view)
            meter.state = reset_state(meter.state)  # type: ignore[arg-type]
        if len(groups) == 1:
            meter.update(z, y, family=groups[0][0], alpha=view)
            return
        for family, rows in groups:
            _rows_update(meter, rows, z, y, family=family, alpha=view.index_select(0, rows))

    def observe_network(self, output: Tensor, target: Tensor) -> None:
        for meter in self.network.values():
            if meter.signal.source == "network":
                meter.update(output.detach(), target)

    def observe_input(self, x: Tensor, target: Tensor) -> None:
        for meter in self.network.values():
            if meter.signal.source == "input":
                meter.update(x, target)

    # --- per epoch -------------------------------------------------------------------------------

    def _views(self, views: Sequence[Sequence[Any]]) -> list[list[MemberMeter]]:
        """Every ``MemberMeter`` of the pack, grouped by the meter it reads."""
        out: dict[int, list[MemberMeter]] = {}
        for row in views:
            for view in row:
                meter = getattr(view, "signal_meter", None)
                if isinstance(meter, MemberMeter):
                    out.setdefault(id(meter.meter), []).append(meter)
        for meter in self.network_views:
            if meter is not None:
                out.setdefault(id(meter.meter), []).append(meter)
        return list(out.values())

    @torch.no_grad()
    def apply_resets(self, views: Sequence[Sequence[Any]]) -> None:
        """Zero the rows ``adjust_sites`` reset (a Pearson state keeps its shift, as ``SignalMeter.reset``)."""
        for group in self._views(views):
            meter = group[0].meter
            reset = [v.row for v in group if v.reset_requested]
            for v in group:
                v.reset_requested = False
            if not reset or meter.state is None:
                continue
            mask = torch.zeros(meter.state["n"].shape[0], dtype=torch.bool, device=self.device)
            mask[torch.tensor(reset, device=self.device)] = True
            meter.state = {
                k: t if k == "shift" else torch.where(mask.view(-1, *([1] * (t.dim() - 1))), torch.zeros_like(t), t)
                for k, t in meter.state.items()
            }

    @torch.no_grad()
    def compact(self, kept: Sequence[int], views: Sequence[Sequence[Any]]) -> None:
        """Keep only the rows ``kept`` (positions before compaction); ``views`` are already compacted."""
        keep = torch.tensor(list(kept), dtype=torch.long, device=self.device)
        for meter in [*(m for site in self.sites for m in site.values()), *self.network.values()]:
            if meter.state is not None:
                meter.state = {k: v.index_select(0, keep) for k, v in meter.state.items()}
        self.network_views = [self.network_views[i] for i in kept]
        for pos, row in enumerate(views):
            for view in row:
                if isinstance(getattr(view, "signal_meter", None), MemberMeter):
                    view.signal_meter.row = pos
            if self.network_views[pos] is not None:
                self.network_views[pos].row = pos  # type: ignore[union-attr]
        self.plan(views)


def _gradient_hook(meter: SignalMeter, z: Tensor) -> Callable[[Tensor], None]:
    def hook(grad: Tensor) -> None:
        meter.update(z, grad)

    return hook
