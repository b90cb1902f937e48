"""Calibration: where each signal lies on a study's own data and model, and the threshold ranges that fire.

``calibrate(spec)`` (``_run``) trains the study's fixed arms briefly and records every registered signal;
``write_calibration_report`` (``_report``) writes ``reports/NAME/calibration/``. The file they produce,
``Calibration``, is defined with the study-file schema (``dynsearch.config``), which reads its ranges.
"""

from ..config._calibration import (
    CALIBRATION_SCHEMA,
    QUANTILES,
    SUGGESTED,
    Calibration,
    CalibrationMissing,
    SignalSummary,
    calibrated_ranges,
    calibration_dir,
)
from ._report import CALIBRATION_FILES, write_calibration_report
from ._run import DEFAULT_EPOCHS, calibrate, fixed_families, summarize

__all__ = [
    "CALIBRATION_SCHEMA",
    "CALIBRATION_FILES",
    "QUANTILES",
    "SUGGESTED",
    "DEFAULT_EPOCHS",
    "Calibration",
    "SignalSummary",
    "CalibrationMissing",
    "calibrate",
    "calibration_dir",
    "calibrated_ranges",
    "fixed_families",
    "summarize",
    "write_calibration_report",
]
