"""``trials.csv``: one row per trial, from Optuna's ``Study.trials_dataframe()`` plus what dynsearch
stores on each trial (per-dataset validation metric and epochs, replicate, worker, reason).

The value column holds only a finished trial's objective. A pruned trial's last intermediate value
is not an objective (it comes from fewer epochs or datasets), so it goes to its own column.
"""

from __future__ import annotations

import json
import math
from typing import Any

import optuna
import pandas as pd

from ...search.space import ARM_PARAM
from ...search.study import REASON_ATTR
from ..trials import StudyData, trial_arm

__all__ = ["trials_csv"]


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def trials_csv(study: optuna.Study, data: StudyData) -> str:
    """The CSV text (stable column order; floats as Python writes them)."""
    frame = study.trials_dataframe(attrs=("number", "state", "value" if not data.multi_objective else "values",
                                          "params", "duration"), multi_index=False)
    frame = frame.sort_values("number").reset_index(drop=True)
    by_number = {t.number: t for t in data.trials}
    labels = [ds.label for ds in data.spec.datasets]
    value_cols = [c for c in frame.columns if c == "value" or c.startswith("values_")]
    pruned = frame["state"] == "PRUNED"
    out = pd.DataFrame({"number": frame["number"], "state": frame["state"],
                        "arm": [trial_arm(by_number[n]) or "" for n in frame["number"]]})
    for i, col in enumerate(value_cols):
        out["value" if i == 0 else "value_time"] = frame[col].where(~pruned)
    out["last_intermediate_value"] = [
        _last_intermediate(by_number[n]) if p else None for n, p in zip(frame["number"], pruned)]
    for col in sorted(c for c in frame.columns if c.startswith("params_") and c != f"params_{ARM_PARAM}"):
        out[f"param:{col[len('params_'):]}"] = frame[col]
    for label in labels:
        out[f"val:{label}"] = pd.Series([((by_number[n].user_attrs.get("datasets") or {}).get(label) or {}).get("val_metric")
                                         for n in frame["number"]], dtype=object)
    for label in labels:
        out[f"epochs:{label}"] = pd.Series([((by_number[n].user_attrs.get("datasets") or {}).get(label) or {})
                                            .get("epochs") for n in frame["number"]], dtype=object)
    extra = {
        "replicate": lambda t: t.user_attrs.get("replicate", 0),
        "split_seed": lambda t: t.user_attrs.get("split_seed", data.spec.split_seed),
        "wall_time": lambda t: t.user_attrs.get("wall_time"),
        "duration_s": lambda t: t.duration.total_seconds() if t.duration is not None else None,
        "worker": lambda t: t.system_attrs.get("dynsearch_worker"),
        "reason": lambda t: t.user_attrs.get(REASON_ATTR),
        "strategy": lambda t: t.user_attrs.get("strategy"),
    }
    for name, get in extra.items():
        out[name] = pd.Series([_cell(get(by_number[n])) for n in frame["number"]], dtype=object)
    return out.to_csv(index=False, lineterminator="\n", float_format=None)


def _last_intermediate(trial: Any) -> float | None:
    values = trial.intermediate_values
    return float(values[max(values)]) if values else None
