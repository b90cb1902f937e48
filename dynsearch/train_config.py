"""Training settings: ``TrainConfig``, what each setting allows, and its dict round trip.

Example:
    >>> from dynsearch.train_config import TrainConfig
    >>> TrainConfig.from_dict(TrainConfig(epochs=2).to_dict()).epochs
    2
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from ._constraints import Constraint, Integer, Real, Sizes, check_all
from .activations import family_names, get_family

__all__ = ["TrainConfig", "OPTIMIZERS", "MODEL_KINDS"]

OPTIMIZERS = ("adam", "adamw", "sgd")
MODEL_KINDS = ("auto", "mlp", "cnn")


# Every numeric training setting and what it allows, in the order they are checked.
_TRAIN_CONSTRAINTS: dict[str, Constraint] = {
    "epochs": Integer(1),
    "batch_size": Integer(1),
    "patience": Integer(0),
    "seed": Integer(0),
    "measure_every": Integer(1),
    "lr": Real(0, low_open=True),
    "weight_decay": Real(0),
    "momentum": Real(0),
    "dropout": Real(0, 1, high_open=True),
    "hidden": Sizes(),
    "channels": Sizes(),
}



@dataclass
class TrainConfig:
    """Training settings shared by ``dynsearch train``, the search and the report.

    ``patience`` 0 disables early stopping. ``measure_every`` k measures one training batch in k
    for the site signals: io, dead, saturation, gradient (1: every batch).

    ``factory`` names a model factory (``dynsearch.factories``; "" is the built-in ``model`` kind) called
    with ``model_params``; ``fit`` names a fit function (``dynsearch.fit``; "" is the built-in loop).
    """

    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    patience: int = 10
    seed: int = 0
    model: str = "auto"
    hidden: tuple[int, ...] = (64, 64)
    channels: tuple[int, ...] = (16, 32)
    dropout: float = 0.0
    activation: str = "relu"
    measure_every: int = 1
    factory: str = ""
    model_params: dict[str, Any] = field(default_factory=dict)
    fit: str = ""

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        self.channels = tuple(self.channels)
        self.validate()
        # A NumPy integer is a valid setting; stored as a plain int so the config stays JSON-safe.
        for name, constraint in _TRAIN_CONSTRAINTS.items():
            if isinstance(constraint, Integer):
                setattr(self, name, int(getattr(self, name)))
        self.hidden = tuple(int(v) for v in self.hidden)
        self.channels = tuple(int(v) for v in self.channels)
        self.model_params = dict(self.model_params)

    def validate(self) -> None:
        """Raise ValueError with a one-line message for the first bad setting."""
        check_all(self, _TRAIN_CONSTRAINTS)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        for name in ("factory", "fit"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}: expected a name or 'package.module:function', got {getattr(self, name)!r}.")
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model: expected one of {', '.join(MODEL_KINDS)}, got {self.model!r}.")
        try:
            family = get_family(self.activation)
        except ValueError:
            raise ValueError(
                f"activation: expected an activation family ({', '.join(family_names())}), got {self.activation!r}."
            ) from None
        if family.learned_only:
            raise ValueError(f"activation: {family.name} is learned only (no plain module); use another activation and "
                             f"the learned strategy with base = {family.name!r}.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        allowed = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in allowed]
        if unknown:
            raise ValueError(f"unknown training setting {unknown[0]!r}; allowed: {', '.join(allowed)}.")
        return cls(**dict(data))
