"""Search-space declarations: what registration refuses, and what the conformance check catches."""

from __future__ import annotations

import math

import pytest

from dynsearch.strategies import Choice, Float, Int, SiteState, Strategy, get_strategy_class, register_strategy
from dynsearch.strategies.registry import _REGISTRY
from dynsearch.testing import check_search_space


@pytest.fixture(autouse=True)
def _forget_test_strategies():
    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        _REGISTRY.pop(name)


class _Base(Strategy):
    def decide(self, r: float, state: SiteState) -> SiteState:
        return state


def test_a_declared_parameter_must_be_a_constructor_parameter() -> None:
    class Typo(_Base):
        search_space = (Float("lamda", -1.0, 1.0),)

    with pytest.raises(TypeError, match="declares a search parameter 'lamda' that its __init__ does not take"):
        register_strategy("decl_typo")(Typo)
    assert "decl_typo" not in _REGISTRY


def test_an_arm_axis_must_be_a_declared_choice() -> None:
    class Axis(_Base):
        arm_axes = ("every",)  # an integer range cannot name arms

    with pytest.raises(TypeError, match="makes arms by 'every'"):
        register_strategy("decl_axis")(Axis)


def test_a_searched_float_needs_a_finite_default_range() -> None:
    class Open(_Base):
        search_space = (Float("gain", 0.0, math.inf),)

        def __init__(self, *, gain: float = 1.0, **common):
            super().__init__(**common)
            self.gain = gain

    with pytest.raises(TypeError, match="declares no finite default range"):
        register_strategy("decl_open")(Open)


def test_a_subclass_declaration_replaces_the_common_one_in_place() -> None:
    names = [p.name for p in get_strategy_class("linear").declared_params()]
    assert names[:6] == ["base", "scope", "signal", "reduction", "every", "warmup"]
    base = get_strategy_class("linear").declared_params()[0]
    assert base.accepts is not None and not base.accepts("gelu") and base.accepts("relu")
    assert [p.name for p in get_strategy_class("fixed").declared_params()] == ["base"]


def test_check_search_space_catches_a_declaration_wider_than_the_constructor() -> None:
    @register_strategy("decl_narrow_init")
    class Narrow(_Base):
        search_space = (Int("k", 0, 10), Choice("mode", ("a", "b")))

        def __init__(self, *, k: int = 0, mode: str = "a", **common):
            super().__init__(**common)
            if k > 5:
                raise ValueError(f"The 'k' parameter of Narrow must be <= 5. Got {k!r} instead.")
            self.k, self.mode = k, mode

    with pytest.raises(AssertionError, match=r"arm decl_narrow_init-layer sampled .* which it refuses: .*'k'"):
        check_search_space(Narrow)


@pytest.mark.parametrize("name", ["fixed", "threshold", "linear", "learned"])
def test_builtin_declarations_sample_only_valid_strategies(name: str) -> None:
    check_search_space(name, trials=60)
