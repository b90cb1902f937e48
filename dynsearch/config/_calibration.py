"""The calibration file: what ``dynsearch calibrate`` measured, as ``reports/NAME/calibration/calibration.json``.

The study file's ``"calibrated"`` settings read the suggested ranges from it (``calibrated_ranges``), so the
format lives here, below the calibration run (``dynsearch.calibration``) that writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import atomic_write_text

__all__ = [
    "CALIBRATION_SCHEMA",
    "QUANTILES",
    "SUGGESTED",
    "Row",
    "Calibration",
    "SignalSummary",
    "CalibrationMissing",
    "calibration_dir",
    "calibrated_ranges",
    "observed_ranges",
]

CALIBRATION_SCHEMA = "dynsearch.calibration/1"
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
SUGGESTED = (0.1, 0.9)  # the percentiles that bound a suggested threshold range

# (arm, family, dataset, seed, epoch, site, signal, value)
Row = tuple[str, str, str, int, int, str, str, float]


class CalibrationMissing(LookupError):
    """The study asks for calibrated ranges that no calibration provides (the message says what to run)."""


def calibration_dir(study_name: str) -> Path:
    """``reports/NAME/calibration``, beside the study's report (relative to the current directory)."""
    return Path("reports") / study_name / "calibration"


@dataclass(frozen=True)
class SignalSummary:
    """One signal over everything the calibration measured."""

    name: str
    measures: str
    value_range: tuple[float, float]
    n: int
    quantiles: dict[float, float]
    suggested: tuple[float, float] | None  # None: the signal did not vary (no threshold fires on part of it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "measures": self.measures,
            "range": list(self.value_range),
            "n": self.n,
            "quantiles": {f"{q:g}": v for q, v in self.quantiles.items()},
            "suggested": None if self.suggested is None else list(self.suggested),
        }

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> SignalSummary:
        suggested = d.get("suggested")
        low, high = d["range"]
        return cls(name, str(d.get("measures", "")), (float(low), float(high)), int(d["n"]),
                   {float(q): float(v) for q, v in d["quantiles"].items()},
                   None if suggested is None else (float(suggested[0]), float(suggested[1])))


@dataclass
class Calibration:
    """What ``calibrate`` measured: every value, and per signal its quantiles and suggested range."""

    study: str
    study_file: str
    epochs: int
    seeds: list[int]
    arms: list[str]
    datasets: list[str]
    rows: list[Row]
    summary: dict[str, SignalSummary]
    wall_time: float = 0.0
    files: list[str] = field(default_factory=list)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """The suggested threshold range of every signal that varied."""
        return {name: s.suggested for name, s in self.summary.items() if s.suggested is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CALIBRATION_SCHEMA,
            "study": self.study,
            "study_file": self.study_file,
            "epochs": self.epochs,
            "seeds": self.seeds,
            "arms": self.arms,
            "datasets": self.datasets,
            "wall_time": round(self.wall_time, 2),
            "signals": {name: s.to_dict() for name, s in self.summary.items()},
            "columns": ["arm", "family", "dataset", "seed", "epoch", "site", "signal", "value"],
            "values": [list(r[:7]) + [round(r[7], 6)] for r in self.rows],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        if d.get("schema") != CALIBRATION_SCHEMA:
            raise ValueError(f"not a dynsearch calibration (schema {d.get('schema')!r}, expected {CALIBRATION_SCHEMA!r})")
        rows = [(str(a), str(f), str(ds), int(s), int(e), str(site), str(sig), float(v))
                for a, f, ds, s, e, site, sig, v in d.get("values", [])]
        return cls(str(d["study"]), str(d.get("study_file", "")), int(d["epochs"]), list(d["seeds"]), list(d["arms"]),
                   list(d["datasets"]), rows,
                   {name: SignalSummary.from_dict(name, s) for name, s in d["signals"].items()},
                   float(d.get("wall_time", 0.0)))

    def save(self, out: Path) -> Path:
        path = Path(out) / "calibration.json"
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Calibration:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _load(study_name: str) -> Calibration:
    path = calibration_dir(study_name) / "calibration.json"
    try:
        cal = Calibration.load(path)
    except FileNotFoundError:
        raise CalibrationMissing(f"there is none at {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CalibrationMissing(f"{path} cannot be read ({str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    if cal.study != study_name:
        raise CalibrationMissing(f"{path} calibrates study {cal.study!r}, not {study_name!r}")
    return cal


def calibrated_ranges(study_name: str) -> dict[str, tuple[float, float]]:
    """The suggested range per signal from ``reports/NAME/calibration/calibration.json``.

    Raises:
        CalibrationMissing: no (readable) calibration of this study; the message says what was found.
    """
    return _load(study_name).ranges


def observed_ranges(study_name: str) -> dict[str, tuple[float, float]]:
    """Per signal, the smallest and largest value the study's calibration measured; {} without a readable one."""
    try:
        cal = _load(study_name)
    except CalibrationMissing:
        return {}
    return {name: (s.quantiles[0.0], s.quantiles[1.0]) for name, s in cal.summary.items()
            if 0.0 in s.quantiles and 1.0 in s.quantiles}
