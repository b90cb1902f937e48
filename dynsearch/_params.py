"""Constructor parameters read from a class's signature: what ``get_params`` and config round trips use.

Strategies and signals both keep their parameters as keyword-only ``__init__`` arguments stored under
the same names (scikit-learn's convention), so both read them here.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["keyword_params", "keyword_defaults"]


def _keyword_only(cls: type) -> dict[str, inspect.Parameter]:
    # Base classes first; a subclass that re-declares a name keeps the base's position.
    found: dict[str, inspect.Parameter] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in found:
                found[p.name] = p
    return found


def keyword_defaults(cls: type) -> dict[str, Any]:
    """The defaults of ``cls``'s keyword-only ``__init__`` parameters (those that have one), as ``keyword_params``
    finds them."""
    return {n: p.default for n, p in _keyword_only(cls).items() if p.default is not inspect.Parameter.empty}


def keyword_params(cls: type) -> list[str]:
    """Keyword-only ``__init__`` parameters of ``cls`` and its bases, base parameters first.

    Example:
        >>> class A:
        ...     def __init__(self, *, a: int = 1) -> None: ...
        >>> class B(A):
        ...     def __init__(self, *, b: int = 2, **kw) -> None: ...
        >>> keyword_params(B)
        ['a', 'b']
    """
    return list(_keyword_only(cls))
