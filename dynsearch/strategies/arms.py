"""Arms: the groups of trials that get equal budgets and are compared with each other.

A strategy declares which of its parameters make separate arms (``Strategy.arm_layout()``:
``("scope", "signal")`` by default, ``("base",)`` for the fixed and learned baselines). Each
combination of those values the study allows is one ``Arm``: the strategy, the fixed values and a
label. A value that forces another (a per-network signal forces global scope) is applied, so an
arm's label never promises what its trials do not do.

Example:
    >>> arms = strategy_arms("threshold", {"scope": ("layer", "global"), "signal": ("io", "target")})
    >>> [a.label for a in arms]
    ['threshold-layer-io', 'threshold-global-io', 'threshold-target']
    >>> arms[2].params
    {'scope': 'global', 'signal': 'target'}
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping

from .._params import keyword_defaults
from .params import Setting
from .registry import get_strategy_class

__all__ = ["Arm", "strategy_arms"]


@dataclass(frozen=True)
class Arm:
    """One arm of a study.

    Attributes:
        strategy: the registered strategy name.
        fixed: the arm's parameter values, ``((name, value), ...)`` in layout order; every trial of
            the arm has exactly these.
        label: the arm's name in reports, trial tables and queued trials, e.g. ``threshold-layer``.
        role: the strategy's role, "candidate" or "baseline".
        adjusts: whether the strategy changes a site's family or α while training.
    """

    strategy: str
    fixed: tuple[tuple[str, Any], ...]
    label: str
    role: str = "candidate"
    adjusts: bool = True

    @property
    def params(self) -> dict[str, Any]:
        """The fixed parameter values as a dict."""
        return dict(self.fixed)

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def __str__(self) -> str:
        return self.label


#: The axes every strategy has; a further axis (the threshold rule's ``between``) is named whenever its value is not
#: the constructor's default, so a study that lists only ``between = ["keep"]`` gets ``threshold-layer-io-keep``,
#: never the literal rule's label.
_LAYOUT_AXES = ("scope", "signal", "base")


def _non_default(cls: type, axis: str, value: Any) -> bool:
    if axis in _LAYOUT_AXES or isinstance(value, bool):
        return False
    defaults = keyword_defaults(cls)
    return axis in defaults and value != defaults[axis]


def _labelled(value: Any, shown: bool) -> bool:
    # A boolean axis names itself when true (learned-relu-per_channel) and stays out of the label when false.
    return value if isinstance(value, bool) else shown


def strategy_arms(name: str, settings: Mapping[str, Setting], skip_axes: tuple[str, ...] = ()) -> list[Arm]:
    """The arms of strategy ``name`` under a study's resolved ``settings`` (param -> allowed values).

    Label: the strategy name, then each layout value that is the first axis, varies in the study,
    or forces another value; a value forced by another is left out (``threshold-target``, not
    ``threshold-layer-target``); a boolean axis adds its own name when true, nothing when false
    (``learned-relu-per_channel``, ``learned-relu``). Arms whose values are forced come after the others.
    ``skip_axes`` reads studies stored before an axis made arms (their trials sample it inside).
    """
    cls = get_strategy_class(name)
    declared = {p.name: p for p in cls.declared_params()}
    axes = [a for a in cls.arm_layout() if settings.get(a) and a not in skip_axes]
    value_lists = [tuple(settings[a]) for a in axes]
    plain: list[Arm] = []
    forced: list[Arm] = []
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for combo in itertools.product(*value_lists):
        values = dict(zip(axes, combo))
        implied: dict[str, Any] = {}
        implying: set[str] = set()
        for axis in axes:
            rule = getattr(declared[axis], "implies", None)
            more = dict(rule(values[axis])) if rule is not None else {}
            if more:
                implying.add(axis)
                implied.update(more)
        values.update(implied)
        key = tuple(values.items())
        if key in seen:
            continue
        seen.add(key)
        parts = [name] + [
            a if values[a] is True else str(values[a])
            for i, a in enumerate(axes)
            if a not in implied and _labelled(values[a], i == 0 or len(value_lists[i]) > 1 or a in implying
                                               or _non_default(cls, a, values[a]))
        ]
        arm = Arm(name, key, "-".join(parts), cls.role, cls.adjusts)
        (forced if implied else plain).append(arm)
    return plain + forced
