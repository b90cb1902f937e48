"""The ``[model]`` and ``[training]`` tables of a study file, as a ``TrainConfig``."""

from __future__ import annotations

from typing import Any

from ..activations import family_names, get_family
from ..train_config import MODEL_KINDS, OPTIMIZERS, TrainConfig
from ._errors import Checker, show, suggest
from ._sections import HINTS, MODEL_KEYS, elsewhere
from ._spec import TRAINING_KEYS, train_key

__all__ = ["parse_training"]


def _family(c: Checker, key: str, value: Any) -> str:
    name = c.string(key, value)
    try:
        return get_family(name).name
    except ValueError:
        names = family_names()
        raise c.fail(key, f"unknown activation family {show(name)}{suggest(name.lower(), names)}; "
                          f"allowed: {', '.join(names)}") from None  # fmt: skip


def parse_training(c: Checker, model: Any, training: Any) -> TrainConfig:
    """The ``[model]`` and ``[training]`` tables; a bad value is reported under its own key."""
    model = c.table("model", model)
    training = c.table("training", training)
    c.known_keys("model", model, MODEL_KEYS, elsewhere("model"), HINTS["model"])
    c.known_keys("training", training, TRAINING_KEYS, elsewhere("training"), HINTS["training"])
    kw: dict[str, Any] = {}
    if "kind" in model:
        kw["model"] = c.choice("model.kind", model["kind"], MODEL_KINDS, "model kind")
    for key in ("hidden", "channels"):
        if key in model:
            kw[key] = c.int_list(f"model.{key}", model[key], 1, non_empty=True)
    if "dropout" in model:
        kw["dropout"] = c.number("model.dropout", model["dropout"], minimum=0.0, below=1.0)
    if "activation" in model:
        kw["activation"] = _family(c, "model.activation", model["activation"])
    for key, minimum in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("measure_every", 1)):
        if key in training:
            kw[key] = c.integer(f"training.{key}", training[key], minimum)
    if "optimizer" in training:
        kw["optimizer"] = c.choice("training.optimizer", training["optimizer"], OPTIMIZERS, "optimizer")
    if "lr" in training:
        kw["lr"] = c.number("training.lr", training["lr"], positive=True)
    for key in ("weight_decay", "momentum"):
        if key in training:
            kw[key] = c.number(f"training.{key}", training[key], minimum=0.0)
    try:
        return TrainConfig(**kw)
    except ValueError as exc:  # TrainConfig's own rules: "field: message"
        field_name, _, message = str(exc).partition(": ")
        raise c.fail(train_key(field_name), message or str(exc)) from None
