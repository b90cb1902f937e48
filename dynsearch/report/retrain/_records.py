"""What a re-training run records beside its score: the signals per site and epoch (``RetrainRun.signals``,
read by ``report.signal_spread``) and the state it ended in (``RetrainRun.end_state``, read by
``report.retrain._final_fixed``). Both go to ``retrain.json``, so they are small and JSON-safe."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ...signals import signal_names as registered

__all__ = ["signal_names", "signal_series", "end_state"]


def signal_names() -> list[str]:
    """Every registered signal (a plugin's too): what a recording run measures."""
    return registered()


def signal_series(history: Iterable[Any]) -> dict[str, dict[str, list[float | None]]]:
    """``{signal: {site: [value per epoch]}}`` from a run's history (4 decimals: retrain.json stays small;
    a value a diverged run made non-finite is None)."""
    out: dict[str, dict[str, list[float | None]]] = {}
    for record in history:
        for site, values in record.signals.items():
            for name, value in values.items():
                v = float(value)
                out.setdefault(name, {}).setdefault(site, []).append(round(v, 4) if math.isfinite(v) else None)
    return out


def end_state(history: Sequence[Any]) -> list[list[Any]] | None:
    """Every site's [family, α] after the last epoch (None when there is none or an α is not finite)."""
    sites = history[-1].sites if history else []
    if not sites or not all(math.isfinite(float(site["alpha"])) for site in sites):
        return None
    return [[str(site["family"]), float(site["alpha"])] for site in sites]
