"""The objective: trials' configurations trained on every dataset of the study, for each seed.

A worker trains a *pack* of trials (one trial is a pack of one) with ``dynsearch.packed.train_packed``,
dataset by dataset and seed by seed. Each trial gets the mean best validation metric (and, for a
multi-objective study, its training time) and, stored on it, what reports need so they never re-run
a trial: per-dataset metrics, epochs, time and a compact per-epoch history of every site (r,
family, α). The test split is never touched here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import optuna
import torch

from ..config import StudySpec
from ..data import DatasetSplits, load_dataset
from ..packed import PackMember, pack_key, train_packed
from ..train import TrainConfig, TrainingInterrupted, TrainResult
from ._optuna import ReportBatch, write_user_attrs
from .samplers import REPLICATE_ATTR, SPLIT_SEED_ATTR
from .space import suggest_plan
from .split_cache import read_cached_splits

__all__ = ["Objective", "TrialPlan", "compact_history", "write_attrs"]


def compact_history(result: TrainResult) -> dict[str, Any]:
    """``{"sites": [...], "epochs": [[epoch, val_metric, [[r, family, α], ...]], ...]}``.

    r is None where nothing was measured (a strategy that reads no signal, or no batch since the
    last adjustment): a stored 0 would read as a measurement. Older studies stored 0.0 there.
    """
    sites = [s["site"] for s in result.history[0].sites] if result.history else []
    epochs = [
        [rec.epoch, _finite_or_none(rec.val_metric), [[_measured_r(s), s["family"], round(s["alpha"], 5)] for s in rec.sites]]
        for rec in result.history
    ]
    return {"sites": sites, "epochs": epochs}


def _measured_r(site: Mapping[str, Any]) -> float | None:
    return round(site["r"], 5) if site.get("n") else None


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def write_attrs(plans: Sequence[TrialPlan]) -> None:
    """Store the plans' pending user attributes (one storage append on a journal) and clear them;
    a trial another process has finished meanwhile is marked dropped."""
    finished = write_user_attrs({p.trial: p.attrs for p in plans if p.attrs})
    for plan in plans:
        plan.attrs = {}
        if plan.trial in finished:
            plan.outcome = ("dropped", "")


@dataclass
class TrialPlan:
    """One trial of a pack: what it trains and, as it goes, what it produced.

    ``outcome`` stays None while the trial trains; then it is ``("complete", values)``,
    ``("pruned", reason)``, ``("fail", exception)``, ``("dropped", "")`` (another process
    finished the trial first) or, set by the worker, ``("requeued", "")`` (interrupted and re-queued).
    ``attrs`` holds user attributes not yet written: ``write_attrs`` stores a whole pack's at once.
    """

    trial: optuna.Trial
    strategy: dict[str, Any]
    config: TrainConfig
    split_seed: int
    per_dataset: dict[str, dict[str, Any]] = field(default_factory=dict)
    histories: dict[str, Any] = field(default_factory=dict)
    train_time: float = 0.0
    reported: set[int] = field(default_factory=set)
    outcome: tuple[str, Any] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def pack_group(self) -> tuple[Any, ...]:
        """Trials with equal groups can share a pack: the same model shape and the same data split."""
        return (pack_key(self.config, self.strategy), self.split_seed)


class Objective:
    """Trains trials for one worker; datasets are loaded once per split, on the worker's device."""

    def __init__(
        self,
        spec: StudySpec,
        device: str | torch.device = "cpu",
        should_stop: Callable[[], bool] | None = None,
        pack_options: dict[str, Any] | None = None,
        split_cache: str | None = None,
    ):
        self.spec = spec
        self.device = torch.device(device)
        self.should_stop = should_stop or (lambda: False)
        self.pack_options = dict(pack_options or {})
        self.split_cache = split_cache
        self._datasets: dict[tuple[str, int], DatasetSplits] = {}

    def dataset(self, index: int, split_seed: int | None = None) -> DatasetSplits:
        """Dataset ``index`` under ``split_seed`` (default: the study's), from the run's split cache
        when there is one, loaded once per worker."""
        ds = self.spec.datasets[index]
        split_seed = self.spec.split_seed if split_seed is None else split_seed
        key = (ds.label, split_seed)
        if key not in self._datasets:
            cached = read_cached_splits(self.split_cache, ds, split_seed, self.device)
            if cached is None:
                cached = load_dataset(ds.name, split_seed=split_seed, device=self.device, **dict(ds.options))
            self._datasets[key] = cached  # type: ignore[assignment]
        return self._datasets[key]

    @property
    def multi_objective(self) -> bool:
        return len(self.spec.sampler.objectives) > 1

    @property
    def reports_steps(self) -> bool:
        # Nothing would read a report without a pruner: spare the storage write (history keeps the curve).
        return not self.multi_objective and self.spec.pruner.name != "none"

    def plan(self, trial: optuna.Trial) -> TrialPlan:
        """Suggest (or read back) the trial's parameters and mark it with its replicate and split."""
        strategy, train_config = suggest_plan(trial, self.spec)
        replicate = int(trial.user_attrs.get(REPLICATE_ATTR, 0))
        split_seed = int(trial.user_attrs.get(SPLIT_SEED_ATTR, self.spec.replicate_split_seed(replicate)))
        attrs = {"strategy": strategy, "train": train_config.to_dict(), "device": str(self.device),
                 REPLICATE_ATTR: replicate, SPLIT_SEED_ATTR: split_seed}  # fmt: skip
        return TrialPlan(trial, strategy, train_config, split_seed, attrs=attrs)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        """One trial alone (``study.optimize`` style): its value(s), or ``TrialPruned`` / the error."""
        plan = self.plan(trial)
        write_attrs([plan])
        try:
            self.run_pack([plan])
        finally:
            write_attrs([plan])
        payload: Any  # the value(s) when complete, else the error
        kind, payload = plan.outcome or ("fail", RuntimeError("no outcome"))
        if kind == "complete":
            return payload
        if kind == "pruned":
            raise optuna.TrialPruned(payload)
        if kind == "dropped":
            raise optuna.exceptions.UpdateFinishedTrialError(f"trial {trial.number} was finished by another process")
        raise payload

    def run_pack(self, plans: Sequence[TrialPlan]) -> None:
        """Train ``plans`` (all with the same ``pack_group``) together and set each one's outcome.

        Raises:
            TrainingInterrupted: when ``should_stop`` asks; the plans without an outcome are unfinished.
        """
        epochs = plans[0].config.epochs
        for d_index, ds in enumerate(self.spec.datasets):
            active = [p for p in plans if p.outcome is None]
            if not active:
                return
            try:
                splits = self.dataset(d_index, active[0].split_seed)
            except Exception as exc:  # a dataset that no longer loads fails every trial that needs it
                for plan in active:
                    plan.outcome = ("fail", exc)
                return
            results: dict[int, list[TrainResult]] = {id(p): [] for p in active}
            for seed in range(self.spec.seeds):
                members = [p for p in active if p.outcome is None]
                if not members:
                    break
                reports = ReportBatch()
                on_epoch = self._reporter(members, d_index * epochs, reports) if seed == 0 else None
                try:
                    trained = self._train(splits, members, seed, on_epoch)
                finally:
                    self._flush(members, reports)
                for plan, result in zip(members, trained):
                    if plan.outcome is None and result is not None:
                        self._take_result(plan, ds.label, seed, result, results[id(plan)])
            for plan in active:
                if plan.outcome is None:
                    self._finish_dataset(plan, ds.label, results[id(plan)])
        for plan in plans:
            if plan.outcome is None:
                self._finish_trial(plan)

    def _train(
        self, splits: DatasetSplits, plans: Sequence[TrialPlan], seed: int, on_epoch: Any
    ) -> list[TrainResult | None]:
        """One pack call; if it raises, each member alone, so an error fails only its own trial."""
        members = [PackMember(p.strategy, dataclasses.replace(p.config, seed=seed)) for p in plans]
        stop = self.should_stop
        try:
            return list(train_packed(splits, members, on_epoch=on_epoch, should_stop=stop, **self.pack_options))
        except (TrainingInterrupted, KeyboardInterrupt):
            raise
        except Exception as exc:
            if len(plans) == 1:
                plans[0].outcome = ("fail", exc)
                return [None]
        out: list[TrainResult | None] = []
        for index, (plan, member) in enumerate(zip(plans, members)):
            if plan.outcome is not None:
                out.append(None)
                continue
            alone = None if on_epoch is None else (lambda _i, e, v, index=index: on_epoch(index, e, v))
            try:
                out.append(train_packed(splits, [member], on_epoch=alone, should_stop=stop, **self.pack_options)[0])
            except (TrainingInterrupted, KeyboardInterrupt):
                raise
            except Exception as exc:
                plan.outcome = ("fail", exc)
                out.append(None)
        return out

    def _take_result(self, plan: TrialPlan, label: str, seed: int, result: TrainResult, done: list[TrainResult]) -> None:
        plan.train_time += result.wall_time
        if result.status == "ok":
            done.append(result)
            return
        # Diverged (or stopped for another reason than our pruner): the parameters are the problem.
        reason = f"{label}, seed {seed}: {result.status}: {result.message}"
        plan.attrs.update({"fail_reason": reason, "datasets": plan.per_dataset})
        plan.outcome = ("pruned", reason)

    def _finish_dataset(self, plan: TrialPlan, label: str, results: list[TrainResult]) -> None:
        vals = [r.best_val_metric for r in results]
        plan.per_dataset[label] = {
            "metric": results[0].metric,
            "val_metric": sum(vals) / len(vals),
            "val_metrics": vals,
            "epochs": sum(r.epochs_run for r in results) / len(results),
            "wall_time": sum(r.wall_time for r in results),
            "switches": sum(r.n_switches for r in results) / len(results),
        }
        plan.histories[label] = compact_history(results[0])

    def _finish_trial(self, plan: TrialPlan) -> None:
        # wall_time: training time only; dataset loading and a process's one-off start-up stay out of it.
        plan.attrs.update({"datasets": plan.per_dataset, "history": plan.histories, "wall_time": plan.train_time})
        value = sum(d["val_metric"] for d in plan.per_dataset.values()) / len(plan.per_dataset)
        plan.outcome = ("complete", (value, plan.train_time) if self.multi_objective else value)

    @staticmethod
    def _flush(plans: Sequence[TrialPlan], reports: ReportBatch) -> None:
        finished = reports.flush()
        for plan in plans:
            if plan.trial in finished:
                plan.outcome = ("dropped", "")  # another process failed and re-queued it (missed heartbeats)

    def _reporter(
        self, plans: Sequence[TrialPlan], offset: int, reports: ReportBatch
    ) -> Callable[[int, int, float], bool] | None:
        """Report each member's validation metric at a fixed step per dataset (so the pruner compares
        trials at the same dataset and epoch) and take pruned members out of the pack. The pack's
        values of an epoch are stored together, when the next epoch's first member reports (and
        after the pack)."""
        if not self.reports_steps:
            return None
        last_epoch = [0]

        def report(index: int, epoch: int, value: float) -> bool:
            plan, step = plans[index], offset + epoch
            if plan.outcome is not None:
                return True
            if epoch != last_epoch[0]:
                last_epoch[0] = epoch
                self._flush(plans, reports)
                if plan.outcome is not None:
                    return True
            try:
                if step not in plan.reported:
                    reports.report(plan.trial, step, value)
                    plan.reported.add(step)
                if plan.trial.should_prune():
                    plan.outcome = ("pruned", f"pruned at step {step} (value {value:.4f})")
                    return True
            except optuna.exceptions.UpdateFinishedTrialError:
                plan.outcome = ("dropped", "")  # another process failed and re-queued it (missed heartbeats)
                return True
            return False

        return report
