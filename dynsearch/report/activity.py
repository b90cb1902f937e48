"""What a strategy actually did while re-training: switches, how far α moved, the share of epochs
with a change and the share of sites ever changed, per run (``measure_activity``) and per arm
(``ArmActivity``), with the plain sentence a report must say when an arm never adjusted.

An arm that never adjusted trained as a fixed activation with its own learning rate; ranking it
among the dynamic strategies without saying so would mislead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..activations import get_family
from ..strategies import strategy_from_config

__all__ = ["measure_activity", "ArmActivity", "summarize_activity", "ALPHA_TOL"]

ALPHA_TOL = 1e-9


def _starts(strategy: dict[str, Any], activation: str, n_sites: int) -> list[tuple[str, float]]:
    """The family and α each of ``n_sites`` sites starts with (before the first adjustment), in site order.

    As ``apply`` does, the strategy's ``start_state`` hook answers for each site position.
    """
    s = strategy_from_config(strategy)
    family = get_family(getattr(s, "base", None) or activation)
    states = [s.start_state(i, family.name, family.alpha_default) for i in range(n_sites)]
    return [(get_family(name).name, float(alpha)) for name, alpha in states]


def _at_bound(family: str, alpha: float) -> bool:
    rng = get_family(family).alpha_range
    return rng is not None and any(abs(alpha - b) <= ALPHA_TOL for b in rng)


def measure_activity(history: Sequence[Any], strategy: dict[str, Any], activation: str = "relu") -> dict[str, Any]:
    """One run's adjustments from its per-epoch site records (``EpochRecord.sites`` or dicts).

    Returns switches (family changes), epochs and epochs with any change, sites and sites ever changed,
    α moved start → end and at most (largest over sites), sites whose final α sits on a bound of its
    family's range, and site 0's start family and α. Each site is measured from its own start (the
    final_fixed control starts sites in different states).
    """
    found = [getattr(e, "sites", None) if not isinstance(e, dict) else e.get("sites") for e in history]
    epochs: list[Any] = [e for e in found if e]
    n_sites = max((len(e) for e in epochs), default=0)
    starts = _starts(strategy, activation, max(n_sites, 1))
    prev = list(starts[:n_sites])
    changed_sites: set[int] = set()
    switches = epochs_changed = 0
    alpha_max = 0.0
    for sites in epochs:
        any_change = False
        for i, rec in enumerate(sites):
            fam, alpha = str(rec["family"]), float(rec["alpha"])
            family0, alpha0 = starts[i]
            if fam != prev[i][0]:
                switches += 1
            if fam != prev[i][0] or abs(alpha - prev[i][1]) > ALPHA_TOL:
                any_change = True
            if fam != family0 or abs(alpha - alpha0) > ALPHA_TOL:
                changed_sites.add(i)
            if math.isfinite(alpha) and fam == family0:  # α of another family means something else
                alpha_max = max(alpha_max, abs(alpha - alpha0))
            prev[i] = (fam, alpha)
        epochs_changed += any_change
    alpha_end = max((abs(a - a0) for (f, a), (f0, a0) in zip(prev, starts) if math.isfinite(a) and f == f0), default=0.0)
    return {
        "switches": switches,
        "epochs": len(epochs),
        "epochs_changed": epochs_changed,
        "sites": n_sites,
        "sites_changed": len(changed_sites),
        "alpha_end": alpha_end,
        "alpha_max": alpha_max,
        "pinned_sites": sum(1 for f, a in prev if _at_bound(f, a)),
        "start_family": starts[0][0],  # site 0's: the one start the report names
        "start_alpha": starts[0][1],
        "end_alphas": sorted({round(a, 6) for _, a in prev}),
    }


@dataclass(frozen=True)
class ArmActivity:
    """An arm's adjustments over all its re-training runs that recorded them."""

    arm: str
    runs: int
    switches_per_run: float
    alpha_end: float  # mean over runs of the largest |α_end − α_start|
    alpha_max: float  # largest |α − α_start| seen in any run
    epochs_changed_share: float
    sites_changed_share: float
    pinned_share: float  # share of (run, site) ending on a bound of α's range
    start_family: str
    start_alpha: float
    end_alphas: list[float]

    @property
    def inert(self) -> bool:
        """Never changed any site's family or α in any run."""
        return self.runs > 0 and self.sites_changed_share == 0.0

    @property
    def pinned(self) -> bool:
        """Moved, but every site of every run ended on a bound of α's range."""
        return self.runs > 0 and not self.inert and self.pinned_share == 1.0 and self.switches_per_run == 0

    def sentence(self) -> str | None:
        """The plain words for an arm that did not really adjust (None when it did)."""
        family = get_family(self.start_family)
        alpha = ""
        if family.alpha_range is not None:
            low, high = family.alpha_range
            edge = "lower" if abs(self.start_alpha - low) <= ALPHA_TOL else (
                "upper" if abs(self.start_alpha - high) <= ALPHA_TOL else "")
            alpha = f" (α = {self.start_alpha:g}" + (f", the {edge} bound of its range)" if edge else ")")
        if self.inert:
            return (f"{self.arm} never switched family and never moved α in any of its {self.runs} re-training runs: "
                    f"it trained as fixed {self.start_family}{alpha} with its own learning rate.")
        if self.pinned:
            ends = ", ".join(f"{a:g}" for a in self.end_alphas)
            return (f"{self.arm} drove α to a bound of its range in every one of its {self.runs} re-training runs "
                    f"(α at the end: {ends}): it trained mostly as {self.start_family} with α fixed at that bound.")
        return None


def summarize_activity(arm: str, records: Sequence[dict[str, Any]]) -> ArmActivity | None:
    """Combine the per-run records of ``measure_activity`` (None when there are none)."""
    records = [r for r in records if r]
    if not records:
        return None
    n = len(records)
    sites = sum(r["sites"] for r in records)
    epochs = sum(r["epochs"] for r in records)
    return ArmActivity(
        arm=arm,
        runs=n,
        switches_per_run=sum(r["switches"] for r in records) / n,
        alpha_end=sum(r["alpha_end"] for r in records) / n,
        alpha_max=max(r["alpha_max"] for r in records),
        epochs_changed_share=sum(r["epochs_changed"] for r in records) / epochs if epochs else 0.0,
        sites_changed_share=sum(r["sites_changed"] for r in records) / sites if sites else 0.0,
        pinned_share=sum(r["pinned_sites"] for r in records) / sites if sites else 0.0,
        start_family=records[0]["start_family"],
        start_alpha=records[0]["start_alpha"],
        end_alphas=sorted({a for r in records for a in r["end_alphas"]}),
    )
