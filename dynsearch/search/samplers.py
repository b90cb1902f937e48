"""Optuna samplers and pruners by the names study files use."""

from __future__ import annotations

from typing import Container

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..config import PrunerSpec, SamplerSpec
from .space import ARM_PARAM

__all__ = ["make_sampler", "make_pruner", "PerArmPruner"]


def make_sampler(spec: SamplerSpec, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler; each worker offsets the seed so parallel workers don't repeat draws."""
    seed = None if spec.seed is None else spec.seed + worker_index
    name = spec.name
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}")


class _ArmStudy(optuna.study.Study):
    """A view of the study that shows a pruner only the trials of one arm."""

    def __init__(self, study: optuna.Study, arm: str) -> None:
        super().__init__(study_name=study.study_name, storage=study._storage, sampler=study.sampler, pruner=study.pruner)
        self._arm = arm

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        trials = super()._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if t.params.get(ARM_PARAM) == self._arm]


class PerArmPruner(optuna.pruners.BasePruner):
    """Prune a trial only against trials of its own arm (strategy family).

    A pruner comparing across arms would stop every trial of a family that learns slowly early
    on, leaving it without a single complete trial; the comparison needs each family's best.
    """

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        arm = trial.params.get(ARM_PARAM)
        return self.inner.prune(study if arm is None else _ArmStudy(study, arm), trial)


def make_pruner(spec: PrunerSpec, max_steps: int) -> optuna.pruners.BasePruner:
    """The study's pruner, comparing trials within their arm; ``max_steps`` is epochs × datasets
    (one report per epoch and dataset)."""
    inner = _make_inner_pruner(spec, max_steps)
    return inner if isinstance(inner, optuna.pruners.NopPruner) else PerArmPruner(inner)


def _make_inner_pruner(spec: PrunerSpec, max_steps: int) -> optuna.pruners.BasePruner:
    if spec.name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.n_startup_trials, n_warmup_steps=spec.n_warmup_steps)
    if spec.name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, spec.n_warmup_steps), max_resource=max(2, max_steps))
    if spec.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, spec.n_warmup_steps))
    if spec.name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {spec.name!r}")
