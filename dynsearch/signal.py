"""Deprecated alias of the Pearson statistics, which live in ``dynsearch.signals`` since 0.2.

``from dynsearch.signal import PearsonStats`` keeps working with a ``DeprecationWarning``; import them
from ``dynsearch.signals`` (or ``dynsearch``) instead.
"""

from __future__ import annotations

import warnings

from .signals._pearson import (  # noqa: F401 - re-exported for old imports
    PearsonMoments,
    PearsonResult,
    PearsonStats,
    first_shift,
    merge_moments,
    moments_from_gram,
    pearson_from_moments,
    shifted_gram,
)

__all__ = ["PearsonStats", "PearsonMoments", "PearsonResult", "merge_moments", "pearson_from_moments",
           "moments_from_gram", "shifted_gram", "first_shift"]  # fmt: skip

warnings.warn("dynsearch.signal is deprecated: import its names from dynsearch.signals.", DeprecationWarning, stacklevel=2)
