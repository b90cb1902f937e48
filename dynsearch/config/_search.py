"""The ``[search]`` table, validated against the strategies' own declarations.

Where a setting comes from, first match wins:

1. ``[search.<strategy>] KEY = ...``: that strategy's parameter ``KEY`` (or one of its aliases);
2. ``[search] KEY = ...``: every searched strategy that declares ``KEY`` (``bases``, ``scopes`` and
   ``signals`` are the plural spellings of ``base``, ``scope`` and ``signal``). A value that a
   strategy's own rule refuses (a base without α for a rule that adjusts α) is left out for that
   strategy, and it is an error only when nothing is left;
3. the declaration's default.

No strategy is named here: what each one searches is read from ``Strategy.declared_params()``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..signals import get_signal_class, signal_names
from ..strategies import COMMON_PARAMS, get_strategy_class, strategy_names
from ..strategies.builtin import BUILTIN_STRATEGIES
from ..strategies.params import Choice, Param
from ._calibrated import Calibrated, calibrated_setting, is_calibrated, per_signal
from ._errors import Checker, got, join_key, show
from ._sections import HINTS, elsewhere
from ._spec import SearchSpace, StrategySpace

__all__ = ["parse_search", "PLURAL_KEYS", "SHARED_KEYS"]

# The [search] spelling of the common choices.
PLURAL_KEYS = {"bases": "base", "scopes": "scope", "signals": "signal", "reductions": "reduction"}
# [search] keys that are not strategy parameters.
SHARED_KEYS = ("strategies", "lr", "width")
LEGACY_KEY = "legacy_arms"  # set only on specs stored by dynsearch 0.1 (see StudySpec.from_dict)


def _declared(name: str) -> dict[str, Param]:
    return {p.name: p for p in get_strategy_class(name).declared_params()}


def _allowed_top_keys(registered: list[str]) -> list[str]:
    """Shared keys, the common choices in plural, then every declared parameter, then the strategy tables."""
    keys = list(SHARED_KEYS) + list(PLURAL_KEYS)
    singular = set(PLURAL_KEYS.values())  # written in plural at this level
    for p in [*COMMON_PARAMS, *(p for name in registered for p in _declared(name).values())]:
        for k in (p.name, *p.aliases):
            if k not in keys and k not in singular:
                keys.append(k)
    return keys + [n for n in registered if n not in keys]


def parse_search(c: Checker, value: Any, study: str = "") -> SearchSpace:
    """The ``[search]`` table of study ``study`` (its name locates a calibration for ``"calibrated"`` ranges)."""
    s = c.table("search", value)
    registered = strategy_names()
    allowed = _allowed_top_keys(registered)
    legacy = s.pop(LEGACY_KEY, False) is True
    c.known_keys("search", s, allowed, elsewhere("search"), HINTS["search"])
    defaults = [n for n in BUILTIN_STRATEGIES if n in registered]
    names = c.choices("search.strategies", s["strategies"], registered, what="strategy") if "strategies" in s \
        else tuple(defaults)  # fmt: skip
    signal_ranges: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    if isinstance(s.get("signals"), Mapping):
        # signals = { io = { lower = [...], upper = [...] }, dead = {...} }: the signals, each with its ranges.
        signal_ranges = _signal_ranges(c, s["signals"], names)
        s["signals"] = [name for name, _ in signal_ranges]
    for key in s:
        if key in registered and key not in names:
            raise c.fail(f"search.{key}", f'settings for strategy "{key}", which the study does not search; '
                         f"add it to search.strategies ({show(list(names))})")  # fmt: skip
    _check_shared(c, s, registered)
    spaces = tuple(_strategy_space(c, s, name, study) for name in names)
    lr = None if s.get("lr") is None else c.float_range("search.lr", s["lr"], positive=True)
    width = None if s.get("width") is None else c.int_range("search.width", s["width"], 1)
    space = SearchSpace(strategies=spaces, lr=lr, width=width, legacy_arms=legacy, signal_ranges=signal_ranges)
    _check_signal_ranges(c, space)
    return space


def _signal_ranges(c: Checker, table: Mapping[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """``[search.signals]``: each registered signal with the ranges of the searched parameters compared with it."""
    known = signal_names()
    params: dict[str, Param] = {}
    for name in names:
        for p in _declared(name).values():
            if getattr(p, "on_signal", False):
                params.setdefault(p.name, p)
    out = []
    for signal, value in table.items():
        key = join_key("search.signals", signal)
        if signal not in known:
            raise c.fail(key, f"unknown signal {show(signal)}; registered signals: {', '.join(known)}")
        ranges = c.table(key, value)
        c.known_keys(key, ranges, list(params))
        low, high = get_signal_class(signal).value_range
        within = (low, high) if all(abs(v) < float("inf") for v in (low, high)) else None
        out.append((signal, tuple((k, c.float_range(join_key(key, k), v, within=within)) for k, v in ranges.items())))
    if not out:
        raise c.fail("search.signals", "expected at least one signal, got {}")
    return tuple(out)


def _check_signal_ranges(c: Checker, space: SearchSpace) -> None:
    """Every signal's ranges leave each strategy that reads it a valid draw (a threshold pair lower < upper)."""
    for strategy in space.strategies:
        signals = strategy.as_dict().get("signal") or ()
        for signal in signals:
            settings = space.settings_for(strategy.name, signal)
            if any(isinstance(v, Calibrated) for v in settings.values()):
                continue  # calibration still to be made: its ranges are checked when they exist
            for p in _declared(strategy.name).values():
                problem = p.check(settings) if p.check is not None and p.name in settings else None
                if problem:
                    raise c.fail(join_key("search.signals", signal), f"for {strategy.name}: {problem}")


def _check_shared(c: Checker, s: Mapping[str, Any], registered: list[str]) -> None:
    """Every ``[search]`` setting is checked, even when no searched strategy uses it (a typo is still a typo)."""
    declarations = [p for p in COMMON_PARAMS] + [p for n in registered for p in _declared(n).values()]
    for key, value in s.items():
        if key in SHARED_KEYS or key in registered or value is None or is_calibrated(value):
            continue  # null: not searched; "calibrated" is checked per strategy (it needs the strategy's signals)
        name = PLURAL_KEYS.get(key, key)
        for p in declarations:
            if p.name == name or key in p.aliases:
                _setting(c, f"search.{key}", value, p, strict=False)
                break


def _strategy_space(c: Checker, s: Mapping[str, Any], name: str, study: str = "") -> StrategySpace:
    params = _declared(name)
    table_key = f"search.{name}"
    own = c.table(table_key, s.get(name, {}))
    keys = [k for p in params.values() for k in (p.name, *p.aliases)]
    c.known_keys(table_key, own, keys)
    settings: dict[str, Any] = {}
    where: dict[str, str] = {}
    for p in params.values():
        shared = _shared_source(s, p)
        if shared is not None and not is_calibrated(s[shared.removeprefix("search.")]):
            _setting(c, shared, s[shared.removeprefix("search.")], p, strict=False)  # checked even if overridden
        key, value, strict = _source(s, own, p, table_key)
        where[p.name] = key or join_key(table_key, p.name)
        setting: Any
        if key is None:
            setting = p.default_setting()
        elif is_calibrated(value):
            setting = calibrated_setting(c, key, value, p, settings.get("signal"), study)
        else:
            setting = _setting(c, key, value, p, strict=strict)
        if isinstance(p, Choice) and setting is not None and not setting:
            # Every value of a [search] key was refused by this strategy's own rule.
            raise c.fail("search.strategies", f'"{name}" needs {p.accepts_text} for {p.name}, but none of {key} '
                         f"{show(list(value))} is one; add one or remove \"{name}\"")  # fmt: skip
        if setting is not None:
            settings[p.name] = setting
    for p in params.values():
        for signal, resolved in per_signal(settings):  # a calibrated range differs per signal: each must pass
            problem = p.check(resolved) if p.check is not None and p.name in resolved else None
            if problem:
                where_from = f" (with the calibrated ranges of signal {signal!r})" if signal is not None else ""
                raise c.fail(where[p.name], problem + where_from)
    return StrategySpace(name, tuple(settings.items()))


def _shared_source(s: Mapping[str, Any], p: Param) -> str | None:
    """The ``[search]`` key that sets ``p`` for every strategy declaring it, if the file has one."""
    plural = [k for k, v in PLURAL_KEYS.items() if v == p.name]
    for k in (*(plural or [p.name]), *p.aliases):
        if s.get(k) is not None:  # null: not searched (the stored form writes it so)
            return f"search.{k}"
    return None


def _source(s: Mapping[str, Any], own: Mapping[str, Any], p: Param, table_key: str) -> tuple[str | None, Any, bool]:
    """``(key path, value, strict)`` of the setting that applies to ``p``, or ``(None, None, True)``."""
    for k in (p.name, *p.aliases):
        if k in own:
            return join_key(table_key, k), own[k], True
    shared = _shared_source(s, p)
    if shared is not None:
        return shared, s[shared.removeprefix("search.")], False
    return None, None, True


def _setting(c: Checker, key: str, value: Any, p: Param, *, strict: bool) -> Any:
    if p.kind == "float":
        within = None if (p.low, p.high) == (float("-inf"), float("inf")) else (p.low, p.high)
        return c.float_range(key, value, within=within, positive=p.log)
    if p.kind == "int":
        low, high = c.int_range(key, value, p.low)
        if p.high is not None and high > p.high:
            raise c.fail(key, f"expected [low, high] of integers in [{p.low}, {p.high}], got {show(value)}")
        return low, high
    return _choices(c, key, value, p, strict=strict)


def _choices(c: Checker, key: str, value: Any, p: Choice, *, strict: bool) -> tuple[Any, ...]:
    allowed = p.allowed()
    names = [a for a in allowed if isinstance(a, str)]
    listing = ", ".join(show(a) if not isinstance(a, str) else a for a in allowed)
    if p.what == "activation family":
        listing += " (aliases: swish, leakyrelu, linear, none)"
    if all(isinstance(a, str) for a in allowed):
        values = c.choices(key, value, names, what=p.what, canonical=p.to_value, allowed_text=listing)
    else:
        items = c.array(key, value, "values")
        if not items:
            raise c.fail(key, f"expected at least one {p.what}, got []; allowed: {listing}")
        listed: list[Any] = []
        for i, item in enumerate(items):
            v = p.to_value(item)
            if v is None:
                raise c.fail(join_key(key, i), f"expected one of {listing}, {got(item)}")
            if v in listed:
                raise c.fail(join_key(key, i), f"{show(item)} is listed twice, got {show(items)}")
            listed.append(v)
        values = tuple(listed)
    if p.accepts is None:
        return tuple(values)
    if strict:
        for i, v in enumerate(values):
            if not p.accepts(v):
                ok = ", ".join(str(a) for a in allowed if p.accepts(a))
                raise c.fail(join_key(key, i), f"{show(v)} is not {p.accepts_text}; allowed: {ok}")
    return tuple(v for v in values if p.accepts(v))
