"""``ConfigError`` and the small checkers the study-file parser is built from.

Every checker raises ``ConfigError(path, key, message)`` whose text is one line:
``"{path}: {key}: expected ..., got VALUE; allowed: ..."``, with the bad value written the way it
appears in TOML (strings in double quotes, booleans as true/false).
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Callable, Iterable, Mapping, Sequence

from .._constraints import Integer

__all__ = ["ConfigError"]

_MAX_SHOWN = 120  # characters of a bad value echoed back in a message


class ConfigError(ValueError):
    """A study file (or its parsed dict) is invalid. ``str(err) == f"{path}: {key}: {message}"``, one line.

    Attributes:
        path: the file (or the name given to ``parse_study``).
        key: the dotted key path of the offending value, e.g. ``search.lambda`` or ``datasets[2].noise``;
            ``(file)`` for a missing or unparsable file.
        message: what is wrong, with the bad value and what is allowed.
    """

    def __init__(self, path: str, key: str, message: str) -> None:
        self.path = str(path)
        self.key = str(key)
        self.message = " ".join(str(message).split())  # one line, whatever the caller passed
        super().__init__(f"{self.path}: {self.key}: {self.message}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across worker processes
        return (type(self), (self.path, self.key, self.message))


def show(value: Any) -> str:
    """A value written the TOML way, shortened to one short line."""
    text = _toml(value)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _toml(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


def type_name(value: Any) -> str:
    """The TOML word for a value's type, for "got X (a string)" messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def got(value: Any) -> str:
    return f"got {show(value)} ({type_name(value)})"


def suggest(word: Any, allowed: Iterable[str]) -> str:
    """``' (did you mean "x"?)'`` when a close match exists, else ``''``."""
    if not isinstance(word, str):
        return ""
    options = list(allowed)
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not match:
        match = difflib.get_close_matches(word.strip().lower(), options, n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


def join_key(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


class Checker:
    """Type and range checks that raise ``ConfigError`` naming ``path`` and the key path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.path, key, message)

    # --- tables and keys -------------------------------------------------------------------

    def table(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a table ([{key}] or {key} = {{...}}), {got(value)}")
        return dict(value)

    def known_keys(
        self,
        key: str,
        table: Mapping[str, Any],
        allowed: Sequence[str],
        elsewhere: Mapping[str, str] | None = None,
        hints: Mapping[str, str] | None = None,
    ) -> None:
        """Reject the first key not in ``allowed``, with a did-you-mean and the allowed list.

        ``elsewhere`` maps keys that belong to another section to that section's dotted name;
        ``hints`` maps a known mistake to a ready sentence.
        """
        for name in table:
            if name in allowed:
                continue
            where = join_key(key, name)
            if hints and name in hints:
                tip = f" ({hints[name]})"
            elif elsewhere and name in elsewhere:
                home = elsewhere[name]
                if home:
                    tip = f' (did you mean "{join_key(home, name)}"? it belongs in [{home}])'
                else:  # TOML puts every key after a [section] header into that section
                    tip = " (it belongs at the top level, before the first [section] header)"
            else:
                tip = suggest(name, allowed)
            raise self.fail(where, f'unknown key "{name}"{tip}; allowed: {", ".join(allowed)}')

    # --- scalars ---------------------------------------------------------------------------

    def string(self, key: str, value: Any, *, non_empty: bool = True) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, {got(value)}")
        if non_empty and not value.strip():
            raise self.fail(key, f"expected a non-empty string, {got(value)}")
        return value

    def integer(self, key: str, value: Any, minimum: int | None = None) -> int:
        allowed = Integer(minimum)
        if not Integer().accepts(value):
            hint = ""
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                hint = f" (write {int(value)} without the decimal point)"
            raise self.fail(key, f"expected {allowed}, {got(value)}{hint}")
        if not allowed.accepts(value):
            raise self.fail(key, f"expected {allowed}, got {show(value)}")
        return int(value)

    def number(
        self,
        key: str,
        value: Any,
        *,
        minimum: float | None = None,
        positive: bool = False,
        below: float | None = None,
    ) -> float:
        """A finite int or float (not a boolean), returned as float."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"expected a number, {got(value)}")
        if not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {show(value)}")
        if positive and value <= 0:
            raise self.fail(key, f"expected a number > 0, got {show(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"expected a number >= {minimum}, got {show(value)}")
        if below is not None and value >= below:
            low = "" if minimum is None else f"[{minimum}, "
            what = f"a number in {low}{below})" if low else f"a number < {below}"
            raise self.fail(key, f"expected {what}, got {show(value)}")
        return float(value)

    # --- arrays ----------------------------------------------------------------------------

    def array(self, key: str, value: Any, what: str) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            example = '["a", "b"]' if "string" in what else "[1, 2]"
            raise self.fail(key, f"expected an array of {what} like {example}, {got(value)}")
        return list(value)

    def int_list(self, key: str, value: Any, minimum: int, *, non_empty: bool) -> tuple[int, ...]:
        items = self.array(key, value, f"integers >= {minimum}")
        if non_empty and not items:
            raise self.fail(key, f"expected at least one integer >= {minimum}, got []")
        return tuple(self.integer(join_key(key, i), v, minimum) for i, v in enumerate(items))

    def choice(self, key: str, value: Any, allowed: tuple[str, ...], what: str) -> str:
        """One name from ``allowed``."""
        name = self.string(key, value)
        if name not in allowed:
            raise self.fail(key, f"unknown {what} {show(name)}{suggest(name, allowed)}; allowed: {', '.join(allowed)}")
        return name

    def choices(
        self,
        key: str,
        value: Any,
        allowed: Sequence[str],
        *,
        what: str,
        canonical: Callable[[str], str | None] | None = None,
        allowed_text: str | None = None,
    ) -> tuple[str, ...]:
        """A non-empty array of distinct names from ``allowed``; ``canonical`` maps aliases (None: unknown)."""
        items = self.array(key, value, "strings")
        listing = allowed_text or ", ".join(allowed)
        if not items:
            raise self.fail(key, f"expected at least one {what}, got []; allowed: {listing}")
        out: list[str] = []
        for i, item in enumerate(items):
            where = join_key(key, i)
            if not isinstance(item, str):
                raise self.fail(where, f"expected a {what} name (a string), {got(item)}; allowed: {listing}")
            name = canonical(item) if canonical else (item if item in allowed else None)
            if name is None:
                raise self.fail(where, f"unknown {what} {show(item)}{suggest(item, allowed)}; allowed: {listing}")
            if name in out:
                same = "" if name == item else f' (an alias of "{name}")'
                raise self.fail(where, f"{what} {show(item)}{same} is listed twice, got {show(items)}")
            out.append(name)
        return tuple(out)

    def float_range(
        self,
        key: str,
        value: Any,
        *,
        within: tuple[float, float] | None = None,
        positive: bool = False,
    ) -> tuple[float, float]:
        """``[low, high]``: two finite numbers with low < high (optionally inside ``within``, or both > 0)."""
        shape = "expected [low, high] with low < high"
        if within is not None:
            shape += f", both in [{within[0]:g}, {within[1]:g}]"
        if positive:
            shape += ", both > 0"
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise self.fail(key, f"{shape}, {got(value)}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise self.fail(key, f"{shape} (finite numbers), got {show(value)}")
        low, high = float(value[0]), float(value[1])
        if not low < high:
            raise self.fail(key, f"{shape}, got {show(value)}")
        if within is not None and not (within[0] <= low and high <= within[1]):
            raise self.fail(key, f"{shape}, got {show(value)}")
        if positive and low <= 0:
            raise self.fail(key, f"{shape}, got {show(value)}")
        return low, high

    def int_range(self, key: str, value: Any, minimum: int) -> tuple[int, int]:
        """``[low, high]``: two integers >= ``minimum`` with low <= high (equal fixes the value)."""
        shape = f"expected [low, high] of integers >= {minimum} with low <= high"
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise self.fail(key, f"{shape}, {got(value)}")
        for v in value:
            if not Integer().accepts(v):
                raise self.fail(key, f"{shape}, got {show(value)} (an element is {type_name(v)})")
        low, high = int(value[0]), int(value[1])
        if low < minimum or low > high:
            raise self.fail(key, f"{shape}, got {show(value)}")
        return low, high
