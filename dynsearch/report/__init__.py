"""Reports: compare the strategies of a finished (or running) study honestly, and draw what they did.

``build_report(study)`` writes ``reports/NAME/``: ``index.html`` and ``report.md`` (the same text),
``trials.csv``, ``retrain.json`` (the cached re-training runs) and ``figures/``. The best trial of every
arm is re-trained with fresh seeds and scored on the held-out test split; dynamic arms are paired
with the best fixed activation (``compare``); ``stats`` holds the confidence intervals and tests.
"""

from .build import REPORT_FILES, ReportResult, build_report, default_out_dir
from .compare import ALPHA, ArmScore, Comparison, DatasetTable, OverallRow, PairedRow, compare, conclusion_text
from .figures import Figure, make_figures
from .retrain import (
    DEFAULT_SEEDS,
    SEED_BASE,
    RetrainJob,
    RetrainRun,
    RetrainStore,
    plan_jobs,
    retrain_seeds,
    run_jobs,
)
from .stats import PairedResult, mean_ci, paired_difference
from .trials import ArmCounts, StudyData, collect, trials_csv

__all__ = [
    "ALPHA",
    "ArmCounts",
    "ArmScore",
    "Comparison",
    "DEFAULT_SEEDS",
    "DatasetTable",
    "Figure",
    "OverallRow",
    "PairedResult",
    "PairedRow",
    "REPORT_FILES",
    "ReportResult",
    "RetrainJob",
    "RetrainRun",
    "RetrainStore",
    "SEED_BASE",
    "StudyData",
    "build_report",
    "collect",
    "compare",
    "conclusion_text",
    "default_out_dir",
    "make_figures",
    "mean_ci",
    "paired_difference",
    "plan_jobs",
    "retrain_seeds",
    "run_jobs",
    "trials_csv",
]
