"""Warnings, before anything trains, about arms whose declared space mostly cannot adjust a site.

Each strategy says which share of its settings can never change a site (``Strategy.inert_share``); this
module hands it the arm's settings and where the signal lies: the range the study's calibration measured
(``reports/NAME/calibration/calibration.json``), else the signal's ``expected_range``, else its declared
range. A warning never stops a run: a study may mean to search an inert corner (a control, say).
"""

from __future__ import annotations

from typing import Any

from ..signals import get_signal_class
from ..strategies import get_strategy_class
from ._calibrated import Calibrated
from ._calibration import observed_ranges
from ._spec import StudySpec

__all__ = ["INERT_WARN_SHARE", "inert_warnings"]

# A quarter of a space that cannot act is enough to mislead: the committed benchmark's linear arms had that
# share (base relu with α₀ = 0 and λ ≤ 0, beside base tanh), and every one of their winners came from it.
INERT_WARN_SHARE = 0.25


def _r_range(signal: str | None, observed: dict[str, tuple[float, float]]) -> tuple[float, float]:
    if signal is None:
        return (-1.0, 1.0)
    if signal in observed:
        return observed[signal]
    cls = get_signal_class(signal)
    return cls.expected_range or cls.value_range


def inert_warnings(spec: StudySpec) -> list[str]:
    """One line per arm of ``spec`` of which at least ``INERT_WARN_SHARE`` of the declared space cannot adjust.

    Example:
        >>> from dynsearch.config import parse_study
        >>> spec = parse_study({"datasets": ["iris"], "search": {"strategies": ["linear"], "bases": ["relu"],
        ...                     "scopes": ["layer"], "linear": {"lam": [-1.0, 0.0]}}}, "studies/inert_doc.toml")
        >>> inert_warnings(spec)[0].split(":")[0]
        'warning'
    """
    observed = observed_ranges(spec.name)
    lines = []
    for arm in spec.search.arms:
        settings: dict[str, Any] = spec.search.settings_for(arm.strategy, arm.get("signal"))
        if any(isinstance(v, Calibrated) for v in settings.values()):
            continue  # the calibration is still to be made
        settings.update({name: (value,) for name, value in arm.fixed})
        found = get_strategy_class(arm.strategy).inert_share(settings, _r_range(arm.get("signal"), observed))
        if found is not None and found[0] >= INERT_WARN_SHARE:
            share, why = found
            lines.append(f"warning: arm {arm.label}: {share:.0%} of its declared space cannot adjust ({why}); "
                         "it still runs, see docs/study-file.md#arms-that-cannot-adjust")
    return lines
