"""Plugins: modules that register strategies (or signals) of their own, imported by every process.

Two ways to name them, both read by every dynsearch process (``run`` and its workers, a worker
started on its own, the report's re-training processes, ``train --config``):

- a study file's ``plugins = ["my_package.my_strategies"]``: imported before the rest of the file
  is checked, and stored with the study, so a worker that joins later imports them too;
- the entry-point group ``dynsearch.plugins`` of an installed package, imported the first time a
  strategy is looked up by name::

      [project.entry-points."dynsearch.plugins"]
      my_strategies = "my_package.my_strategies"

A module is found the way ``import`` finds it: installed, on ``PYTHONPATH``, or under the current
directory. One that fails to import is a ``PluginError`` naming the module and the cause. The functions a
study names as ``"package.module:function"`` (a model factory, a dataset loader, a fit) are found the same
way, by ``resolve_callable``.

Example:
    >>> load_plugins(["json"])
    ['json']
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
from typing import Any, Callable, Iterable

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginError",
    "load_plugins",
    "load_entry_point_plugins",
    "import_plugin",
    "resolve_callable",
]

ENTRY_POINT_GROUP = "dynsearch.plugins"
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class PluginError(ValueError):
    """A plugin module that cannot be imported; the message is one line naming it and the cause."""


_entry_points_done = False
_entry_point_error: PluginError | None = None


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _find_local_modules() -> None:
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.append(cwd)  # as `python -m` does: a user's module next to the study files is found


def import_plugin(module: str) -> str:
    """Import one plugin module by its dotted name; returns the name.

    Raises:
        PluginError: not a module name, or importing it raised (its own error is quoted).
    """
    if not isinstance(module, str) or not MODULE_RE.fullmatch(module):
        raise PluginError(f"plugin {module!r}: not a module name (expected a dotted name like 'my_package.strategies')")
    _find_local_modules()
    try:
        importlib.import_module(module)
    except Exception as exc:  # any error of a user's module is reported as that module's failure
        raise PluginError(f"plugin {module!r} cannot be imported: {_cause(exc)}") from None
    return module


def load_entry_point_plugins() -> None:
    """Import every module of the ``dynsearch.plugins`` entry-point group (once per process).

    Raises:
        PluginError: an installed plugin fails to import (raised again on every call).
    """
    global _entry_points_done, _entry_point_error
    if _entry_points_done:
        if _entry_point_error is not None:
            raise _entry_point_error
        return
    _entry_points_done = True  # first: a plugin that looks up strategies while importing must not recurse
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:
            _entry_point_error = PluginError(
                f"plugin {ep.value!r} (entry point {ep.name!r} of {ENTRY_POINT_GROUP}) cannot be imported: {_cause(exc)}"
            )
            raise _entry_point_error from None


def load_plugins(modules: Iterable[str] = ()) -> list[str]:
    """Import the installed entry-point plugins, then ``modules`` in order; returns ``modules``."""
    load_entry_point_plugins()
    return [import_plugin(m) for m in modules]


def resolve_callable(reference: str, what: str) -> Callable[..., Any]:
    """The object ``"package.module:name"`` names; a one-line ``ValueError`` when it is not a callable."""
    module, sep, attr = reference.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{what} {reference!r}: expected 'package.module:function'")
    _find_local_modules()
    try:
        obj: Any = importlib.import_module(module)
    except Exception as exc:  # a user's module: any import error is its failure
        raise ValueError(f"{what} {reference!r}: module {module!r} cannot be imported: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{what} {reference!r}: module {module!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{what} {reference!r}: {type(obj).__name__} object is not callable")
    function: Callable[..., Any] = obj
    return function
