"""``dynsearch plan``: how many datasets, seeds and replicates a study needs to detect an effect, from
the spread a pilot (or finished) study measured, and roughly how long that study would take here.

The spread comes from the study's report when it has one (``retrain.json``: test scores of fresh
seeds, paired with the baseline chosen on validation), else from the search's own validation scores
(per dataset and search seed). It is split into between datasets, between replicates (which trial
won) and between seeds (``report.inference.variance_components``); a level the pilot could not measure
(one replicate, one seed) is taken as 0 and said so. The datasets a design needs come from studies
simulated as the report's power (``_simulation``): the pilot's per-dataset effects, pooled and centred,
give the shape, scaled to the spread the design's seeds and replicates leave.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as _st

from ..retrain import RetrainStore, best_per_replicate
from ..roles import BASELINE, CANDIDATE, arm_role
from ..trials import StudyData
from ._candidates import ALPHA, choose_baseline
from ._compare import compare
from ._power import POWER, Components, variance_components
from ._simulation import effect_population, simulated_datasets_needed

__all__ = ["PlanRow", "Plan", "make_plan", "SEED_OPTIONS", "REPLICATE_OPTIONS"]

SEED_OPTIONS = (3, 5, 10)
REPLICATE_OPTIONS = (1, 2, 3)


@dataclass(frozen=True)
class PlanRow:
    seeds: int
    replicates: int
    datasets: int | None  # None: more than the limit
    hours: float


@dataclass
class Plan:
    effect: float
    source: str
    components: Components
    tests: int
    rows: list[PlanRow] = field(default_factory=list)
    run_seconds: float = math.nan
    workers: int = 1
    notes: list[str] = field(default_factory=list)
    shape: np.ndarray = field(default_factory=lambda: np.empty(0))  # pilot effects at unit SD: what designs draw

    def population(self, seeds: int, replicates: int) -> np.ndarray:
        """The per-dataset effects a design with ``seeds`` and ``replicates`` is simulated from."""
        return self.shape * math.sqrt(self.components.effect_variance(seeds, replicates))


def _groups_from_retrain(data: StudyData, path: Path) -> list[list[list[list[float]]]]:
    """Per candidate: its paired test differences [dataset][replicate][seed] from a report's runs."""
    store = RetrainStore.load(path, data.name)
    if not store.records:
        return []
    seeds = sorted({r.seed for r in store.records.values()})
    comparison = compare(data, store.records, seeds)
    return [row.effects.groups for row in comparison.candidates if row.n_datasets >= 2]


def _val_metrics(trial: object, label: str) -> list[float]:
    """A trial's validation metric on one dataset, one value per search seed."""
    stored = (getattr(trial, "user_attrs", {}).get("datasets") or {}).get(label) or {}
    values = stored.get("val_metrics") or ([stored["val_metric"]] if stored.get("val_metric") is not None else [])
    return [float(v) for v in values if v is not None]


def _groups_from_search(data: StudyData) -> list[list[list[list[float]]]]:
    """Per candidate: validation differences [dataset][replicate][search seed] of the replicate winners."""
    winners = best_per_replicate(data)
    labels = [ds.label for ds in data.spec.datasets]

    arms = sorted({a for _, a in winners})
    val = {a: {label: {(r, s): v for (r, aa), t in winners.items() if aa == a
                       for s, v in enumerate(_val_metrics(t, label))} for label in labels} for a in arms}
    base = choose_baseline([a for a in data.arms if a in arms and arm_role(data, a) == BASELINE], val)
    if base is None:
        return []
    out = []
    for arm in (a for a in data.arms if a in arms and arm_role(data, a) == CANDIDATE):
        groups = []
        for label in labels:
            reps = sorted({r for r, _ in val[arm][label]} & {r for r, _ in val[base][label]})
            per = [[val[arm][label][k] - val[base][label][k] for k in sorted(val[arm][label])
                    if k[0] == r and k in val[base][label]] for r in reps]
            if any(per):
                groups.append([p for p in per if p])
        if len(groups) >= 2:
            out.append(groups)
    return out


def _pooled(all_groups: list[list[list[list[float]]]]) -> Components:
    comps = [variance_components(g) for g in all_groups]

    def mean(name: str) -> float:
        vals = [getattr(c, name) for c in comps if not math.isnan(getattr(c, name))]
        return float(np.mean(vals)) if vals else math.nan

    return Components(mean("dataset"), mean("replicate"), mean("seed"))


def _shape(all_groups: list[list[list[list[float]]]]) -> np.ndarray:
    """The candidates' per-dataset effects pooled as the report pools them (``effect_population``), at unit SD;
    a normal shape when they do not spread."""
    vectors = [[float(np.mean([np.mean(seeds) for seeds in reps])) for reps in groups] for groups in all_groups]
    pop = effect_population(vectors)
    if pop.size < 2 or float(np.std(pop)) == 0.0:
        pop = _st.norm.ppf((np.arange(1000) + 0.5) / 1000)
    return pop / float(np.std(pop))


def _run_seconds(data: StudyData) -> float:
    """Median training seconds of one run (one dataset, one seed) in the study's trials."""
    times = [float(d["wall_time"]) / max(data.spec.seeds, 1) for t in data.trials
             for d in (t.user_attrs.get("datasets") or {}).values() if isinstance(d, dict) and d.get("wall_time")]
    return statistics.median(times) if times else math.nan


def make_plan(data: StudyData, effect: float, report_dir: Path | None, workers: int,
              alpha: float = ALPHA, power: float = POWER) -> Plan:
    """The plan for detecting a mean difference of ``effect`` (see the module docstring)."""
    retrain = report_dir / "retrain.json" if report_dir is not None else None
    groups = _groups_from_retrain(data, retrain) if retrain is not None and retrain.is_file() else []
    source = f"test scores of the re-training runs in {retrain}" if groups else "validation scores of the search"
    if not groups:
        groups = _groups_from_search(data)
    candidates = sum(1 for a in data.arms if arm_role(data, a) == CANDIDATE)
    plan = Plan(effect, source, _pooled(groups), max(candidates, 1), workers=workers, run_seconds=_run_seconds(data),
                shape=_shape(groups))
    c = plan.components
    if math.isnan(c.dataset):
        plan.notes.append("The between-dataset spread could not be measured (needs a candidate and a baseline scored "
                          "on at least two datasets): no plan.")
        return plan
    if math.isnan(c.replicate):
        plan.notes.append("One search replicate: the spread from which trial won was not measured and is taken as 0 "
                          "(run the pilot with replicates = 2 to measure it).")
    if math.isnan(c.seed):
        plan.notes.append("One seed per run: the seeds' spread was not measured and is taken as 0.")
    n_arms = len(data.arms)
    trials_per_arm = max(1, data.spec.n_trials // max(n_arms, 1))
    for seeds in SEED_OPTIONS:
        for reps in REPLICATE_OPTIONS:
            n = simulated_datasets_needed(effect, plan.population(seeds, reps), alpha, power, plan.tests, limit=2000)
            runs = 0 if n is None else reps * n * (n_arms * trials_per_arm * data.spec.seeds + n_arms * seeds)
            plan.rows.append(PlanRow(seeds, reps, n, runs * plan.run_seconds / max(workers, 1) / 3600.0))
    return plan

