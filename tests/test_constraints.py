"""The declared parameter constraints: what each accepts, and the one-line message for what it rejects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dynsearch._constraints import SEED, Integer, Real, Sizes, check


@pytest.mark.parametrize(
    ("constraint", "good", "bad", "text"),
    [
        (Integer(1), [1, 7, np.int64(3)], [0, -1, 1.0, True, "2", None], "an integer >= 1"),
        (Integer(0, 3), [0, 3], [-1, 4, 2.0, False], "an integer in [0, 3]"),
        (Integer(), [-5, 0], [0.5, True, "1"], "an integer"),
        (SEED, [0, 2**32 - 1], [-1, 2**32], "an integer in [0, 4294967295]"),
        (Real(0, low_open=True), [1e-9, 3], [0, -1.0, math.inf, math.nan, True, "1"], "a finite number > 0"),
        (Real(0), [0, 0.5, 2], [-0.1, math.nan, math.inf], "a finite number >= 0"),
        (Real(0, 1, high_open=True), [0, 0.99], [1, 1.0, -0.01, math.nan], "a number in [0, 1)"),
        (Sizes(), [(), [4], (64, 64)], ["64", (0,), (True,), (2.0,), 8, None], "a sequence of positive integers"),
        (Sizes(allow_empty=False), [(1,)], [(), []], "a non-empty sequence of positive integers"),
    ],
)
def test_each_constraint_accepts_and_rejects(constraint, good: list, bad: list, text: str) -> None:
    assert str(constraint) == text
    for value in good:
        assert constraint.accepts(value), value
        assert check(value, constraint, "x") is value
    for value in bad:
        assert not constraint.accepts(value), value
        with pytest.raises(ValueError) as info:
            check(value, constraint, "x")
        assert str(info.value) == f"x: expected {text}, got {value!r}."


def test_owner_form_and_error_class() -> None:
    with pytest.raises(ValueError, match=r"^The 'every' parameter of Sched must be an integer >= 1\. Got 0 instead\.$"):
        check(0, Integer(1), "every", owner="Sched")

    class Bad(Exception):
        pass

    with pytest.raises(Bad, match=r"^seed: expected an integer in \[0, 4294967295\], got -1\.$"):
        check(-1, SEED, "seed", error=Bad)


def test_numpy_integers_are_settings_and_are_stored_as_plain_ints() -> None:
    import json

    from dynsearch.strategies import make_strategy
    from dynsearch.train import TrainConfig

    config = TrainConfig(epochs=np.int64(3), hidden=[np.int64(4)])
    assert type(config.epochs) is int and config.hidden == (4,) and type(config.hidden[0]) is int
    json.dumps(config.to_dict())  # JSON-safe, as exports need
    strategy = make_strategy("threshold", every=np.int64(2))
    assert type(strategy.every) is int and strategy.every == 2
