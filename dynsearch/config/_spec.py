"""The validated study: frozen dataclasses, the arms that share the budget, and the JSON export form."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..signals import get_signal_class
from ..strategies import Arm, get_strategy_class, strategy_arms
from ..train import TrainConfig
from ._calibrated import Calibrated

__all__ = [
    "DatasetSpec",
    "SearchSpace",
    "StrategySpace",
    "SamplerSpec",
    "PrunerSpec",
    "StudySpec",
    "SAMPLERS",
    "PRUNERS",
    "OBJECTIVES",
    "MULTI_OBJECTIVE_SAMPLERS",
]

# The validating parser: ``_parse`` builds StudySpecs, so this module cannot import it; ``_parse`` hands it
# over with ``install_parser`` when it is imported (the package's ``__init__`` imports both).
_PARSE: Callable[[Mapping[str, Any], str], StudySpec] | None = None


def install_parser(parse: Callable[[Mapping[str, Any], str], StudySpec]) -> None:
    """Give ``StudySpec.from_dict`` the study-file parser (called once, by ``_parse``)."""
    global _PARSE
    _PARSE = parse

SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc", "nsga2")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
OBJECTIVES = ("metric", "time")  # the validation metric (maximized) and the training time (minimized)
OBJECTIVE_DIRECTIONS = {"metric": "maximize", "time": "minimize"}
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "nsga2")

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
class StrategySpace:
    """What the study searches for one strategy: each declared parameter's resolved setting.

    ``settings`` holds ``(param, setting)`` pairs in declaration order: ``(low, high)`` for numbers,
    a tuple of values for choices. A declared parameter that is absent keeps its constructor default.
    """

    name: str
    settings: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.settings)

    def to_dict(self) -> dict[str, Any]:
        return {k: v.to_dict() if hasattr(v, "to_dict") else list(v) for k, v in self.settings}  # calibrated: a table


@dataclass(frozen=True)
class SearchSpace:
    """What the search samples: per strategy its settings (``[search.<strategy>]``), plus the training
    ranges every arm shares (``lr``, ``width``; None means "not searched")."""

    strategies: tuple[StrategySpace, ...] = ()
    lr: tuple[float, float] | None = None
    width: tuple[int, int] | None = None
    legacy_arms: bool = False  # a study stored by dynsearch 0.1: the signal was not an arm axis
    #: ``[search.signals.<name>]`` ranges: ``((signal, ((param, (low, high)), ...)), ...)``
    signal_ranges: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    #: ``[search.model]``: the model factory's searched parameters, ``((name, (low, high)), ...)``
    model: tuple[tuple[str, tuple[Any, Any]], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The searched strategies, in the study file's order."""
        return tuple(s.name for s in self.strategies)

    def strategy(self, name: str) -> StrategySpace:
        for s in self.strategies:
            if s.name == name:
                return s
        raise KeyError(f"the study does not search strategy {name!r}; it searches {', '.join(self.names)}")

    @property
    def arms(self) -> tuple[Arm, ...]:
        """Every arm: baselines first, then candidates, each in the order of ``strategies``."""
        skip = ("signal",) if self.legacy_arms else ()
        arms = [a for s in self.strategies for a in strategy_arms(s.name, s.as_dict(), skip_axes=skip)]
        return tuple([a for a in arms if a.role == "baseline"] + [a for a in arms if a.role != "baseline"])

    def settings_for(self, strategy: str, signal: str | None) -> dict[str, Any]:
        """The settings of ``strategy``'s trials that read ``signal``.

        A parameter compared with the signal's value (``on_signal``: threshold ``lower``/``upper``)
        takes the signal's own range from ``[search.signals.<signal>]``, or its calibrated range (``"calibrated"``,
        already in the signal's units); without either, its range
        (given in units of [-1, 1]) maps linearly onto the signal's declared range, so a share
        signal in [0, 1] gets thresholds inside [0, 1]. For io, target, gradient and data the
        map is the identity.
        """
        raw = self.strategy(strategy).as_dict()
        if signal is None:
            return raw
        if any(isinstance(v, Calibrated) and not v.ranges for v in raw.values()):
            return raw  # calibration still to be made (``dynsearch calibrate`` reads the study so)
        # A calibrated range is already in the signal's own units: it is never mapped.
        settings = {k: v.for_signal(signal) if isinstance(v, Calibrated) else v for k, v in raw.items()}
        own = dict(dict(self.signal_ranges).get(signal, ()))
        low, high = get_signal_class(signal).value_range
        mapped = (low, high) != (-1.0, 1.0) and abs(low) < float("inf") and abs(high) < float("inf")
        for p in get_strategy_class(strategy).declared_params():
            if not getattr(p, "on_signal", False):
                continue
            if p.name in own:
                settings[p.name] = own[p.name]
            elif mapped and p.name in settings and not isinstance(raw[p.name], Calibrated):
                a, b = settings[p.name]
                settings[p.name] = (low + (a + 1.0) / 2.0 * (high - low), low + (b + 1.0) / 2.0 * (high - low))
        return settings

    def to_dict(self) -> dict[str, Any]:
        """The ``[search]`` table with every strategy's resolved ``[search.<strategy>]`` table."""
        out: dict[str, Any] = {"strategies": list(self.names), "lr": _pairs(self.lr), "width": _pairs(self.width)}
        if self.signal_ranges:
            out["signals"] = {name: {k: list(v) for k, v in ranges} for name, ranges in self.signal_ranges}
        for s in self.strategies:
            out[s.name] = s.to_dict()
        if self.model:
            out["model"] = {name: list(bounds) for name, bounds in self.model}
        if self.legacy_arms:
            out["legacy_arms"] = True
        return out


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
    plugins: tuple[str, ...] = ()
    replicates: int = 1
    split_seeds: tuple[int, ...] = ()
    pack: str | int = "auto"
    # Differences of a metric inside ±margin count as "equivalent" in the report (two one-sided tests).
    equivalence_margin: float = 0.01

    @property
    def arms(self) -> list[str]:
        """The labels of the arms that get equal budgets, in a stable order (see ``SearchSpace.arms``)."""
        return [a.label for a in self.search.arms]

    def arm(self, label: str) -> Arm:
        """The arm with this label.

        Raises:
            KeyError: no arm of this study has that label.
        """
        for a in self.search.arms:
            if a.label == label:
                return a
        raise KeyError(f"{label!r} is not an arm of study {self.name!r}; its arms: {', '.join(self.arms)}")

    @property
    def directions(self) -> list[str]:
        return self.sampler.directions

    def replicate_split_seed(self, replicate: int) -> int:
        """The data split of search replicate ``replicate``: ``split_seeds`` cycled, else ``split_seed``."""
        if self.split_seeds:
            return self.split_seeds[replicate % len(self.split_seeds)]
        return self.split_seed

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
            "plugins": list(self.plugins),
            "replicates": self.replicates,
            "split_seeds": list(self.split_seeds),
            "pack": self.pack,
            "equivalence_margin": self.equivalence_margin,
            "model": {
                "kind": t.model,
                "hidden": list(t.hidden),
                "channels": list(t.channels),
                "dropout": t.dropout,
                "activation": t.activation,
                **({"factory": t.factory, "params": dict(t.model_params)} if t.factory else {}),
            },
            **({"objective": t.fit} if t.fit else {}),
            "training": {k: getattr(t, k) for k in TRAINING_KEYS},
            "search": self.search.to_dict(),
            "sampler": self.sampler.to_dict(),
            "pruner": self.pruner.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudySpec:
        """Inverse of ``to_dict`` (validated again; raises ConfigError naming ``data["path"]``)."""
        if _PARSE is None:
            raise RuntimeError("StudySpec.from_dict needs dynsearch.config imported (it installs the parser).")
        data = dict(data)
        path = data.pop("path", "<dict>")
        search = data.get("search")
        if isinstance(search, Mapping) and "lambda" in search and "legacy_arms" not in search:
            # Stored before strategies declared their arms: its trials were labelled without the
            # signal, which they sampled inside the arm. Keep reading them under those labels.
            data["search"] = {**search, "legacy_arms": True}
        return _PARSE(data, str(path))

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))
