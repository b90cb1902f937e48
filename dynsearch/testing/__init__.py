"""Test helpers for dynsearch users: a conformance suite for strategies.

Run the same contract checks the built-in strategies pass over your own registered strategy::

    from dynsearch.testing import check_strategy
    check_strategy("my_rule")          # or check_strategy(MyRule)

or, in a pytest module::

    import pytest
    from dynsearch.testing import check_strategy, strategy_names_for_tests

    @pytest.mark.parametrize("name", strategy_names_for_tests())
    def test_strategy_contract(name):
        check_strategy(name)
"""

from .space_conformance import check_search_space
from .strategy_conformance import check_strategy, strategy_names_for_tests

__all__ = ["check_strategy", "check_search_space", "strategy_names_for_tests"]
