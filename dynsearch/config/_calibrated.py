"""``"calibrated"`` float settings: threshold ranges taken from where each signal lay in calibration.

``[search.threshold] lower = "calibrated"`` asks for the range ``dynsearch calibrate`` suggested for
the signal each arm reads (``reports/NAME/calibration/calibration.json``). The setting keeps one
range per signal the strategy searches, and a trial uses the one of its arm's signal. The stored
form, ``{calibrated = {io = [0.84, 0.98], target = [0.5, 0.97]}}``, holds the numbers, so workers
and reports never need the calibration file (and a study file may write it by hand).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ._calibration import CalibrationMissing, calibrated_ranges
from ._errors import Checker, got, join_key, show

__all__ = ["CALIBRATED", "Calibrated", "calibration_optional", "is_calibrated", "calibrated_setting",
           "resolve_for_signal", "per_signal"]

CALIBRATED = "calibrated"
_OPTIONAL: ContextVar[bool] = ContextVar("dynsearch_calibration_optional", default=False)


@contextmanager
def calibration_optional() -> Iterator[None]:
    """Read study files without resolving ``"calibrated"`` (for ``dynsearch calibrate``, which makes the ranges)."""
    token = _OPTIONAL.set(True)
    try:
        yield
    finally:
        _OPTIONAL.reset(token)


@dataclass(frozen=True)
class Calibrated:
    """A float setting with one ``(low, high)`` per signal; empty while calibration is optional."""

    ranges: tuple[tuple[str, tuple[float, float]], ...]

    def for_signal(self, signal: Any) -> tuple[float, float]:
        for name, rng in self.ranges:
            if name == signal:
                return rng
        raise ValueError(f"no calibrated range for signal {signal!r}; calibrated: {', '.join(n for n, _ in self.ranges)}")

    def to_dict(self) -> dict[str, Any]:
        return {CALIBRATED: {name: list(rng) for name, rng in self.ranges}}


def is_calibrated(value: Any) -> bool:
    """``"calibrated"`` or its stored form ``{calibrated = {...}}``."""
    if isinstance(value, str):
        return value.strip().lower() == CALIBRATED
    return isinstance(value, Mapping) and list(value) == [CALIBRATED]


def calibrated_setting(c: Checker, key: str, value: Any, p: Any, signals: Any, study: str) -> Calibrated:
    """The per-signal ranges of a ``"calibrated"`` setting of declaration ``p``, for the strategy's ``signals``."""
    if p.kind != "float":
        raise c.fail(key, f'only a float range can be "calibrated", got {show(value)} for {p.kind} parameter {p.name!r}')
    if not signals:
        raise c.fail(key, f'"calibrated" takes the range of the signal a strategy reads, but this one reads none, '
                          f"{got(value)}")  # fmt: skip
    within = (p.low, p.high)
    if isinstance(value, Mapping):
        table = c.table(join_key(key, CALIBRATED), value[CALIBRATED])
        ranges = {name: c.float_range(join_key(join_key(key, CALIBRATED), name), rng, within=within) for name, rng in table.items()}
    elif _OPTIONAL.get():
        return Calibrated(())
    else:
        try:
            found = calibrated_ranges(study)
        except CalibrationMissing as exc:
            raise c.fail(key, f'"calibrated" needs the study\'s calibration, but {exc}; run '
                              f"'dynsearch calibrate {c.path}' first") from None
        ranges = {name: (max(lo, within[0]), min(hi, within[1])) for name, (lo, hi) in found.items()}
    missing = [s for s in signals if s not in ranges]
    if missing:
        raise c.fail(key, f"no calibrated range for signal {show(missing[0])}; calibrated signals that varied: "
                          f"{', '.join(ranges) or 'none'} (a signal without spread gets no range)")  # fmt: skip
    return Calibrated(tuple((s, (float(ranges[s][0]), float(ranges[s][1]))) for s in signals))


def resolve_for_signal(settings: Mapping[str, Any], signal: Any) -> dict[str, Any]:
    """``settings`` with every calibrated setting replaced by its range for ``signal``."""
    return {k: v.for_signal(signal) if isinstance(v, Calibrated) else v for k, v in settings.items()}


def per_signal(settings: Mapping[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """``(signal, settings)`` as each signal's trials see them: ``[(None, settings)]`` when nothing is
    calibrated, ``[]`` while the calibration is still to be made."""
    calibrated = [v for v in settings.values() if isinstance(v, Calibrated)]
    if not calibrated:
        return [(None, dict(settings))]
    if any(not v.ranges for v in calibrated):
        return []
    return [(s, resolve_for_signal(settings, s)) for s in settings.get("signal") or ()]
