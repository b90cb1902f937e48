"""Search-space declarations: each strategy says once which parameters a study may search, and how.

A declaration is plain data plus a few optional rules; nothing here imports Optuna or reads files.
The study-file parser validates ``[search.<strategy>]`` settings against these declarations and
the search samples them define-by-run, in declaration order.

A *setting* is what a study resolves a declaration to: ``(low, high)`` for ``Float`` and ``Int``
(equal ints fix the value), a tuple of values for ``Choice``.

Example:
    >>> from dynsearch.strategies import Strategy, register_strategy
    >>> from dynsearch.strategies.params import Choice, Float, Int
    >>> @register_strategy("params_doc")
    ... class Damped(Strategy):
    ...     search_space = (
    ...         Float("lam", -2.0, 2.0, default=(-1.0, 1.0)),
    ...         Float("damping", 0.01, 1.0, log=True),
    ...         Int("delay", 0, 5),
    ...         Choice("mode", ("soft", "hard")),
    ...     )
    ...     def __init__(self, *, lam=0.1, damping=0.5, delay=0, mode="soft", **common):
    ...         super().__init__(**common)
    ...         self.lam, self.damping, self.delay, self.mode = lam, damping, delay, mode
    ...     def decide(self, r, state):
    ...         return state
    >>> [p.name for p in Damped.declared_params()][-4:]
    ['lam', 'damping', 'delay', 'mode']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Mapping, Sequence

from ..activations import family_names, get_family

__all__ = ["Float", "Int", "Choice", "Param", "Family", "Setting"]

Setting = tuple[float, float] | tuple[int, int] | tuple[Any, ...]
# (values sampled so far in this trial, the study's settings of this strategy) -> narrowed (low, high) or None (skip)
Bounds = Callable[[Mapping[str, Any], Mapping[str, Setting]], "tuple[float, float] | None"]
# the study's settings of this strategy -> an error message, or None when they are consistent
Check = Callable[[Mapping[str, Setting]], "str | None"]


@dataclass(frozen=True)
class Float:
    """A float parameter searched uniformly (or log-uniformly) in a range.

    Args:
        name: the strategy's constructor parameter (also the study-file key).
        low, high: the values a study may allow (may be infinite).
        default: the range searched when the study file sets none; None means ``[low, high]``.
        log: sample on a log scale (the study's range must then be > 0).
        searched: False leaves the parameter at its constructor default unless the study sets a range.
        aliases: other study-file keys accepted for it.
        bounds: narrows the range per trial from values sampled before it (None skips the parameter).
        check: rejects inconsistent study settings (e.g. no lower < upper pair possible).
        on_signal: the value is compared with the signal's (a threshold): a study gives its range per
            signal (``[search.signals.<name>]``), and a range given for all signals, in units of
            [-1, 1], maps onto each signal's declared range.
    """

    name: str
    low: float = -math.inf
    high: float = math.inf
    default: tuple[float, float] | None = None
    log: bool = False
    searched: bool = True
    aliases: tuple[str, ...] = ()
    doc: str = ""
    bounds: Bounds | None = field(default=None, compare=False, repr=False)
    check: Check | None = field(default=None, compare=False, repr=False)
    on_signal: bool = False
    kind: ClassVar[Literal["float"]] = "float"

    def default_setting(self) -> tuple[float, float] | None:
        if not self.searched:
            return None
        return self.default if self.default is not None else (self.low, self.high)


@dataclass(frozen=True)
class Int:
    """An integer parameter searched in ``[low, high]`` (a study range with low == high fixes it).

    ``high`` None means no upper limit. See ``Float`` for the other arguments.
    """

    name: str
    low: int = 0
    high: int | None = None
    default: tuple[int, int] | None = None
    log: bool = False
    searched: bool = True
    aliases: tuple[str, ...] = ()
    doc: str = ""
    check: Check | None = field(default=None, compare=False, repr=False)
    kind: ClassVar[Literal["int"]] = "int"

    def default_setting(self) -> tuple[int, int] | None:
        if not self.searched:
            return None
        if self.default is not None:
            return self.default
        return (self.low, self.high if self.high is not None else self.low)


@dataclass(frozen=True)
class Choice:
    """A categorical parameter.

    Args:
        name: the constructor parameter.
        choices: the allowed values (strings, numbers or booleans), or a function returning them
            (for registries that grow, such as activation families or signals).
        default: the values searched when the study file sets none; None means every choice.
        what: what one value is called in messages ("activation family").
        canonical: maps an accepted spelling (an alias) to the stored value; None for unknown.
        accepts: a further rule a value must meet for this strategy (e.g. "has an α").
        accepts_text: that rule in words, for messages.
        implies: values this one forces on other parameters, e.g. a per-network signal forces
            ``scope = "global"``; a trial never pairs it with a contradicting arm.
    """

    name: str
    choices: tuple[Any, ...] | Callable[[], Sequence[Any]] = ()
    default: tuple[Any, ...] | None = None
    searched: bool = True
    what: str = "value"
    aliases: tuple[str, ...] = ()
    doc: str = ""
    canonical: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)
    accepts: Callable[[Any], bool] | None = field(default=None, compare=False, repr=False)
    accepts_text: str = ""
    implies: Callable[[Any], Mapping[str, Any]] | None = field(default=None, compare=False, repr=False)
    check: Check | None = field(default=None, compare=False, repr=False)
    kind: ClassVar[Literal["choice"]] = "choice"

    def allowed(self) -> tuple[Any, ...]:
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def to_value(self, value: Any) -> Any:
        """The stored form of a value, or None when it is not allowed at all."""
        if self.canonical is not None:
            return self.canonical(value)
        allowed = self.allowed()
        if any(value == c and type(value) is type(c) for c in allowed):
            return value
        return None

    def default_setting(self) -> tuple[Any, ...] | None:
        if not self.searched:
            return None
        values = self.default if self.default is not None else self.allowed()
        return tuple(v for v in values if self.accepts is None or self.accepts(v))


Param = Float | Int | Choice


def _family_or_none(name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    try:
        return get_family(name).name
    except ValueError:
        return None


def _has_alpha(name: Any) -> bool:
    return get_family(name).has_alpha


def _family_rule(requires_alpha: bool, learned: bool) -> tuple[Callable[[Any], bool] | None, str]:
    """What a family must be for a strategy, and that rule in words (for messages)."""
    needs_fixed_value = not learned  # a learned-only family (ACON-C) works only where it is learned

    def accepts(name: Any) -> bool:
        fam = get_family(name)
        return (fam.has_alpha or not requires_alpha) and (not fam.learned_only or not needs_fixed_value)

    if requires_alpha:
        return accepts, "a family with an α" + ("" if learned else " that works without learning (not acon_c)")
    return (accepts, "a family that works without learning (not acon_c)") if needs_fixed_value else (None, "")


def Family(  # noqa: N802 - reads like the other declarations
    name: str, default: tuple[str, ...] | None = None, *, requires_alpha: bool = False, learned: bool = False,
    doc: str = "",
) -> Choice:
    """A Choice over the activation families (aliases accepted, stored under the canonical name).

    With ``requires_alpha``, only families that have an α qualify (what linear and learned adjust).
    A learned-only family (ACON-C) qualifies only with ``learned`` (the strategy trains its parameters).
    """
    accepts, accepts_text = _family_rule(requires_alpha, learned)
    return Choice(
        name,
        choices=family_names,
        default=default,
        what="activation family",
        doc=doc,
        canonical=_family_or_none,
        accepts=accepts,
        accepts_text=accepts_text,
    )
