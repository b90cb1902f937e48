"""The validated study: frozen dataclasses, the arms that share the budget, and the JSON export form."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..activations import get_family
from ..strategies import SCOPES
from ..train import TrainConfig

__all__ = [
    "DatasetSpec",
    "SearchSpace",
    "SamplerSpec",
    "PrunerSpec",
    "StudySpec",
    "arm_strategy",
    "SAMPLERS",
    "PRUNERS",
    "OBJECTIVES",
    "MULTI_OBJECTIVE_SAMPLERS",
]

SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc", "nsga2")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
OBJECTIVES = ("metric", "time")  # the validation metric (maximized) and the training time (minimized)
OBJECTIVE_DIRECTIONS = {"metric": "maximize", "time": "minimize"}
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "nsga2")

# Strategies with their own arm layout; any other registered strategy gets one arm per scope.
_PER_BASE = ("fixed", "learned")


def _pairs(value: tuple[Any, Any] | None) -> list[Any] | None:
    return None if value is None else [value[0], value[1]]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the study: a built-in name (canonical form) or ``csv:PATH`` / ``parquet:PATH``,
    and the options passed to ``dynsearch.data.load_dataset`` (JSON-safe scalars)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name`` plus its options, e.g. ``moons(n_samples=600, noise=0.25)``."""
        if not self.options:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted((k, repr(v)) for k, v in self.options.items()))))


@dataclass(frozen=True)
class SearchSpace:
    """What the search samples. Ranges are ``(low, high)``; None means "not searched" (see each field)."""

    strategies: tuple[str, ...] = ("fixed", "threshold", "linear", "learned")
    scopes: tuple[str, ...] = ("layer", "global")
    signals: tuple[str, ...] = ("io",)
    bases: tuple[str, ...] = ("relu", "tanh")
    lam: tuple[float, float] = (-1.0, 1.0)
    alpha0: tuple[float, float] | None = None
    lower: tuple[float, float] = (-0.9, 0.0)
    upper: tuple[float, float] = (0.0, 0.9)
    below: tuple[str, ...] = ("tanh",)
    above: tuple[str, ...] = ("sigmoid",)
    every: tuple[int, int] = (1, 1)
    warmup: tuple[int, int] = (0, 0)
    cooldown: tuple[int, int] = (0, 0)
    lr: tuple[float, float] | None = None
    width: tuple[int, int] | None = None

    @property
    def bases_with_alpha(self) -> tuple[str, ...]:
        """The bases whose family has an α (what ``linear`` and ``learned`` can adjust)."""
        return tuple(b for b in self.bases if get_family(b).has_alpha)

    @property
    def arms(self) -> list[str]:
        """The strategy families that get equal budgets; see ``StudySpec.arms``."""
        arms: list[str] = []
        if "fixed" in self.strategies:
            arms += [f"fixed-{b}" for b in self.bases]
        if "learned" in self.strategies:
            arms += [f"learned-{b}" for b in self.bases_with_alpha]
        for name in ("threshold", "linear"):
            if name in self.strategies:
                arms += [f"{name}-{s}" for s in self.scopes]
        for name in self.strategies:
            if name not in _PER_BASE and name not in ("threshold", "linear"):
                arms += [f"{name}-{s}" for s in self.scopes]
        return arms

    def to_dict(self) -> dict[str, Any]:
        """The ``[search]`` table as written in a study file (``lam`` under its TOML key ``lambda``)."""
        return {
            "strategies": list(self.strategies),
            "scopes": list(self.scopes),
            "signals": list(self.signals),
            "bases": list(self.bases),
            "lambda": _pairs(self.lam),
            "alpha0": _pairs(self.alpha0),
            "lower": _pairs(self.lower),
            "upper": _pairs(self.upper),
            "below": list(self.below),
            "above": list(self.above),
            "every": _pairs(self.every),
            "warmup": _pairs(self.warmup),
            "cooldown": _pairs(self.cooldown),
            "lr": _pairs(self.lr),
            "width": _pairs(self.width),
        }


@dataclass(frozen=True)
class SamplerSpec:
    """The Optuna sampler. ``seed`` None means unseeded. ``objectives`` ("metric",) or ("metric", "time")."""

    name: str = "tpe"
    seed: int | None = 0
    objectives: tuple[str, ...] = ("metric",)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def directions(self) -> list[str]:
        """Optuna study directions, one per objective: metric maximized, time minimized."""
        return [OBJECTIVE_DIRECTIONS[o] for o in self.objectives]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "objectives": list(self.objectives)}


@dataclass(frozen=True)
class PrunerSpec:
    """The Optuna pruner; ``n_startup_trials`` and ``n_warmup_steps`` are the median pruner's settings."""

    name: str = "median"
    n_startup_trials: int = 5
    n_warmup_steps: int = 3

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n_startup_trials": self.n_startup_trials, "n_warmup_steps": self.n_warmup_steps}


# TrainConfig field -> (study-file section, key). TrainConfig.seed is not set from the file.
MODEL_KEYS = {"model": "kind", "hidden": "hidden", "channels": "channels", "dropout": "dropout", "activation": "activation"}
TRAINING_KEYS = ("epochs", "batch_size", "patience", "optimizer", "lr", "weight_decay", "momentum", "measure_every")


def train_key(field_name: str) -> str:
    """The study-file key path of a TrainConfig field, e.g. ``model`` -> ``model.kind``."""
    if field_name in MODEL_KEYS:
        return f"model.{MODEL_KEYS[field_name]}"
    return f"training.{field_name}"


@dataclass(frozen=True)
class StudySpec:
    """A validated study file. Build it with ``load_study_file`` or ``parse_study``.

    ``to_dict()`` gives the study-file shape (plus ``path``) as JSON-safe data, and
    ``StudySpec.from_dict(spec.to_dict()) == spec``.
    """

    name: str
    path: str
    datasets: tuple[DatasetSpec, ...]
    train: TrainConfig
    search: SearchSpace = field(default_factory=SearchSpace)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    description: str = ""
    n_trials: int = 24
    timeout: float | None = None
    seeds: int = 1
    split_seed: int = 0
    storage: str | None = None
    workers: str | int = "auto"
    # Differences of a metric inside ±margin count as "equivalent" in the report (two one-sided tests).
    equivalence_margin: float = 0.01

    @property
    def arms(self) -> list[str]:
        """The strategy families that get equal budgets, in a stable order.

        ``fixed-<base>`` for each base, ``learned-<base>`` for each base with α, then
        ``threshold-<scope>``, ``linear-<scope>`` and ``<other>-<scope>`` for each scope. Signals are
        searched inside an arm. ``arm_strategy`` splits an arm back into its parts.
        """
        return self.search.arms

    @property
    def directions(self) -> list[str]:
        return self.sampler.directions

    def to_dict(self) -> dict[str, Any]:
        t = self.train
        return {
            "name": self.name,
            "path": self.path,
            "description": self.description,
            "datasets": [d.to_dict() for d in self.datasets],
            "n_trials": self.n_trials,
            "timeout": self.timeout,
            "seeds": self.seeds,
            "split_seed": self.split_seed,
            "storage": self.storage,
            "workers": self.workers,
            "equivalence_margin": self.equivalence_margin,
            "model": {
                "kind": t.model,
                "hidden": list(t.hidden),
                "channels": list(t.channels),
                "dropout": t.dropout,
                "activation": t.activation,
            },
            "training": {k: getattr(t, k) for k in TRAINING_KEYS},
            "search": self.search.to_dict(),
            "sampler": self.sampler.to_dict(),
            "pruner": self.pruner.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudySpec:
        """Inverse of ``to_dict`` (validated again; raises ConfigError naming ``data["path"]``)."""
        from ._parse import parse_study

        data = dict(data)
        path = data.pop("path", "<dict>")
        return parse_study(data, str(path))

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))


def arm_strategy(arm: str) -> tuple[str, str | None, str | None]:
    """Split an arm name into ``(strategy, scope, base)``.

    Example:
        >>> arm_strategy("threshold-layer")
        ('threshold', 'layer', None)
        >>> arm_strategy("fixed-relu")
        ('fixed', None, 'relu')
    """
    if not isinstance(arm, str) or "-" not in arm:
        raise ValueError(f"Not an arm name: {arm!r}; expected '<strategy>-<scope>' or 'fixed-<base>' / 'learned-<base>'.")
    name, _, suffix = arm.rpartition("-")
    if name in _PER_BASE:
        try:
            return name, None, get_family(suffix).name
        except ValueError:
            raise ValueError(f"Not an arm name: {arm!r}; {suffix!r} is not an activation family.") from None
    if suffix in SCOPES and name:
        return name, suffix, None
    raise ValueError(
        f"Not an arm name: {arm!r}; expected '<strategy>-<scope>' with scope in {', '.join(SCOPES)}, "
        "or 'fixed-<base>' / 'learned-<base>'."
    )
