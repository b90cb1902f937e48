"""Inference: the re-training runs of every arm, compared with the dataset as the unit (Demšar 2006).

Takes the collected study (``report.trials.StudyData``) and the re-training runs (``report.retrain``);
gives a ``Comparison`` (``compare``): per-dataset scores, candidates against the baseline chosen on
validation (Wilcoxon, TOST, hierarchical bootstrap, Holm; the median, trimmed mean, sign shares and
collapse-free effects beside the mean), ranks of all arms (Friedman, Nemenyi), the
design's power, and the conclusion in words. ``make_plan`` sizes a study from a pilot the same way.
Pure computation, no I/O beyond reading ``retrain.json`` for a plan.
"""

from ._beyond import TRIM, BeyondMean, EffectSummary, beyond_mean, summarize_effects
from ._candidates import (
    ALPHA,
    DEFAULT_MARGIN,
    CandidateRow,
    GroupSummary,
    adjust_family,
    choose_baseline,
    infer_group,
    split_by_origin,
    task_group,
    tests_in,
)
from ._compare import compare
from ._comparison import COLLAPSE_MARGIN, CONFIDENCE, ArmScore, Comparison, DatasetTable, OverallRow
from ._conclusion import conclusion_text, effect_text, origin_text, power_sentence
from ._plan import REPLICATE_OPTIONS, SEED_OPTIONS, Plan, PlanRow, make_plan
from ._power import POWER, Components, datasets_needed, detectable_effect, effect_sd, variance_components
from ._ranks import RankResult, cliques, friedman_ranks, nemenyi_cd
from ._simulation import (
    N_SIMULATIONS,
    effect_population,
    pseudo_median,
    signed_rank_p,
    simulated_datasets_needed,
    simulated_detectable_effect,
    simulated_power,
)
from ._stats import PairedResult, holm_adjust, mean_ci, paired_difference
from ._verdicts import (
    BETTER,
    EQUIVALENT,
    INCONCLUSIVE,
    N_BOOTSTRAP,
    VERDICTS,
    WORSE,
    DatasetEffects,
    hierarchical_bootstrap_ci,
    paired_groups,
    tost_p,
    verdict,
    wilcoxon_p,
)

__all__ = [
    "ALPHA",
    "DEFAULT_MARGIN",
    "TRIM",
    "EffectSummary",
    "BeyondMean",
    "summarize_effects",
    "beyond_mean",
    "CandidateRow",
    "GroupSummary",
    "choose_baseline",
    "infer_group",
    "split_by_origin",
    "task_group",
    "adjust_family",
    "tests_in",
    "compare",
    "ArmScore",
    "DatasetTable",
    "OverallRow",
    "Comparison",
    "COLLAPSE_MARGIN",
    "CONFIDENCE",
    "conclusion_text",
    "power_sentence",
    "origin_text",
    "effect_text",
    "PlanRow",
    "Plan",
    "make_plan",
    "SEED_OPTIONS",
    "REPLICATE_OPTIONS",
    "POWER",
    "Components",
    "detectable_effect",
    "datasets_needed",
    "variance_components",
    "effect_sd",
    "N_SIMULATIONS",
    "effect_population",
    "pseudo_median",
    "signed_rank_p",
    "simulated_power",
    "simulated_detectable_effect",
    "simulated_datasets_needed",
    "RankResult",
    "friedman_ranks",
    "nemenyi_cd",
    "cliques",
    "PairedResult",
    "mean_ci",
    "paired_difference",
    "holm_adjust",
    "BETTER",
    "WORSE",
    "EQUIVALENT",
    "INCONCLUSIVE",
    "VERDICTS",
    "DatasetEffects",
    "paired_groups",
    "wilcoxon_p",
    "tost_p",
    "hierarchical_bootstrap_ci",
    "verdict",
    "N_BOOTSTRAP",
]
