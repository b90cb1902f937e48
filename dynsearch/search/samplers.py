"""Optuna samplers and pruners by the names study files use, each arm learning on its own.

A fair search gives every arm (strategy family) its own sampler stream and its own pruning
history: a sampler that learned across arms would hand later arms what earlier ones found (and
leave the first arm with the random start-up trials), and a pruner comparing across arms would
stop every trial of a family that learns slowly early on. So both see a study *view* holding only
the trials of the same search replicate and arm (``_optuna.trial_subset_view``).
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from ..config import PrunerSpec, SamplerSpec
from ._optuna import trial_subset_view
from .space import ARM_PARAM

__all__ = ["make_sampler", "make_pruner", "PerArmSampler", "PerArmPruner", "trial_stream", "REPLICATE_ATTR",
           "SPLIT_SEED_ATTR"]  # fmt: skip

# User attributes every queued trial carries: its search replicate and the data split it trains on.
REPLICATE_ATTR = "replicate"
SPLIT_SEED_ATTR = "split_seed"

Stream = tuple[int, Any]  # (replicate, arm)


def trial_stream(trial: FrozenTrial) -> Stream:
    """``(replicate, arm)`` of a trial, also while it is queued (its arm is then a fixed parameter)."""
    arm = trial.params.get(ARM_PARAM, trial.system_attrs.get("fixed_params", {}).get(ARM_PARAM))
    return int(trial.user_attrs.get(REPLICATE_ATTR, 0)), arm


def _stream_view(study: optuna.Study, stream: Stream) -> optuna.Study:
    return trial_subset_view(study, lambda t: trial_stream(t) == stream)


def stream_seed(seed: int | None, stream: Stream, worker_index: int = 0) -> int | None:
    """A stable seed per (sampler seed, replicate, arm, worker): replicates draw differently, and so do
    parallel workers; None stays unseeded."""
    if seed is None:
        return None
    replicate, arm = stream
    return zlib.crc32(f"{seed}:{replicate}:{arm}:{worker_index}".encode())


def _base_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
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


class PerArmSampler(optuna.samplers.BaseSampler):
    """One inner sampler per (replicate, arm), each seeing only the trials of its own stream.

    Args:
        factory: builds the inner sampler of a stream, e.g. ``lambda stream: TPESampler(seed=...)``.
    """

    def __init__(self, factory: Callable[[Stream], optuna.samplers.BaseSampler]) -> None:
        self._factory = factory
        self._samplers: dict[Stream, optuna.samplers.BaseSampler] = {}

    def inner(self, stream: Stream) -> optuna.samplers.BaseSampler:
        if stream not in self._samplers:
            self._samplers[stream] = self._factory(stream)
        return self._samplers[stream]

    def _route(self, study: optuna.Study, trial: FrozenTrial) -> tuple[optuna.samplers.BaseSampler, optuna.Study]:
        stream = trial_stream(trial)
        return self.inner(stream), _stream_view(study, stream)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        sampler, view = self._route(study, trial)
        return sampler.infer_relative_search_space(view, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        sampler, view = self._route(study, trial)
        return sampler.sample_relative(view, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        sampler, view = self._route(study, trial)
        return sampler.sample_independent(view, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        sampler, view = self._route(study, trial)
        sampler.before_trial(view, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        sampler, view = self._route(study, trial)
        sampler.after_trial(view, trial, state, values)

    def reseed_rng(self) -> None:
        for sampler in self._samplers.values():
            sampler.reseed_rng()


def make_sampler(spec: SamplerSpec, worker_index: int = 0) -> PerArmSampler:
    """The study's sampler: one stream per (replicate, arm), seeded from the study's seed, the stream
    and the worker, so replicates and parallel workers don't repeat draws."""
    _base_sampler(spec.name, None)  # an unknown name fails here, not at the first trial
    return PerArmSampler(lambda stream: _base_sampler(spec.name, stream_seed(spec.seed, stream, worker_index)))


class PerArmPruner(optuna.pruners.BasePruner):
    """Prune a trial only against trials of its own arm and replicate.

    A pruner comparing across arms would stop every trial of a family that learns slowly early
    on, leaving it without a single complete trial; the comparison needs each family's best.
    """

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return self.inner.prune(_stream_view(study, trial_stream(trial)), trial)


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
