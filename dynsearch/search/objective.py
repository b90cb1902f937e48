"""The objective: a trial's configuration trained on every dataset of the study, for each seed.

It returns the mean best validation metric (and, for a multi-objective study, the training time)
and stores on the trial what reports need, so they never re-run a trial: per-dataset metrics,
epochs, time and a compact per-epoch history of every site (r, family, α). The test split is
never touched here.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import optuna
import torch

from ..config import StudySpec
from ..data import DatasetSplits, load_dataset
from ..train import TrainingInterrupted, TrainResult, train
from .space import suggest_plan

__all__ = ["Objective", "compact_history"]


def compact_history(result: TrainResult) -> dict[str, Any]:
    """``{"sites": [...], "epochs": [[epoch, val_metric, [[r, family, α], ...]], ...]}``."""
    sites = [s["site"] for s in result.history[0].sites] if result.history else []
    epochs = [
        [rec.epoch, _finite_or_none(rec.val_metric), [[round(s["r"], 5), s["family"], round(s["alpha"], 5)] for s in rec.sites]]
        for rec in result.history
    ]
    return {"sites": sites, "epochs": epochs}


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class Objective:
    """Callable objective for one worker; datasets are loaded once, on the worker's device."""

    def __init__(self, spec: StudySpec, device: str | torch.device = "cpu", should_stop: Callable[[], bool] | None = None):
        self.spec = spec
        self.device = torch.device(device)
        self.should_stop = should_stop or (lambda: False)
        self._datasets: dict[str, DatasetSplits] = {}

    def dataset(self, index: int) -> DatasetSplits:
        ds = self.spec.datasets[index]
        if ds.label not in self._datasets:
            self._datasets[ds.label] = load_dataset(
                ds.name, split_seed=self.spec.split_seed, device=self.device, **dict(ds.options)
            )
        return self._datasets[ds.label]

    @property
    def multi_objective(self) -> bool:
        return len(self.spec.sampler.objectives) > 1

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        strategy, train_config = suggest_plan(trial, self.spec)
        trial.set_user_attr("strategy", strategy)
        trial.set_user_attr("train", train_config.to_dict())
        trial.set_user_attr("device", str(self.device))
        epochs = train_config.epochs
        per_dataset: dict[str, dict[str, Any]] = {}
        histories: dict[str, Any] = {}
        started = time.perf_counter()
        for d_index, ds in enumerate(self.spec.datasets):
            splits = self.dataset(d_index)
            results: list[TrainResult] = []
            for seed in range(self.spec.seeds):
                config = dataclasses.replace(train_config, seed=seed)
                on_epoch = self._reporter(trial, d_index * epochs) if seed == 0 else self._stop_check
                result = train(splits, strategy, config, on_epoch=on_epoch, should_stop=self.should_stop)
                if result.status != "ok":
                    reason = f"{ds.label}, seed {seed}: {result.status}: {result.message}"
                    trial.set_user_attr("fail_reason", reason)
                    trial.set_user_attr("datasets", per_dataset)
                    raise optuna.TrialPruned(reason)
                results.append(result)
            vals = [r.best_val_metric for r in results]
            per_dataset[ds.label] = {
                "metric": results[0].metric,
                "val_metric": sum(vals) / len(vals),
                "val_metrics": vals,
                "epochs": sum(r.epochs_run for r in results) / len(results),
                "wall_time": sum(r.wall_time for r in results),
                "switches": sum(r.n_switches for r in results) / len(results),
            }
            histories[ds.label] = compact_history(results[0])
        wall_time = time.perf_counter() - started
        trial.set_user_attr("datasets", per_dataset)
        trial.set_user_attr("history", histories)
        trial.set_user_attr("wall_time", wall_time)
        value = sum(d["val_metric"] for d in per_dataset.values()) / len(per_dataset)
        if self.multi_objective:
            return value, wall_time
        return value

    def _stop_check(self, epoch: int, value: float) -> None:
        if self.should_stop():
            raise TrainingInterrupted("stop requested")

    def _reporter(self, trial: optuna.Trial, offset: int) -> Callable[[int, float], None]:
        """Report each epoch's validation metric at a fixed step per dataset, so the pruner
        compares trials at the same dataset and epoch."""

        def report(epoch: int, value: float) -> None:
            self._stop_check(epoch, value)
            if self.multi_objective or self.spec.pruner.name == "none":
                return  # nothing would read the report: spare the storage write (history keeps the curve)
            trial.report(value, offset + epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {offset + epoch} (value {value:.4f})")

        return report
