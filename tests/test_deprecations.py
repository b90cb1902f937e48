"""Old import paths keep working, with a DeprecationWarning that names the new one."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(("old", "new", "names"), [
    ("dynsearch.signal", "dynsearch.signals", ["PearsonStats", "PearsonResult", "merge_moments", "shifted_gram"]),
    ("dynsearch.strategies.signals", "dynsearch.signals", ["get_signal", "implied_scope", "signal_names"]),
])  # fmt: skip
def test_an_old_module_warns_and_gives_the_same_objects(old: str, new: str, names: list[str]) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: import its names from {new}"):
        module = importlib.import_module(old)
    current = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(current, name), name
