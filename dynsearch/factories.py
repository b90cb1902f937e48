"""Model factories: ``factory(input_shape, n_outputs, **params) -> nn.Module``, by name or by reference.

A study names one with ``[model] factory = "my_pkg.models:resnet_small"`` (or a name registered with
``register_model``) and passes ``[model.params]`` as keyword arguments; ``[search.model]`` searches some
of them. The built-in MLP and CNN are the registered factories ``"mlp"`` and ``"cnn"``.

Example:
    >>> from torch import nn
    >>> @register_model("tiny")
    ... def tiny(input_shape, n_outputs, width=8):
    ...     return nn.Sequential(nn.Linear(input_shape[0], width), nn.ReLU(), nn.Linear(width, n_outputs))
    >>> type(build_factory_model("tiny", (4,), 3, {"width": 16})).__name__
    'Sequential'
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Mapping, Sequence, TypeVar

from torch import nn

from .models import mlp, small_cnn
from .plugins import resolve_callable

__all__ = ["FactoryError", "register_model", "model_factory", "model_names", "check_params", "build_factory_model"]

F = TypeVar("F", bound=Callable[..., nn.Module])
_MODELS: dict[str, Callable[..., nn.Module]] = {}


class FactoryError(ValueError):
    """A model factory that cannot be found, rejects its parameters, raises or builds no model; one line."""


def register_model(name: str) -> Callable[[F], F]:
    """Register a model factory under ``name`` (a decorator), so a study can say ``factory = name``."""

    def decorate(factory: F) -> F:
        _MODELS[name] = factory
        return factory

    return decorate


def model_names() -> list[str]:
    """The registered factory names (``mlp``, ``cnn`` and any a plugin registered)."""
    return sorted(_MODELS)


def model_factory(reference: str) -> Callable[..., nn.Module]:
    """The factory a name or ``"module:function"`` reference names.

    Raises:
        FactoryError: unknown name, a module that does not import, a missing or non-callable attribute.
    """
    if reference in _MODELS:
        return _MODELS[reference]
    if ":" not in reference:
        raise FactoryError(f"model factory {reference!r}: not a registered model ({', '.join(model_names())}) "
                           "nor a 'package.module:function' reference")  # fmt: skip
    try:
        return resolve_callable(reference, "model factory")
    except ValueError as exc:
        raise FactoryError(str(exc)) from None


def check_params(reference: str, names: Sequence[str]) -> None:
    """Raise ``FactoryError`` when the factory does not accept one of the keyword ``names``."""
    factory = model_factory(reference)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to check ahead
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in list(params.items())[2:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for name in names:
        if name not in accepted:
            raise FactoryError(f"model factory {reference!r} does not accept {name!r}; it accepts: "
                               f"{', '.join(accepted) or 'no parameters'}")  # fmt: skip


def build_factory_model(reference: str, input_shape: tuple[int, ...], n_outputs: int,
                        params: Mapping[str, Any]) -> nn.Module:  # fmt: skip
    """``factory(input_shape, n_outputs, **params)``, checked to be an ``nn.Module``."""
    factory = model_factory(reference)
    check_params(reference, list(params))
    try:
        model = factory(tuple(input_shape), int(n_outputs), **dict(params))
    except Exception as exc:  # a user's factory: its error, in one line
        raise FactoryError(f"model factory {reference!r} raised {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    if not isinstance(model, nn.Module):
        raise FactoryError(f"model factory {reference!r} returned {type(model).__name__}, not a torch nn.Module")
    return model


@register_model("mlp")
def _mlp(input_shape: tuple[int, ...], n_outputs: int, *, hidden: Sequence[int] = (64, 64), activation: str = "relu",
         dropout: float = 0.0, channels: Sequence[int] = ()) -> nn.Module:  # fmt: skip
    """The built-in MLP on the flat ``prod(input_shape)`` features (``channels`` is the CNN's, ignored)."""
    return mlp(math.prod(input_shape), hidden, n_outputs, activation=activation, dropout=dropout)


@register_model("cnn")
def _cnn(input_shape: tuple[int, ...], n_outputs: int, *, channels: Sequence[int] = (16, 32), activation: str = "relu",
         dropout: float = 0.0, hidden: Sequence[int] = ()) -> nn.Module:  # fmt: skip
    """The built-in small CNN for ``(C, H, W)`` inputs (``hidden`` is the MLP's, ignored)."""
    if len(input_shape) != 3:
        raise ValueError(f"A cnn needs input_shape (C, H, W), got {tuple(input_shape)!r}; use an mlp for flat features.")
    return small_cnn((input_shape[0], input_shape[1], input_shape[2]), n_outputs, channels=channels,
                     activation=activation, dropout=dropout)  # fmt: skip
