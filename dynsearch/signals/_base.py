"""The signal protocol and its registry: what a strategy can read, declared and measured the same way.

A signal is a small object with parameters (``reduction`` and its own), a declared ``value_range``,
a one-line ``measures``, and the ``source`` of the batches it reads. Its statistics are plain dicts
of tensors (per member and unit, see ``_stats``) updated by a pure ``update`` and read by ``value``;
the signal object itself holds no statistics, so one instance serves every site and member.

Sources (what the caller feeds ``update(state, a, b, ...)``):

- ``"site"``: a site's pre-activation z and its output f(z), every training forward;
- ``"site_gradient"``: z and ∂L/∂z, from a backward hook on z;
- ``"network"``: the network's output and the target, after each training step;
- ``"input"``: the network's input x and the target, each training batch.

Example:
    >>> import torch
    >>> from dynsearch.signals import make_signal
    >>> io = make_signal("io")
    >>> z = torch.linspace(-2, 2, 101).reshape(101, 1)
    >>> state = io.update(None, z, torch.relu(z))
    >>> round(io.value(state).item()[0], 3)
    0.894
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

from torch import Tensor

from .._params import keyword_params
from ._stats import REDUCTIONS, SignalValue, State

__all__ = [
    "Signal",
    "SOURCES",
    "register_signal",
    "signal_names",
    "get_signal_class",
    "make_signal",
    "signal_from_config",
]

SOURCES = ("site", "site_gradient", "network", "input")

_REGISTRY: dict[str, type[Signal]] = {}


class Signal:
    """Base class of the signals strategies read.

    Subclasses set the class attributes, take their own parameters as keyword-only arguments stored
    under the same names, and implement ``update`` and ``value``.

    Args:
        reduction: ``pooled`` (one statistic over every element of every unit, as the write-up's r) or
            ``unit_mean`` (the statistic per unit — feature or channel — averaged over units).
    """

    name: ClassVar[str] = ""
    #: The interval every value lies in.
    value_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    #: Where the value lies for the built-in families, when narrower than ``value_range`` (None: anywhere in it).
    #: Study validation reads it, when the study has no calibration, to tell which rules can never act.
    expected_range: ClassVar[tuple[float, float] | None] = None
    #: What the value measures, in one sentence (shown by reports and ``dynsearch calibrate``).
    measures: ClassVar[str] = ""
    #: Which batches ``update`` reads; one of ``SOURCES``.
    source: ClassVar[str] = "site"
    #: One value per network rather than per site (implies global scope).
    per_network: ClassVar[bool] = False
    #: Whether ``update`` needs the site's family and α (to evaluate f′).
    needs_family: ClassVar[bool] = False

    def __init__(self, *, reduction: str = "pooled") -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"The 'reduction' parameter of {type(self).__name__} must be one of {', '.join(REDUCTIONS)}. "
                f"Got {reduction!r} instead."
            )
        self.reduction = reduction

    def update(
        self,
        state: State | None,
        a: Tensor,
        b: Tensor,
        *,
        members: bool = False,
        family: str | None = None,
        alpha: float | Tensor | None = None,
    ) -> State:
        """Add one batch; pure (returns a new state). ``state`` None starts one shaped by the batch.

        ``a``, ``b`` are the source's pair (see the module doc), laid out ``(B, U, *S)`` or, with
        ``members``, ``(M, B, U, *S)``. ``family`` / ``alpha`` are the site's, for signals that
        ``needs_family``; α may be a tensor broadcastable to ``a`` (one per member).
        """
        raise NotImplementedError

    def value(self, states: State | Sequence[State]) -> SignalValue:
        """The value per member from one state, or from several (a global scope: the sites' units pooled)."""
        raise NotImplementedError

    # --- parameters and config, as for strategies ------------------------------------------

    @classmethod
    def param_names(cls) -> list[str]:
        return keyword_params(cls)

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``; ``signal_from_config`` inverts it."""
        return {"name": self.name, "params": self.get_params()}

    def describe(self) -> dict[str, Any]:
        """What the signal declares: name, range, what it measures, its source and parameters."""
        return {"name": self.name, "range": list(self.value_range), "measures": self.measures,
                "source": self.source, "per_network": self.per_network, "params": self.get_params()}  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted((k, repr(v)) for k, v in self.get_params().items()))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


S = TypeVar("S", bound=type[Signal])


def register_signal(name: str) -> Callable[[S], S]:
    """Class decorator: register a ``Signal`` subclass under ``name`` (duplicates rejected).

    Example:
        >>> from dynsearch.signals import Signal, register_signal, signal_names
        >>> @register_signal("doc_example")
        ... class Example(Signal):
        ...     measures = "nothing"
        >>> "doc_example" in signal_names()
        True
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A signal name must be a non-empty string. Got {name!r} instead.")

    def decorate(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Signal)):
            raise TypeError(f"register_signal({name!r}) decorates Signal subclasses, not {cls!r}.")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"A signal named {name!r} is already registered ({existing.__qualname__}).")
        if cls.source not in SOURCES:
            raise ValueError(f"Signal {name!r} declares source {cls.source!r}; allowed: {', '.join(SOURCES)}.")
        low, high = cls.value_range
        if not low < high:
            raise ValueError(f"Signal {name!r} declares value_range {cls.value_range!r}; expected (low, high), low < high.")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def signal_names() -> list[str]:
    """Registered signal names, in registration order."""
    return list(_REGISTRY)


def get_signal_class(name: str) -> type[Signal]:
    """The class registered under ``name``; an unknown name lists the valid ones."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown signal {name!r}; registered signals: {', '.join(_REGISTRY)}.")
    return _REGISTRY[name]


def make_signal(name: str, **params: Any) -> Signal:
    """A registered signal from keyword parameters; unknown parameters are named with the allowed ones."""
    cls = get_signal_class(name)
    allowed = cls.param_names()
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise ValueError(f"Unknown parameter {unknown[0]!r} for signal {name!r}; allowed: {', '.join(allowed)}.")
    return cls(**params)


def signal_from_config(config: Mapping[str, Any] | str | Signal) -> Signal:
    """A signal from its name, its config ``{"name": ..., "params": {...}}``, or itself."""
    if isinstance(config, Signal):
        return config
    if isinstance(config, str):
        return make_signal(config)
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(f"A signal config must be a name or a mapping with 'name' and 'params'. Got {config!r} instead.")
    extra = set(config) - {"name", "params"}
    if extra:
        raise ValueError(f"Unknown key {sorted(extra)[0]!r} in a signal config; allowed: name, params.")
    params = config.get("params", {})
    if not isinstance(params, Mapping):
        raise ValueError(f"A signal config's 'params' must be a mapping. Got {params!r} instead.")
    return make_signal(str(config["name"]), **dict(params))
