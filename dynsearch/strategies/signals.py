"""Deprecated alias: which signal a strategy reads lives in ``dynsearch.signals`` since 0.2.

``from dynsearch.strategies.signals import get_signal`` keeps working with a ``DeprecationWarning``;
import ``get_signal``, ``implied_scope`` and ``signal_names`` from ``dynsearch.signals`` instead.
"""

from __future__ import annotations

import warnings

from ..signals import get_signal, implied_scope, register_signal, signal_names

__all__ = ["get_signal", "signal_names", "register_signal", "implied_scope"]

warnings.warn("dynsearch.strategies.signals is deprecated: import its names from dynsearch.signals.",
              DeprecationWarning, stacklevel=2)  # fmt: skip
