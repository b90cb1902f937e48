"""Controls: strategies that change activations without acting on what a site's signal says.

Set beside a candidate, they tell "adjusting helps" from "reading r helps": ``schedule`` makes a
switch at a fixed epoch, whatever r says; ``final_fixed`` starts every site in the state a
dynamic run ended in and keeps it; ``shuffled`` runs the candidate's own threshold or linear rule
on a signal whose pairing with the site is destroyed (each site reads another site's value).
The first two read no signal (``uses_signal = False``), so sites measure nothing for them.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any, Sequence

from ..activations import get_family
from ..signals import get_signal, signal_names
from .base import SCOPES, SiteState, Strategy, _check_int
from .builtin import BETWEEN, LinearUpdate, ThresholdSwitch, _family_name, _lower_bounds, _pair_exists, _upper_bounds
from .params import Choice, Family, Float, Int
from .registry import register_strategy

if TYPE_CHECKING:
    pass

__all__ = ["ScheduledSwitch", "FinalFixed", "ShuffledSignal"]


def _alpha_for(owner: str, name: str, value: object, family: str) -> float:
    """A finite α inside ``family``'s range (any finite number for a family without α)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"The {name!r} parameter of {owner} must be a finite number. Got {value!r} instead.")
    fam = get_family(family)
    if fam.has_alpha:
        low, high = fam.alpha_range  # type: ignore[misc]
        if not low <= value <= high:
            raise ValueError(
                f"The {name!r} parameter of {owner} must lie in {fam.name}'s α range [{low}, {high}]. "
                f"Got {value!r} instead."
            )
    return float(value)


@register_strategy("schedule")
class ScheduledSwitch(Strategy):
    """Switch family and/or set α after a fixed number of epochs, reading no signal.

    After ``at`` epochs (at the end of 0-based epoch ``at - 1``, at the first adjustment that
    ``every`` / ``warmup`` allow from then on) every site takes family ``to`` and α ``alpha``, and
    keeps them. Place it at the epoch where a candidate switched to test whether the switch, not
    the r that triggered it, made the difference.

    Args:
        at: epochs trained before the switch, >= 1.
        to: the family to switch to; None keeps each site's family (then ``alpha`` moves α only).
        alpha: the α to set, inside ``to``'s range; None gives ``to``'s default α (or keeps α when
            the family does not change). With ``to`` None it is clipped to each site's family range.

    Example:
        >>> s = ScheduledSwitch(at=3, to="tanh")
        >>> start = SiteState("relu", 0.0, "relu", 0.0, epoch=1)
        >>> s.decide(0.9, start).family, s.decide(0.9, start.replace(epoch=2)).family
        ('relu', 'tanh')
    """

    uses_signal = False
    role = "control"
    # A study searches when and to what every site switches (arms by base, as for the baselines).
    search_space = (
        Int("at", 1, default=(2, 6), doc="epochs trained before the switch"),
        Family("to", ("tanh", "sigmoid"), doc="family every site switches to"),
    )

    def __init__(self, *, at: int = 5, to: str | None = "tanh", alpha: float | None = None, **common: Any) -> None:
        super().__init__(**common)
        owner = type(self).__name__
        at = _check_int(owner, 'at', at, 1)
        self.at = at
        self.to = None if to is None else _family_name(owner, "to", to)
        if to is None and alpha is None:
            raise ValueError(f"{owner} needs a family 'to' or an 'alpha' to set; both are None.")
        # Without a target family, α is clipped to each site's family when the switch happens.
        self.alpha = None if alpha is None else _alpha_for(owner, "alpha", alpha, self.to or "identity")

    def decide(self, r: float, state: SiteState) -> SiteState:
        if state.epoch + 1 < self.at:
            return state
        family = state.family if self.to is None else self.to
        fam = get_family(family)
        if self.alpha is not None:
            alpha = fam.clip(self.alpha)
        else:
            alpha = state.alpha if family == state.family else fam.alpha_default
        if family == state.family and alpha == state.alpha:
            return state
        return state.replace(family=family, alpha=alpha)


def _as_list(value: Any) -> list[Any] | None:
    return list(value) if isinstance(value, (list, tuple)) else None


@register_strategy("final_fixed")
class FinalFixed(Strategy):
    """Start each site in the family and α a dynamic run ended with, and never adjust.

    ``families`` and ``alphas`` are one value for every site or a list with one entry per site, in
    site order (``dynsearch.sites(model)``). A list suits a model with exactly that many sites:
    ``apply`` numbers sites in the order it meets them and starts again after the last entry, so
    one instance serves several models of the same shape. ``FinalFixed.from_records`` builds it from
    ``dynsearch.adjust`` records (or a training history's last epoch).

    Args:
        families: a family, or a list of families (None: ``base``, else relu).
        alphas: an α, a list of αs (each inside its family's range), or None for each family's default.

    Example:
        >>> s = FinalFixed(families=["tanh", "relu"], alphas=[1.5, 0.0])
        >>> [s.start_state(i, "relu", 0.0) for i in range(3)]
        [('tanh', 1.5), ('relu', 0.0), ('tanh', 1.5)]
    """

    uses_signal = False
    role = "control"

    def __init__(
        self, *, families: str | Sequence[str] | None = None, alphas: float | Sequence[float] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        owner = type(self).__name__
        if families is None:  # a study's final_fixed-<base> arm trains <base>
            families = self.base if self.base is not None else "relu"
        family_list, alpha_list = _as_list(families), _as_list(alphas)
        if family_list is not None and not family_list:
            raise ValueError(f"The 'families' parameter of {owner} must be a family or a non-empty list. Got [] instead.")
        if alpha_list is not None and not alpha_list:
            raise ValueError(
                f"The 'alphas' parameter of {owner} must be a number, a non-empty list or None. Got [] instead."
            )
        if family_list is not None and alpha_list is not None and len(family_list) != len(alpha_list):
            raise ValueError(
                f"The 'families' and 'alphas' parameters of {owner} must have one entry per site each. "
                f"Got {len(family_list)} families and {len(alpha_list)} alphas."
            )
        if family_list is not None:
            self.families: str | list[str] = [_family_name(owner, f"families[{i}]", f) for i, f in enumerate(family_list)]
        else:
            self.families = _family_name(owner, "families", families)
        self.n_sites = max(len(family_list or []), len(alpha_list or []))  # 0: the same for every site
        if alpha_list is not None:
            self.alphas: float | list[float] | None = [_alpha_for(owner, f"alphas[{i}]", a, self._family_at(i)) for i, a in enumerate(alpha_list)]
        elif alphas is not None:
            for family in family_list or [self.families]:  # one α for every site: inside every family's range
                _alpha_for(owner, "alphas", alphas, family)
            self.alphas = float(alphas)  # type: ignore[arg-type]
        else:
            self.alphas = None

    def _family_at(self, index: int) -> str:
        return self.families[index] if isinstance(self.families, list) else self.families

    def state_at(self, index: int) -> tuple[str, float]:
        """The (family, α) of the site at position ``index`` (0-based, in site order)."""
        if self.n_sites:
            index %= self.n_sites
        family = self._family_at(index)
        alpha = self.alphas[index] if isinstance(self.alphas, list) else self.alphas
        fam = get_family(family)
        return family, fam.alpha_default if alpha is None or not fam.has_alpha else float(alpha)

    def initial_state(self, family: str, alpha: float) -> tuple[str, float]:
        return self.state_at(0)

    def start_state(self, index: int, family: str, alpha: float) -> tuple[str, float]:
        return self.state_at(index)

    def decide(self, r: float, state: SiteState) -> SiteState:
        return state

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]], **common: Any) -> FinalFixed:
        """The control of a run that ended with these site records (``adjust``'s, or a history's last epoch).

        One value is kept when every site agrees, else one entry per site.

        Example:
            >>> records = [{"family": "tanh", "alpha": 1.0}, {"family": "tanh", "alpha": 1.0}]
            >>> FinalFixed.from_records(records).get_params()["families"]
            'tanh'
        """
        if not records:
            raise ValueError("FinalFixed.from_records needs the records of at least one site.")
        families = [get_family(str(rec["family"])).name for rec in records]
        alphas = [float(rec["alpha"]) for rec in records]
        if len(set(families)) == 1 and len(set(alphas)) == 1:
            return cls(families=families[0], alphas=alphas[0], **common)
        return cls(families=families, alphas=alphas, **common)


RULES = ("threshold", "linear")


def _per_site_signals() -> list[str]:
    return [name for name in signal_names() if not get_signal(name).per_network]


def _for_rule(rule: str, bounds: Any) -> Any:
    # A parameter of the other rule is not drawn (a trial of one rule never carries the other's values).
    return lambda v, s: bounds(v, s) if v.get("rule") == rule else None


@register_strategy("shuffled")
class ShuffledSignal(Strategy):
    """The candidate's rule fed a signal whose pairing is destroyed: each site reads another site's value.

    After every adjustment epoch, the sites' values of the epoch are permuted by a random cyclic
    permutation (Sattolo's algorithm, seeded by ``seed`` and the epoch), so no site ever reads its own
    value, and each site applies the threshold or linear rule to the value it was dealt. The values
    stay where the signal actually lies during this run (unlike r from permuted pairs, which is ≈ 0
    for a Pearson signal and unchanged for a share); only the link between a site and its value is
    cut. So the rule adjusts about as often as the candidate, but blind to its site.

    It needs layer scope, a per-site signal and a model with at least two sites (with one site there
    is no other value to read: ``adjust`` raises). The records of ``adjust`` give each site's ``r``
    (the value it decided from) and ``source`` (the site it was measured at).

    Args:
        rule: "threshold" (``lower``, ``upper``, ``below``, ``above``, ``cooldown``, ``between`` as ``ThresholdSwitch``)
            or "linear" (``lam``, ``alpha0``, ``cumulative`` as ``LinearUpdate``).
        seed: seeds the permutations: the same seed gives the same run, in ``train()`` and packed.

    Example:
        >>> s = ShuffledSignal(rule="threshold", lower=0.8, upper=0.95, seed=3)
        >>> sorted(s.value_sources(3, epoch=0)) == [0, 1, 2], all(i != j for i, j in enumerate(s.value_sources(3, 0)))
        (True, True)
    """

    role = "control"
    arm_axes = ("rule", "scope", "signal")
    search_space = (
        Choice("rule", RULES, default=("threshold",), what="rule", doc="the candidate rule it runs"),
        # Every scope and signal is a valid value (a study's shared `scopes`/`signals` list them all);
        # this control accepts layer scope and the per-site signals only.
        Choice("scope", SCOPES, default=("layer",), what="scope", accepts=lambda v: v == "layer",
               accepts_text="layer scope (each site reads another site's value)", doc="layer only"),
        Choice("signal", signal_names, default=("io",), what="signal", accepts=lambda v: not get_signal(v).per_network,
               accepts_text="a per-site signal", doc="the signal it shuffles"),
        Float("lower", -1.0, 1.0, default=(-0.9, 0.0), bounds=_for_rule("threshold", lambda v, s: _lower_bounds(s)),
              on_signal=True, doc="threshold rule: lower threshold"),
        Float("upper", -1.0, 1.0, default=(0.0, 0.9), bounds=_for_rule("threshold", _upper_bounds),
              on_signal=True, check=lambda s: _pair_exists(s), doc="threshold rule: upper threshold"),
        Family("below", ("tanh",), doc="threshold rule: family when r < lower"),
        Family("above", ("sigmoid",), doc="threshold rule: family when r > upper"),
        Int("cooldown", 0, default=(0, 0), doc="threshold rule: minimum epochs between two switches"),
        Choice("between", BETWEEN, searched=False, what="between rule",
               doc="threshold rule: base (the write-up's rule) or keep (hysteresis) between the thresholds"),
        Float("lam", default=(-1.0, 1.0), aliases=("lambda",), bounds=_for_rule("linear", lambda v, s: s["lam"]),
              doc="linear rule: λ in α = α₀ + λ·r"),
        Choice("cumulative", (False, True), searched=False, what="boolean", doc="linear rule: α ← α + λ·r"),
        Int("seed", 0, default=(0, 0), doc="seed of the permutations"),
    )

    def __init__(
        self,
        *,
        rule: str = "threshold",
        lower: float = -0.5,
        upper: float = 0.5,
        below: str = "tanh",
        above: str = "sigmoid",
        cooldown: int = 0,
        between: str = "base",
        lam: float = 0.1,
        alpha0: float | None = None,
        cumulative: bool = False,
        seed: int = 0,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        owner = type(self).__name__
        if rule not in RULES:
            raise ValueError(f"The 'rule' parameter of {owner} must be one of {', '.join(RULES)}. Got {rule!r} instead.")
        if self.scope != "layer" or get_signal(self.signal).per_network:
            raise ValueError(
                f"{owner} feeds each site another site's value, so it needs scope 'layer' and a per-site signal "
                f"({', '.join(_per_site_signals())}). Got scope={self.scope!r}, signal={self.signal!r}."
            )
        seed = _check_int(owner, 'seed', seed, 0)
        self.rule, self.seed = rule, seed
        self.lower, self.upper, self.below, self.above, self.cooldown = lower, upper, below, above, cooldown
        self.between = between
        self.lam, self.alpha0, self.cumulative = lam, alpha0, cumulative
        common = {**common, "scope": self.scope, "signal": self.signal}
        # The candidate's own rule, validated as it validates itself.
        self.rule_: Strategy = (
            ThresholdSwitch(lower=lower, upper=upper, below=below, above=above, cooldown=cooldown, between=between,
                            **common)
            if rule == "threshold" else LinearUpdate(lam=lam, alpha0=alpha0, cumulative=cumulative, **common)
        )  # fmt: skip

    def initial_state(self, family: str, alpha: float) -> tuple[str, float]:
        return self.rule_.initial_state(family, alpha)

    def decide(self, r: float, state: SiteState) -> SiteState:
        return self.rule_.decide(r, state)

    def value_sources(self, n_sites: int, epoch: int) -> list[int]:
        if n_sites < 2:
            raise ValueError(
                f"The shuffled control feeds each site another site's value, so the model needs at least two "
                f"activation sites; it has {n_sites}."
            )
        order = list(range(n_sites))
        rng = random.Random(self.seed * 1_000_003 + epoch)
        for i in range(n_sites - 1, 0, -1):  # Sattolo: a single cycle, so no site keeps its own value
            j = rng.randrange(i)
            order[i], order[j] = order[j], order[i]
        return order
