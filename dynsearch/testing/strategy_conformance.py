"""The strategy contract as a reusable check, run over every registered strategy.

``check_strategy`` asserts what ``dynsearch.apply``, ``dynsearch.adjust``, the search and the config
export rely on: a strategy is constructible with its defaults, keeps its keyword-only parameters
under their own names, round-trips through JSON, clones, and decides purely, with a known family
and an α inside that family's range, including inside a short real training loop; and every value
its search-space declarations let a study sample builds it (``check_search_space``).

It raises ``AssertionError`` with a message naming the broken rule (no pytest needed), so a user
can run it over their own registered strategy.

Example:
    >>> from dynsearch.testing import check_strategy
    >>> check_strategy("threshold")
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from typing import Any, Callable

import torch
from torch import nn

from ..activations import activation_module, family_names, get_family
from ..adjustment import adjust
from ..sites import apply, needs_target_signal, observe_output, parameter_groups, sites
from ..strategies import SiteState, Strategy, get_strategy_class, strategy_from_config, strategy_names
from ..strategies.params import Choice

__all__ = ["check_strategy", "strategy_names_for_tests", "CHECKS"]

#: r values every decision is tried at (the write-up's thresholds, both ends and in between).
R_VALUES: tuple[float, ...] = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)

# Families a site may start from; a strategy may refuse some of them in ``initial_state``.
_START_FAMILIES: tuple[str, ...] = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "silu", "softplus", "gelu")


def strategy_names_for_tests() -> list[str]:
    """Names of the registered strategies, for ``pytest.mark.parametrize``.

    Call it after your own strategies are registered (e.g. below their definition, at import of
    the test module), so they are checked too.
    """
    return list(strategy_names())


def _fail(message: str) -> None:
    raise AssertionError(message)


def _resolve(cls_or_name: type[Strategy] | str) -> type[Strategy]:
    if isinstance(cls_or_name, str):
        return get_strategy_class(cls_or_name)
    if not (isinstance(cls_or_name, type) and issubclass(cls_or_name, Strategy)):
        _fail(f"check_strategy needs a Strategy subclass or a registered name, got {cls_or_name!r}.")
    return cls_or_name


def _label(cls: type[Strategy]) -> str:
    return f"{cls.__name__} ({cls.name!r})" if cls.name else cls.__name__


# --- the individual checks ---------------------------------------------------------------------


def check_registered(cls: type[Strategy]) -> None:
    """The class is registered under its ``name`` (``to_config`` and the search find it by that name)."""
    if not cls.name:
        _fail(f"{cls.__name__} has no name: register it with @register_strategy('...').")
    if cls.name not in strategy_names() or get_strategy_class(cls.name) is not cls:
        _fail(f"{_label(cls)} is not the class registered under {cls.name!r}.")


def check_signature(cls: type[Strategy]) -> None:
    """Every ``__init__`` in the class's hierarchy takes keyword-only parameters (plus ``**common``)."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object or not issubclass(klass, Strategy):
            continue
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind not in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD):
                _fail(
                    f"{klass.__name__}.__init__ parameter {p.name!r} must be keyword-only (put it after '*'): "
                    "get_params, clone and to_config only see keyword-only parameters."
                )
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty:
                _fail(f"{klass.__name__}.__init__ parameter {p.name!r} needs a default (strategies build from defaults).")


def check_params(strategy: Strategy) -> None:
    """``param_names()`` are the stored attributes, and ``get_params()`` reads exactly them."""
    cls = type(strategy)
    names = cls.param_names()
    if len(set(names)) != len(names):
        _fail(f"{_label(cls)}.param_names() repeats a name: {names}.")
    missing = [n for n in names if not hasattr(strategy, n)]
    if missing:
        _fail(f"{_label(cls)} does not store parameter {missing[0]!r} as an attribute of the same name.")
    params = strategy.get_params()
    if list(params) != names:
        _fail(f"{_label(cls)}.get_params() keys {list(params)} differ from param_names() {names}.")
    try:
        rebuilt = cls(**params)
    except Exception as exc:  # noqa: BLE001 - report any failure as a contract violation
        _fail(f"{_label(cls)} cannot be rebuilt from its own get_params() {params!r}: {exc!r}.")
    if rebuilt != strategy:
        _fail(f"{_label(cls)}(**get_params()) is not equal to the original: {rebuilt!r} != {strategy!r}.")


def check_config_round_trip(strategy: Strategy) -> None:
    """``to_config()`` is JSON and ``strategy_from_config`` of its JSON round trip is equal."""
    cls = type(strategy)
    cfg = strategy.to_config()
    if not isinstance(cfg, dict) or set(cfg) != {"name", "params"}:
        _fail(f"{_label(cls)}.to_config() must be {{'name': ..., 'params': {{...}}}}, got {cfg!r}.")
    if cfg["name"] != cls.name:
        _fail(f"{_label(cls)}.to_config()['name'] is {cfg['name']!r}, not its registered name {cls.name!r}.")
    try:
        text = json.dumps(cfg)
    except (TypeError, ValueError) as exc:
        _fail(f"{_label(cls)}.to_config() is not JSON-serializable ({exc}): {cfg!r}.")
    loaded = strategy_from_config(json.loads(text))
    if type(loaded) is not cls or loaded != strategy:
        _fail(f"{_label(cls)} does not survive a JSON config round trip: {loaded!r} != {strategy!r}.")
    if hash(loaded) != hash(strategy):
        _fail(f"{_label(cls)}: equal strategies hash differently after a config round trip.")


def check_clone(strategy: Strategy) -> None:
    """``clone()`` is an equal strategy of the same type, but a different object."""
    cls = type(strategy)
    twin = strategy.clone()
    if twin is strategy:
        _fail(f"{_label(cls)}.clone() returned the same object.")
    if type(twin) is not cls or twin != strategy or hash(twin) != hash(strategy):
        _fail(f"{_label(cls)}.clone() is not equal to the original: {twin!r} != {strategy!r}.")


def start_states(strategy: Strategy) -> list[SiteState]:
    """States a site can start in: ``initial_state`` of each family the strategy accepts."""
    states = []
    for name in _START_FAMILIES:
        try:
            family, alpha = strategy.initial_state(name, get_family(name).alpha_default)
        except ValueError:
            continue  # the strategy refuses this family (e.g. no α to adjust)
        states.append(SiteState(family, float(alpha), family, float(alpha), epoch=0))
    if not states:
        _fail(f"{_label(type(strategy))}.initial_state refuses every family of {_START_FAMILIES}.")
    return states


def _check_decision(strategy: Strategy, r: float, state: SiteState, new: Any) -> None:
    label = _label(type(strategy))
    where = f"{label}.decide({r}, {state})"
    if not isinstance(new, SiteState):
        _fail(f"{where} returned {new!r}, not a SiteState.")
    if new.family not in family_names():
        _fail(f"{where} returned family {new.family!r}; it must be a canonical family name ({', '.join(family_names())}).")
    if isinstance(new.alpha, bool) or not isinstance(new.alpha, (int, float)) or not math.isfinite(new.alpha):
        _fail(f"{where} returned α = {new.alpha!r}, not a finite float.")
    fam = get_family(new.family)
    if fam.has_alpha and fam.clip(new.alpha) != new.alpha:
        _fail(f"{where} returned α = {new.alpha!r}, outside {fam.name}'s range {fam.alpha_range}.")
    for field in ("initial_family", "initial_alpha", "epoch"):
        if getattr(new, field) != getattr(state, field):
            _fail(f"{where} changed {field} (a decision sets family and α only).")


def check_decide(strategy: Strategy) -> None:
    """Decisions are SiteStates with a known family and α in range, for every r, from start and later states."""
    frontier = start_states(strategy)
    # Two rounds: from the start states, then from every state the first round reached.
    for _round in range(2):
        reached = []
        for state in frontier:
            for r in R_VALUES:
                new = strategy.decide(r, state)
                _check_decision(strategy, r, state, new)
                reached.append(new.replace(epoch=state.epoch + 1))
        frontier = list(dict.fromkeys(reached))


def check_decide_pure(strategy: Strategy) -> None:
    """Same inputs give the same output; neither the state nor the strategy changes; no hidden memory."""
    cls = type(strategy)
    label = _label(cls)
    params_before = strategy.get_params()
    states = start_states(strategy)
    states += [s.replace(epoch=5, last_switch_epoch=4) for s in states]
    fresh = strategy.clone()
    for state in states:
        for r in R_VALUES:
            snapshot = dataclasses.replace(state)
            first = strategy.decide(r, state)
            second = strategy.decide(r, state)
            if first != second:
                _fail(f"{label}.decide({r}, {state}) is not deterministic: {first} then {second}.")
            if state != snapshot:
                _fail(f"{label}.decide changed its input state: {snapshot} became {state}.")
    if strategy.get_params() != params_before:
        _fail(f"{label}.decide changed the strategy's parameters: {params_before} became {strategy.get_params()}.")
    # A used strategy and a fresh clone must agree: decide may not remember earlier calls.
    for state in reversed(states):
        for r in reversed(R_VALUES):
            if strategy.decide(r, state) != fresh.decide(r, state):
                _fail(f"{label}.decide depends on earlier calls (a used instance and a fresh clone disagree at r={r}).")
    if not cls.uses_signal:
        for state in states:
            outcomes = {strategy.decide(r, state) for r in R_VALUES}
            if len(outcomes) != 1:
                _fail(f"{label} says uses_signal = False, but its decision at {state} depends on r.")


def _variants(strategy: Strategy) -> list[Strategy]:
    """The default strategy, and its global-scope and target-signal forms where it takes those parameters."""
    cls = type(strategy)
    params = strategy.get_params()
    declared = {p.name: p for p in cls.declared_params()}
    out = [strategy]
    for name, value in (("scope", "global"), ("signal", "target")):
        # Only where the strategy declares that value (the shuffled control reads per-site signals only).
        param = declared.get(name)
        allowed = param.allowed() if isinstance(param, Choice) else (value,)
        accepted = not isinstance(param, Choice) or param.accepts is None or param.accepts(value)
        if name in params and value in allowed and accepted:
            out.append(cls(**{**params, name: value}))
    return out


def _tiny_mlp(families: list[str]) -> nn.Module:
    act_a = activation_module(families[0])
    act_b = activation_module(families[1 % len(families)])
    return nn.Sequential(nn.Linear(4, 8), act_a, nn.Linear(8, 8), act_b, nn.Linear(8, 2))


def check_training(strategy: Strategy, *, epochs: int = 3, batches: int = 4) -> None:
    """``apply`` on a small MLP, a few SGD steps per epoch, ``adjust`` each epoch: one valid record per site."""
    label = _label(type(strategy))
    families = [s.initial_family for s in start_states(strategy)]
    for variant in _variants(strategy):
        torch.manual_seed(0)
        model = _tiny_mlp(families)
        model = apply(model, variant.to_config())
        found = sites(model)
        if len(found) != 2:
            _fail(f"{label}: apply made {len(found)} sites of a 2-activation MLP.")
        for name, site in found:
            if site.strategy != variant:
                _fail(f"{label}: site {name!r} holds {site.strategy!r}, not the applied strategy.")
        names = [name for name, _ in found]
        optimizer = torch.optim.SGD(parameter_groups(model, 1e-4), lr=0.05)
        x = torch.randn(batches * 16, 4)
        target = (x[:, 0] > x[:, 1]).long()
        for epoch in range(epochs):
            model.train()
            for xb, yb in zip(x.split(16), target.split(16)):
                optimizer.zero_grad()
                out = model(xb)
                loss = nn.functional.cross_entropy(out, yb)
                loss.backward()
                optimizer.step()
                if needs_target_signal(model):
                    observe_output(model, out, yb)
            if not math.isfinite(loss.item()):
                _fail(f"{variant!r}: the loss became {loss.item()} during training.")
            records = adjust(model, epoch)
            if [rec.get("site") for rec in records] != names:
                _fail(f"{variant!r}: adjust returned records for {[rec.get('site') for rec in records]}, expected {names}.")
            for rec, (_name, site) in zip(records, found):
                _check_record(variant, epoch, rec, site)


def _check_record(strategy: Strategy, epoch: int, rec: dict[str, Any], site: Any) -> None:
    where = f"{strategy!r}, epoch {epoch}, site {rec.get('site')!r}"
    expected = {"site", "r", "n", "degenerate", "family", "alpha", "switched"}
    if not expected <= set(rec):
        _fail(f"{where}: adjust's record lacks {sorted(expected - set(rec))}.")
    if not (math.isfinite(rec["r"]) and -1.0 <= rec["r"] <= 1.0):
        _fail(f"{where}: r = {rec['r']!r} is not in [-1, 1].")
    if rec["family"] not in family_names() or rec["family"] != site.family:
        _fail(f"{where}: record family {rec['family']!r} vs site family {site.family!r}.")
    fam = get_family(rec["family"])
    if not math.isfinite(rec["alpha"]) or (fam.has_alpha and fam.clip(rec["alpha"]) != rec["alpha"]):
        _fail(f"{where}: α = {rec['alpha']!r} is outside {fam.name}'s range {fam.alpha_range}.")


#: Every check, in the order ``check_strategy`` runs them (each takes a strategy instance).
CHECKS: tuple[Callable[[Strategy], None], ...] = (
    check_params,
    check_config_round_trip,
    check_clone,
    check_decide,
    check_decide_pure,
    check_training,
)


def check_strategy(cls_or_name: type[Strategy] | str | Strategy) -> None:
    """Assert the strategy contract for a registered strategy class (or its name).

    Given a strategy instance, the per-instance checks run on it instead of on the defaults (a variant
    such as ``ThresholdSwitch(between="keep")`` is checked as it will run).

    Raises:
        AssertionError: naming the first rule the strategy breaks.
    """
    instance = cls_or_name if isinstance(cls_or_name, Strategy) else None
    cls = type(instance) if instance is not None else _resolve(cls_or_name)  # type: ignore[arg-type]
    check_registered(cls)
    check_signature(cls)
    try:
        strategy = instance if instance is not None else cls()
    except Exception as exc:  # noqa: BLE001 - any failure to build from defaults breaks the contract
        raise AssertionError(f"{_label(cls)}() cannot be built from its defaults: {exc!r}.") from exc
    for check in CHECKS:
        check(strategy)
    # optuna and the search space load only for the search-space check, not for a strategy's own checks
    from .space_conformance import check_search_space

    check_search_space(cls)
