"""What ``train(record_signals=...)`` records, for the members of a pack that ask for it.

A ``SignalRecorder`` alone measures each of its signals at every activation on every training batch,
whatever the strategy reads, and restarts at each epoch's end. ``PackRecorder`` does the same over the
pack's rows: per site (and per network) one meter per recorded signal, over the rows of the members
that record it, fed on every training batch by the same taps as the strategies' meters. Reading an
epoch is one host copy per meter, not one per member.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..signals import NETWORK, Signal
from ._signals import MeterSet

__all__ = ["PackRecorder"]


class PackRecorder(MeterSet):
    """The recorded signals of a pack: ``signals[row]`` are the signals that row's member records."""

    def __init__(self, n_sites: int, signals: Sequence[Sequence[Signal]], device: torch.device) -> None:
        super().__init__(n_sites, device)
        self.n_rows = len(signals)
        for row, row_signals in enumerate(signals):
            names = [s.name for s in row_signals]
            if len(set(names)) != len(names):
                raise ValueError(f"record_signals records each signal once; got {names}.")
            for signal in row_signals:
                if signal.per_network:
                    self._join(self.network, signal, row)
                    continue
                for site in self.sites:
                    self._join(site, signal, row)

    @torch.no_grad()
    def epoch_values(self, site_names: Sequence[str]) -> list[dict[str, dict[str, float]]]:
        """Per row, ``{site: {signal: value}}`` of this epoch (network signals under ``NETWORK``), as
        ``SignalRecorder.epoch_values`` gives a run alone; then every meter starts afresh, as it does."""
        out: list[dict[str, dict[str, float]]] = [{} for _ in range(self.n_rows)]
        keyed = [*zip(site_names, self.sites), (NETWORK, self.network)]
        for key, meters in keyed:
            for signal, meter in meters.items():
                state = meter.meter.state
                if state is None or not meter.rows:
                    continue
                values = signal.value(state).value.tolist()
                for local, row in enumerate(meter.rows):
                    out[row].setdefault(key, {})[signal.name] = float(values[local])
                meter.meter.state = None  # the recorder clears its states: the next batch sets a new shift
        return out

    def compact(self, kept: Sequence[int]) -> None:
        """Keep only the rows ``kept`` (positions before compaction)."""
        self._compact_rows(kept)
        self.n_rows = len(kept)
