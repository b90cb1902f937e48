"""The search: study files become Optuna studies whose queued trials parallel workers run."""

from .objective import Objective
from .runner import RunSummary, plan_workers, run_study
from .space import suggest_plan
from .storage import StorageError, mask_url, open_storage, resolve_storage_url
from .study import arm_budgets, best_per_arm, count_trials, list_studies, load_spec, prepare_study
from .worker import run_worker

__all__ = [
    "Objective",
    "RunSummary",
    "StorageError",
    "arm_budgets",
    "best_per_arm",
    "count_trials",
    "list_studies",
    "load_spec",
    "mask_url",
    "open_storage",
    "plan_workers",
    "prepare_study",
    "resolve_storage_url",
    "run_study",
    "run_worker",
    "suggest_plan",
]
