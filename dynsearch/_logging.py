"""Optuna's log level changed only for as long as a piece of dynsearch needs it, then restored."""

from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["optuna_verbosity"]


@contextlib.contextmanager
def optuna_verbosity(level: int) -> Iterator[None]:
    """Set Optuna's logging verbosity inside the block (or decorated function) and restore it after.

    Example:
        >>> import optuna
        >>> before = optuna.logging.get_verbosity()
        >>> with optuna_verbosity(optuna.logging.ERROR):
        ...     optuna.logging.get_verbosity() == optuna.logging.ERROR
        True
        >>> optuna.logging.get_verbosity() == before
        True
    """
    # optuna loads on first use: a search worker that does not need it never imports it
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(level)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
