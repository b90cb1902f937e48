"""The signals a pack measures besides io and target pooled: one ``SignalMeter`` per site and signal.

A meter holds the statistics of the members that read its signal (``members=True``: states shaped
``(M, U, ...)``, one row per such member, selected from the pack's rows), updated once per measured
batch with no host sync. Each member's ``MemberSite`` gets a ``MemberMeter``, its row of the meter, which ``adjust_sites`` reads and resets like a site's own ``SignalMeter``, so the
decisions are the trainer's own. Signals that need the site's family evaluate it per family group
of members (each at its own α); ``gradient`` registers a hook on the site's input z.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ..signals import PearsonResult, Signal, SignalMeter
from ..signals._stats import reset_state

__all__ = ["MemberMeter", "MeterSet", "PackSignals"]

Tap = Callable[[Tensor, Tensor], None]


class PackMeter:
    """A ``SignalMeter`` over the pack rows ``rows`` (positions of the members that read its signal)."""

    def __init__(self, signal: Signal, device: torch.device) -> None:
        self.meter = SignalMeter(signal, members=True)
        self.rows: list[int] = []
        self.device = device
        self.index: Tensor | None = None  # None: the meter covers every row of the pack, in order
        self.groups: list[tuple[str, Tensor | None]] = []  # (family, local rows or None for all) for f'

    @property
    def signal(self) -> Signal:
        return self.meter.signal

    def select(self, t: Tensor) -> Tensor:
        return t if self.index is None else t.index_select(0, self.index)

    def plan(self, families: Sequence[str], n_rows: int) -> None:
        """The member rows it reads and, per family, its local rows (families of this meter's rows)."""
        full = self.rows == list(range(n_rows))
        self.index = None if full else torch.tensor(self.rows, dtype=torch.long, device=self.device)
        mine = [families[r] for r in self.rows]
        names = list(dict.fromkeys(mine))
        self.groups = [(names[0], None)] if len(names) == 1 else [
            (name, torch.tensor([i for i, f in enumerate(mine) if f == name], device=self.device)) for name in names
        ]


class MemberMeter:
    """One member's row of a pack's meter, shaped like a site's ``SignalMeter`` for ``adjust_sites``."""

    def __init__(self, meter: PackMeter, row: int) -> None:
        self.meter, self.row = meter, row  # row: the member's index among the meter's rows
        self.reset_requested = False

    @property
    def signal(self) -> Signal:
        return self.meter.signal

    def compute(self) -> PearsonResult:
        return self.meter.meter.compute(member=self.row)

    def reset(self) -> None:
        self.reset_requested = True  # the pack zeroes the row after the adjustment

    @staticmethod
    def pooled(views: Sequence[MemberMeter]) -> PearsonResult:
        """One member's value over several sites (a global scope)."""
        states = [{k: v[view.row : view.row + 1] for k, v in view.meter.meter.state.items()}
                  for view in views if view.meter.meter.state is not None]  # fmt: skip
        if not states:
            return PearsonResult(0.0, 0, True)
        return PearsonResult(*views[0].signal.value(states).item())


def _rows_update(meter: SignalMeter, rows: Tensor, a: Tensor, b: Tensor, **kw: Any) -> None:
    """Update only the rows ``rows`` of a meter (their family differs from the others')."""
    assert meter.state is not None
    sub = {k: v.index_select(0, rows) for k, v in meter.state.items()}
    new = meter.signal.update(sub, a.index_select(0, rows), b.index_select(0, rows), members=True, **kw)
    meter.state = {k: v.index_copy(0, rows, new[k]) for k, v in meter.state.items()}


class MeterSet:
    """Meters over pack rows, per site and per network: one per signal, over the rows that read it.

    The per-batch updates (site taps, network and input observations), the per-family plans and the
    compaction are shared by the meters strategies read (``PackSignals``) and those a recording run
    keeps (``PackRecorder``).
    """

    def __init__(self, n_sites: int, device: torch.device) -> None:
        self.device = device
        self.sites: list[dict[Signal, PackMeter]] = [{} for _ in range(n_sites)]
        self.network: dict[Signal, PackMeter] = {}

    def _join(self, meters: dict[Signal, PackMeter], signal: Signal, row: int) -> MemberMeter:
        meter = meters.setdefault(signal, PackMeter(signal, self.device))
        meter.rows.append(row)
        return MemberMeter(meter, len(meter.rows) - 1)

    @property
    def active(self) -> bool:
        return bool(self.network) or any(self.sites)

    def _meters(self) -> list[PackMeter]:
        return [*(m for site in self.sites for m in site.values()), *self.network.values()]

    def plan(self, views: Sequence[Sequence[Any]]) -> None:
        """After each adjustment: each meter's rows and, for signals that need f′, its members per family."""
        for s, site in enumerate(self.sites):
            families = [row[s].family for row in views]
            for meter in site.values():
                meter.plan(families, len(views))
        for meter in self.network.values():
            meter.plan(["identity"] * len(views), len(views))

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
                    if not meter.rows:
                        continue  # its members all left the pack
                    if meter.signal.source == "site_gradient":
                        if z.requires_grad:
                            z.register_hook(_gradient_hook(meter, meter.select(z.detach())))
                    elif meter.signal.needs_family:
                        _by_family(meter, meter.select(z.detach()), meter.select(y.detach()), meter.select(alpha.detach()))
                    else:
                        meter.meter.update(meter.select(z.detach()), meter.select(y.detach()))

        return tap

    def observe_network(self, output: Tensor, target: Tensor) -> None:
        for meter in self.network.values():
            if meter.rows and meter.signal.source == "network":
                meter.meter.update(meter.select(output.detach()), meter.select(target))

    def observe_input(self, x: Tensor, target: Tensor) -> None:
        for meter in self.network.values():
            if meter.rows and meter.signal.source == "input":
                meter.meter.update(meter.select(x), meter.select(target))

    # --- compaction ------------------------------------------------------------------------------

    @torch.no_grad()
    def _compact_rows(self, kept: Sequence[int]) -> dict[int, dict[int, int]]:
        """Keep only the rows ``kept`` (positions before compaction) in every meter; per meter (by id),
        its old local row -> new local row."""
        position = {old: new for new, old in enumerate(kept)}
        local: dict[int, dict[int, int]] = {}
        for meter in self._meters():
            keep = [i for i, row in enumerate(meter.rows) if row in position]
            local[id(meter)] = {old: new for new, old in enumerate(keep)}
            meter.rows = [position[meter.rows[i]] for i in keep]
            if meter.meter.state is not None:
                index = torch.tensor(keep, dtype=torch.long, device=self.device)
                meter.meter.state = {k: v.index_select(0, index) for k, v in meter.meter.state.items()}
        return local


class PackSignals(MeterSet):
    """The meters the pack's strategies read: per site, one per signal its members read (over just those
    members' rows); per network, likewise."""

    def __init__(self, views: Sequence[Sequence[Any]], signals: Sequence[Signal | None], device: torch.device) -> None:
        """``views[row][site]`` are the members' ``MemberSite``; ``signals[row]`` the signal each reads
        through a meter (None: none, or io/target pooled, which the pack's sums measure)."""
        super().__init__(len(views[0]) if views else 0, device)
        self.network_views: list[MemberMeter | None] = []
        for row, (row_views, signal) in enumerate(zip(views, signals)):
            self.network_views.append(None)
            if signal is None:
                continue
            if signal.per_network:
                self.network_views[row] = self._join(self.network, signal, row)
                continue
            for s, view in enumerate(row_views):
                view.signal_meter = self._join(self.sites[s], signal, row)

    # --- per epoch -------------------------------------------------------------------------------

    def _member_meters(self, views: Sequence[Sequence[Any]]) -> list[MemberMeter]:
        found = [getattr(view, "signal_meter", None) for row in views for view in row]
        found += self.network_views
        return [m for m in found if isinstance(m, MemberMeter)]

    @torch.no_grad()
    def apply_resets(self, views: Sequence[Sequence[Any]]) -> None:
        """Zero the rows ``adjust_sites`` reset (a Pearson state keeps its shift, as ``SignalMeter.reset``)."""
        reset: dict[int, list[int]] = {}
        for m in self._member_meters(views):
            if m.reset_requested:
                reset.setdefault(id(m.meter), []).append(m.row)
                m.reset_requested = False
        for meter in self._meters():
            state = meter.meter.state
            if id(meter) not in reset or state is None:
                continue
            mask = torch.zeros(state["n"].shape[0], dtype=torch.bool, device=self.device)
            mask[torch.tensor(reset[id(meter)], device=self.device)] = True
            meter.meter.state = {
                k: t if k == "shift" else torch.where(mask.view(-1, *([1] * (t.dim() - 1))), torch.zeros_like(t), t)
                for k, t in state.items()
            }

    def compact(self, kept: Sequence[int], views: Sequence[Sequence[Any]]) -> None:
        """Keep only the rows ``kept`` (positions before compaction); ``views`` are already compacted."""
        local = self._compact_rows(kept)
        self.network_views = [self.network_views[i] for i in kept]
        for m in self._member_meters(views):
            m.row = local[id(m.meter)][m.row]
        self.plan(views)


def _by_family(meter: PackMeter, z: Tensor, y: Tensor, alpha: Tensor) -> None:
    """Update a meter whose signal evaluates f′: per family group of its members, each at its own α."""
    view = alpha.view(-1, *([1] * (z.dim() - 1)))
    signal_meter, groups = meter.meter, meter.groups
    if signal_meter.state is None:  # shaped by a first batch, then emptied: the groups fill it
        signal_meter.update(z, y, family=groups[0][0], alpha=view)
        signal_meter.state = reset_state(signal_meter.state)  # type: ignore[arg-type]
    for family, rows in groups:
        if rows is None:
            signal_meter.update(z, y, family=family, alpha=view)
        else:
            _rows_update(signal_meter, rows, z, y, family=family, alpha=view.index_select(0, rows))


def _gradient_hook(meter: PackMeter, z: Tensor) -> Callable[[Tensor], None]:
    def hook(grad: Tensor) -> None:
        meter.meter.update(z, meter.select(grad))

    return hook
