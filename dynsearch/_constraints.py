"""Parameter constraints declared once and checked by one function, the way scikit-learn's parameter
validation works: a constraint says what it accepts and how it reads in a message.

Two message forms, both one line that quotes the bad value:

- a setting (``name: expected <constraint>, got <value>.``), the form of study files and ``TrainConfig``;
- a constructor parameter of a named class (``The 'name' parameter of Owner must be <constraint>.
  Got <value> instead.``), the form of scikit-learn and of the strategies.

Example:
    >>> check(3, Integer(1), "epochs")
    3
    >>> check(0, Integer(1), "epochs")
    Traceback (most recent call last):
    ...
    ValueError: epochs: expected an integer >= 1, got 0.
    >>> check(1.5, Real(0, 1, high_open=True), "dropout", owner="SmallCNN")
    Traceback (most recent call last):
    ...
    ValueError: The 'dropout' parameter of SmallCNN must be a number in [0, 1). Got 1.5 instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from numbers import Real as _RealNumber
from typing import Any, TypeVar

__all__ = ["Integer", "Real", "Sizes", "Constraint", "check", "check_all", "SEED", "SEED_MAX"]

T = TypeVar("T")


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)  # True is an int to Python, not to a user


@dataclass(frozen=True)
class Integer:
    """An integer (not a boolean, not a float with an integral value) in ``[low, high]``; None is unbounded."""

    low: int | None = None
    high: int | None = None

    def accepts(self, value: Any) -> bool:
        return (_is_int(value) and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))  # fmt: skip

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an integer in [{self.low}, {self.high}]"
        if self.low is not None:
            return f"an integer >= {self.low}"
        return "an integer" if self.high is None else f"an integer <= {self.high}"


@dataclass(frozen=True)
class Real:
    """A finite int or float (not a boolean) in the interval; ``*_open`` excludes that end."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, _RealNumber) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return (f"a number in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_open else ']'}")  # fmt: skip
        if self.low is not None:
            return f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"a finite number {'<' if self.high_open else '<='} {self.high:g}"
        return "a finite number"


@dataclass(frozen=True)
class Sizes:
    """A sequence (not a string) of positive integers: layer widths, channels, an input shape."""

    allow_empty: bool = True

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            return False  # "64" would otherwise pass as the widths (6, 4)
        return (bool(value) or self.allow_empty) and all(_is_int(v) and v >= 1 for v in value)

    def __str__(self) -> str:
        return "a sequence of positive integers" if self.allow_empty else "a non-empty sequence of positive integers"


Constraint = Integer | Real | Sizes

SEED_MAX = 2**32 - 1
#: A seed NumPy and scikit-learn accept as a random_state.
SEED = Integer(0, SEED_MAX)


def check(value: T, constraint: Constraint, name: str, *, owner: str | None = None,
          error: type[Exception] = ValueError) -> T:  # fmt: skip
    """``value`` unchanged when ``constraint`` accepts it, else ``error`` with the one-line message."""
    if constraint.accepts(value):
        return value
    if owner is not None:
        raise error(f"The {name!r} parameter of {owner} must be {constraint}. Got {value!r} instead.")
    raise error(f"{name}: expected {constraint}, got {value!r}.")


def check_all(values: Any, constraints: dict[str, Constraint], *, owner: str | None = None) -> None:
    """``check`` every attribute of ``values`` named in ``constraints``, in declaration order."""
    for name, constraint in constraints.items():
        check(getattr(values, name), constraint, name, owner=owner)
