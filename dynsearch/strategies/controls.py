"""Controls: strategies that change activations without reading a signal.

Set beside a candidate, they tell "adjusting helps" from "reading r helps": ``schedule`` makes a
switch at a fixed epoch, whatever r says; ``final_fixed`` starts every site in the state a
dynamic run ended in and keeps it. Neither reads a signal (``uses_signal = False``), so sites
measure nothing for them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from ..activations import get_family
from .base import SiteState, Strategy
from .builtin import _family_name
from .params import Family, Int
from .registry import register_strategy

if TYPE_CHECKING:
    from ..sites import ActivationSite

__all__ = ["ScheduledSwitch", "FinalFixed"]


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
        if isinstance(at, bool) or not isinstance(at, int) or at < 1:
            raise ValueError(f"The 'at' parameter of {owner} must be an integer >= 1. Got {at!r} instead.")
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
        families: a family, or a list of families.
        alphas: an α, a list of αs (each inside its family's range), or None for each family's default.

    Example:
        >>> s = FinalFixed(families=["tanh", "relu"], alphas=[1.5, 0.0])
        >>> [s.initial_state("relu", 0.0) for _ in range(1)]
        [('tanh', 1.5)]
    """

    uses_signal = False
    role = "control"

    def __init__(
        self, *, families: str | Sequence[str] = "relu", alphas: float | Sequence[float] | None = None, **common: Any
    ) -> None:
        super().__init__(**common)
        owner = type(self).__name__
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
        self._sites_set_up_ = 0

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
        # apply() calls initial_state, then setup_site, once per site in site order.
        return self.state_at(self._sites_set_up_)

    def setup_site(self, site: ActivationSite) -> None:
        self._sites_set_up_ = (self._sites_set_up_ + 1) % max(self.n_sites, 1)

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
