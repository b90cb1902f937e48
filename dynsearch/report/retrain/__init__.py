"""Re-training for the comparison: the best configuration of every arm, R fresh seeds, scored on test.

The search picked each arm's best trial on the validation split with its own seeds (0, 1, …).
Re-using those runs would reward the luckiest seed, so the report re-trains every chosen
configuration with seeds ``SEED_BASE …`` (never used by the search) on every dataset of the study,
with the study's split seed and the trial's own training settings, and only now scores the held-out
test split (``evaluate_test=True``).

Results are kept in ``retrain.json`` next to the report, one record per
``arm / trial / dataset / seed``, with a fingerprint of everything that determines the run (strategy,
training settings, dataset, split seed). A later report re-uses every record whose fingerprint
still matches and trains only what is missing; ``refresh=True`` trains everything again.

Takes the collected study (``report.trials.StudyData``) and gives ``RetrainRun`` per job key:
``plan_jobs`` plans the jobs, ``_store`` holds the jobs, runs and the store, ``_runner`` packs and
runs the jobs in parallel processes (joblib), ``_pack`` trains them in a process, ``_records`` keeps
what a run records beside its score, and ``_final_fixed`` derives the ``final_fixed`` controls.
"""

from ._final_fixed import derived_label, final_fixed_jobs, is_derived, run_final_fixed
from ._pack import chance_level
from ._plan import best_per_replicate, plan_jobs, replicate_of
from ._records import end_state, signal_names, signal_series
from ._runner import ProgressBar, ProgressFn, default_jobs, plan_packs, run_jobs, stderr_progress
from ._store import DEFAULT_SEEDS, RETRAIN_SCHEMA, SEED_BASE, RetrainJob, RetrainRun, RetrainStore, retrain_seeds

__all__ = [
    "DEFAULT_SEEDS",
    "SEED_BASE",
    "RETRAIN_SCHEMA",
    "RetrainJob",
    "RetrainRun",
    "RetrainStore",
    "retrain_seeds",
    "plan_jobs",
    "plan_packs",
    "run_jobs",
    "default_jobs",
    "stderr_progress",
    "ProgressBar",
    "ProgressFn",
    "best_per_replicate",
    "replicate_of",
    "chance_level",
    "derived_label",
    "final_fixed_jobs",
    "is_derived",
    "run_final_fixed",
    "end_state",
    "signal_names",
    "signal_series",
]
