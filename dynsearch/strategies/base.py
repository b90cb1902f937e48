"""The strategy protocol: parameters in ``__init__``, one decision rule, no I/O and no Optuna.

A strategy decides, from a Pearson r and a site's current state, the site's next (family, α).
It holds only its parameters; everything that changes during training lives on the sites.

Example:
    >>> from dynsearch.strategies import Strategy, SiteState, register_strategy
    >>> @register_strategy("always_tanh_doc")
    ... class AlwaysTanh(Strategy):
    ...     def decide(self, r: float, state: SiteState) -> SiteState:
    ...         return state.replace(family="tanh", alpha=1.0)
    >>> AlwaysTanh().to_config()["name"]
    'always_tanh_doc'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from .._constraints import Integer, check
from .._params import keyword_params
from ..activations import Family as ActivationFamily
from ..activations import get_family
from ..signals import REDUCTIONS, get_signal, implied_scope, signal_names
from .params import Choice, Family, Int, Param

if TYPE_CHECKING:
    from ..signals import Signal
    from ..sites import ActivationSite

__all__ = ["Strategy", "SiteState", "SCOPES", "SIGNALS", "REDUCTIONS", "ROLES", "COMMON_PARAMS"]

SCOPES = ("layer", "global")
SIGNALS = ("io", "target")  # the signals strategies read before dynsearch.signals; ``signal_names()`` lists all
ROLES = ("candidate", "baseline", "control")


def _signal_implies(name: Any) -> dict[str, Any]:
    scope = implied_scope(name)
    return {} if scope is None else {"scope": scope}


# The parameters every strategy takes, declared once. A strategy that does not read the signal
# searches only ``base``; a subclass's own declaration of one of these names replaces it.
COMMON_PARAMS: tuple[Param, ...] = (
    Family("base", ("relu", "tanh"), doc="family every site starts from"),
    Choice("scope", SCOPES, what="scope", doc="layer: each site its own r; global: one pooled r"),
    Choice("signal", signal_names, default=("io",), what="signal", implies=_signal_implies,
           doc="what the rule reads (a registered signal: dynsearch.signals)"),
    Choice("reduction", REDUCTIONS, default=("pooled",), what="reduction",
           doc="pooled: one value over all elements; unit_mean: per unit, averaged"),
    Int("every", 1, default=(1, 1), doc="adjust every k epochs"),
    Int("warmup", 0, default=(0, 0), doc="epochs before the first adjustment"),
)


@dataclass(frozen=True)
class SiteState:
    """What a strategy sees of one site when it decides.

    Attributes:
        family: the site's current family name.
        alpha: its current α.
        initial_family: the family the site started training with (the "base").
        initial_alpha: the α it started with (α₀).
        epoch: the epoch that just ended (0-based).
        last_switch_epoch: the epoch of the site's last family switch, or None.
    """

    family: str
    alpha: float
    initial_family: str
    initial_alpha: float
    epoch: int = 0
    last_switch_epoch: int | None = None

    def replace(self, **changes: Any) -> SiteState:
        return dataclasses.replace(self, **changes)


def check_learned_only(owner: str, name: str, family: ActivationFamily, learns: bool) -> None:
    """Refuse a learned-only family (ACON-C) where its parameters would not be learned."""
    if family.learned_only and not learns:
        extras = ", ".join(n for n, _ in family.extra_params)
        raise ValueError(
            f"The {name!r} parameter of {owner} cannot be {family.name!r}: its α and its {extras} are learned "
            f"by gradient, so it needs the learned strategy (base = {family.name!r})."
        )


def _check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    return int(check(value, Integer(minimum), name, owner=owner))  # stored as a plain int: JSON-safe


def _check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"The {name!r} parameter of {owner} must be one of {', '.join(choices)}. Got {value!r} instead.")
    return value


class Strategy:
    """Base class of all adjustment strategies.

    Subclasses override ``decide`` and take their own parameters as keyword-only arguments,
    stored unchanged under the same names (so ``get_params`` and ``clone`` work). Optional
    hooks: ``initial_state`` (the site's starting family and α), ``start_state`` (the same per site
    position, for strategies whose sites start apart) and ``setup_site``.

    Args:
        base: family every site starts from; None keeps each activation module's own family.
        scope: "layer" (each site uses its own r) or "global" (one pooled r for all sites).
        signal: the registered signal the rule reads (``dynsearch.signals.signal_names()``): "io" (r
            between a site's input and output), "target" (r between the network's output and the
            target; one value per network, so it implies global scope), "dead", "saturation",
            "gradient", "data", or one of your own.
        reduction: "pooled" (one value over all elements of a site, as the write-up's r) or
            "unit_mean" (the value per unit — feature or channel — averaged over units).
        every: adjust every k epochs.
        warmup: epochs to train before the first adjustment.
    """

    name: ClassVar[str] = ""
    #: Whether ``decide`` looks at r at all (False for fixed and learned: no signal needed).
    uses_signal: ClassVar[bool] = True
    #: "candidate" (a dynamic rule under test), "baseline" (what candidates are compared with) or
    #: "control" (changes activations without reading a signal: schedule, final_fixed).
    #: Reports pair every candidate with the best baseline chosen on validation.
    role: ClassVar[str] = "candidate"
    #: Whether a site's family or α can change during training (False only for ``fixed``).
    adjusts: ClassVar[bool] = True
    #: The strategy's own searchable parameters (see ``dynsearch.strategies.params``).
    search_space: ClassVar[tuple[Param, ...]] = ()
    #: Whether the strategy trains a site's parameters by gradient (``learned``): only such a strategy
    #: may use a learned-only family (ACON-C), whose parameters have no fixed value to start from.
    learns_parameters: ClassVar[bool] = False
    #: Parameters whose values make separate arms (equal budgets, compared on their own); None:
    #: ``("scope", "signal")`` for a strategy that reads the signal, else ``("base",)``.
    arm_axes: ClassVar[tuple[str, ...] | None] = None

    def __init__(
        self,
        *,
        base: str | None = None,
        scope: str = "layer",
        signal: str = "io",
        reduction: str = "pooled",
        every: int = 1,
        warmup: int = 0,
    ) -> None:
        owner = type(self).__name__
        if base is not None:
            check_learned_only(owner, "base", get_family(base), type(self).learns_parameters)
        self.base = base
        self.scope = _check_choice(owner, "scope", scope, SCOPES)
        self.signal = _check_choice(owner, "signal", signal, tuple(signal_names()))
        self.reduction = _check_choice(owner, "reduction", reduction, REDUCTIONS)
        self.every = _check_int(owner, "every", every, 1)
        self.warmup = _check_int(owner, "warmup", warmup, 0)

    # --- the decision rule -------------------------------------------------------------

    def decide(self, r: float, state: SiteState) -> SiteState:
        """Return the site's next state given the Pearson r it (or the network) showed."""
        raise NotImplementedError

    # --- optional hooks ---------------------------------------------------------------

    def initial_state(self, family: str, alpha: float) -> tuple[str, float]:
        """The (family, α) a site starts with, given the activation module it replaces."""
        if self.base is not None and get_family(self.base).name != get_family(family).name:
            chosen = get_family(self.base)
            return chosen.name, chosen.alpha_default
        return get_family(family).name, alpha

    def start_state(self, index: int, family: str, alpha: float) -> tuple[str, float]:
        """The (family, α) the site at position ``index`` (0-based, in ``dynsearch.sites`` order) starts with.

        ``apply`` asks it once per site, and the report asks it for the start of each site's trajectory.
        The default is ``initial_state(family, alpha)``, the same for every site; a strategy whose sites
        start apart (the ``final_fixed`` control) overrides this instead.
        """
        return self.initial_state(family, alpha)

    def setup_site(self, site: ActivationSite) -> None:
        """Called once when a site is created or re-assigned to this strategy. No-op by default."""

    def value_sources(self, n_sites: int, epoch: int) -> list[int] | None:
        """Which site's value each of the ``n_sites`` sites (in site order) decides from after ``epoch``;
        None (the default): each its own. The ``shuffled`` control feeds each site another site's value."""
        return None

    @classmethod
    def inert_share(cls, settings: Mapping[str, Any], r_range: tuple[float, float]) -> tuple[float, str] | None:
        """The share of an arm's declared space in which this rule can never change a site, and why.

        ``settings`` are the arm's resolved study settings (each parameter's range or choices, the arm's
        fixed values as one-value tuples); ``r_range`` is where the signal it reads lies (the study's
        calibration, else the signal's declared range). None (the default): nothing known to be inert.
        Study validation warns about an arm whose share is large, before anything trains.
        """
        return None

    # --- schedule ----------------------------------------------------------------------

    @property
    def effective_scope(self) -> str:
        """A per-network signal (target, data) is one value per network, so it always acts globally."""
        return implied_scope(self.signal) or self.scope

    def signal_object(self) -> Signal | None:
        """The signal this strategy reads, with its reduction (``None`` for a strategy that reads none)."""
        if not self.uses_signal:
            return None
        return get_signal(self.signal)(reduction=self.reduction)

    def should_adjust(self, epoch: int) -> bool:
        """Whether the adjustment runs after 0-based ``epoch`` (past warmup, every k epochs)."""
        done = epoch + 1
        return done > self.warmup and (done - self.warmup) % self.every == 0

    # --- search space ------------------------------------------------------------------

    @classmethod
    def declared_params(cls) -> tuple[Param, ...]:
        """Every searchable parameter: the common ones this strategy uses, then its own."""
        common = COMMON_PARAMS if cls.uses_signal else tuple(p for p in COMMON_PARAMS if p.name == "base")
        merged: dict[str, Param] = {p.name: p for p in common}
        for klass in reversed(cls.__mro__):
            for p in klass.__dict__.get("search_space", ()):
                merged[p.name] = p  # a subclass's declaration replaces an inherited one in place
        return tuple(merged.values())

    @classmethod
    def arm_layout(cls) -> tuple[str, ...]:
        """The parameters that make separate arms, in label order."""
        if cls.arm_axes is not None:
            return tuple(cls.arm_axes)
        return ("scope", "signal") if cls.uses_signal else ("base",)

    # --- parameters and config ----------------------------------------------------------

    @classmethod
    def param_names(cls) -> list[str]:
        """Keyword-only parameters of this class and its bases, base parameters first."""
        return keyword_params(cls)

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as stored (JSON-safe for the built-in strategies)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``; ``strategy_from_config`` inverts it exactly."""
        return {"name": self.name, "params": self.get_params()}

    def clone(self) -> Strategy:
        """A new strategy with the same parameters."""
        return type(self)(**self.get_params())

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted((k, repr(v)) for k, v in self.get_params().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
