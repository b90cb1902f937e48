"""Reports: compare the strategies of a finished (or running) study honestly, and draw what they did.

``build_report(study)`` writes ``reports/NAME/``: ``index.html`` and ``report.md`` (the same text),
``trials.csv``, ``retrain.json`` (the cached re-training runs) and ``figures/``. It runs one stage per
package, in this order (``report.build``)::

    data = collect(study)                                      # trials: the study as the report reads it
    store = RetrainStore.load(out / "retrain.json", data.name)  # retrain: runs kept from an earlier report
    runs, _ = run_jobs(plan_jobs(data, seeds), store)          # each arm's best, fresh seeds, test split
    comparison = compare(data, runs, seeds, margin)            # inference: datasets as the unit
    figures = make_figures(data, study, out, comparison)       # figures
    blocks = build_blocks(data, comparison, figures, meta)     # render: one list of blocks,
    render_markdown(blocks), render_html(blocks)               # written as report.md and index.html
"""

from .activity import ArmActivity, measure_activity
from .build import REPORT_FILES, ReportResult, build_report, default_out_dir
from .figures import Figure, make_figures
from .inference import (
    ALPHA,
    DEFAULT_MARGIN,
    VERDICTS,
    ArmScore,
    BeyondMean,
    CandidateRow,
    Comparison,
    DatasetTable,
    EffectSummary,
    GroupSummary,
    OverallRow,
    PairedResult,
    RankResult,
    choose_baseline,
    compare,
    conclusion_text,
    datasets_needed,
    detectable_effect,
    friedman_ranks,
    hierarchical_bootstrap_ci,
    holm_adjust,
    mean_ci,
    nemenyi_cd,
    paired_difference,
    paired_groups,
    summarize_effects,
    tost_p,
    variance_components,
    verdict,
    wilcoxon_p,
)
from .render import trials_csv
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
from .roles import arm_role
from .trials import ArmCounts, StudyData, collect

__all__ = [
    "ALPHA",
    "ArmActivity",
    "ArmCounts",
    "BeyondMean",
    "EffectSummary",
    "CandidateRow",
    "DEFAULT_MARGIN",
    "GroupSummary",
    "RankResult",
    "VERDICTS",
    "arm_role",
    "choose_baseline",
    "datasets_needed",
    "detectable_effect",
    "friedman_ranks",
    "hierarchical_bootstrap_ci",
    "holm_adjust",
    "measure_activity",
    "nemenyi_cd",
    "paired_groups",
    "summarize_effects",
    "tost_p",
    "variance_components",
    "verdict",
    "wilcoxon_p",
    "ArmScore",
    "Comparison",
    "DEFAULT_SEEDS",
    "DatasetTable",
    "Figure",
    "OverallRow",
    "PairedResult",
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
