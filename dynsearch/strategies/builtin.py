"""The built-in strategies: fixed, threshold switching, the linear α rule, and learned α."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

from ..activations import family_names, get_family
from ..signals import get_signal
from .base import SiteState, Strategy, _check_choice, _check_int, check_learned_only
from .inert import linear_inert_share, threshold_inert_share
from .params import Choice, Family, Float, Int, Setting
from .registry import register_strategy

if TYPE_CHECKING:
    from ..sites import ActivationSite

__all__ = ["FixedActivation", "ThresholdSwitch", "LinearUpdate", "LearnedAlpha", "MIN_THRESHOLD_GAP", "BUILTIN_STRATEGIES",
           "BETWEEN"]

# What a study searches when its file lists no strategies, in this order.
BUILTIN_STRATEGIES = ("fixed", "threshold", "linear", "learned")

# What the threshold rule does between its thresholds: "base" is the write-up's literal rule (back to the
# base family), "keep" is hysteresis (the site keeps its current family).
BETWEEN = ("base", "keep")

# Smallest gap between the two thresholds, so a sampled pair always satisfies lower < upper.
MIN_THRESHOLD_GAP = 0.01


def _finite(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"The {name!r} parameter of {owner} must be a finite number. Got {value!r} instead.")
    return float(value)


def _family_name(owner: str, name: str, value: object) -> str:
    try:
        family = get_family(str(value))
    except ValueError:
        raise ValueError(
            f"The {name!r} parameter of {owner} must be an activation family ({_fixed_families()}). "
            f"Got {value!r} instead."
        ) from None
    check_learned_only(owner, name, family, learns=False)  # a rule that switches to it would not learn it
    return family.name


def _fixed_families() -> str:
    """The families a rule may switch to (not a learned-only one), for messages."""
    return ", ".join(n for n in family_names() if not get_family(n).learned_only)


def _with_alpha(learned: bool) -> str:
    """The families a rule adjusting α may use, for messages."""
    return ", ".join(n for n in family_names() if get_family(n).has_alpha and (learned or not get_family(n).learned_only))


@register_strategy("fixed")
class FixedActivation(Strategy):
    """Never adjusts: the baseline every dynamic strategy is compared against.

    Example:
        >>> FixedActivation(base="tanh").to_config()
        {'name': 'fixed', 'params': {'base': 'tanh', 'scope': 'layer', 'signal': 'io', 'reduction': 'pooled', 'every': 1, 'warmup': 0}}
    """

    uses_signal = False
    role = "baseline"
    adjusts = False
    arm_axes = ("base",)

    def decide(self, r: float, state: SiteState) -> SiteState:
        return state


@register_strategy("threshold")
class ThresholdSwitch(Strategy):
    """The write-up's rule: r > upper → ``above``, r < lower → ``below``, otherwise the base family.

    With ``between="keep"`` the rule has hysteresis instead: between the thresholds a site keeps its
    current family, so a family whose own r lies between them is not switched back to the base.
    A switch resets α to the new family's default (the base family gets its starting α back).

    Args:
        lower: lower threshold, inside the signal's range ([-1, 1] for r; [0, 1] for dead and saturation).
        upper: upper threshold, inside the signal's range, greater than ``lower``.
        below: family used when r < lower.
        above: family used when r > upper.
        cooldown: minimum epochs between two switches of the same site (against oscillation).
        between: "base" (the write-up's literal rule: back to the base family between the thresholds)
            or "keep" (hysteresis: the current family stays).

    Example:
        >>> s = ThresholdSwitch(lower=-0.5, upper=0.5)
        >>> state = SiteState("relu", 0.0, "relu", 0.0, epoch=3)
        >>> s.decide(0.9, state).family
        'sigmoid'
        >>> switched = SiteState("sigmoid", 1.0, "relu", 0.0, epoch=4)
        >>> s.decide(0.1, switched).family, ThresholdSwitch(between="keep").decide(0.1, switched).family
        ('relu', 'sigmoid')
    """

    # Each between rule is an arm of its own when a study lists both (a study that sets none has the literal rule).
    arm_axes = ("scope", "signal", "between")

    search_space = (
        Float("lower", -1.0, 1.0, default=(-0.9, 0.0), bounds=lambda v, s: _lower_bounds(s), on_signal=True,
              doc="lower threshold"),
        Float("upper", -1.0, 1.0, default=(0.0, 0.9), bounds=lambda v, s: _upper_bounds(v, s), on_signal=True,
              check=lambda s: _pair_exists(s), doc="upper threshold, sampled above lower"),
        Family("below", ("tanh",), doc="family when r < lower"),
        Family("above", ("sigmoid",), doc="family when r > upper"),
        Int("cooldown", 0, default=(0, 0), doc="minimum epochs between two switches of a site"),
        Choice("between", BETWEEN, searched=False, what="between rule",
               doc="base: back to the base family between the thresholds (the write-up's rule); keep: hysteresis"),
    )

    def __init__(
        self,
        *,
        lower: float = -0.5,
        upper: float = 0.5,
        below: str = "tanh",
        above: str = "sigmoid",
        cooldown: int = 0,
        between: str = "base",
        **common,
    ) -> None:
        super().__init__(**common)
        owner = type(self).__name__
        self.lower = _finite(owner, "lower", lower)
        self.upper = _finite(owner, "upper", upper)
        low, high = get_signal(self.signal).value_range
        for name, value in (("lower", self.lower), ("upper", self.upper)):
            if not low <= value <= high:
                where = "" if (low, high) == (-1.0, 1.0) else f" (the range of the {self.signal!r} signal)"
                raise ValueError(
                    f"The {name!r} parameter of {owner} must be a float in [{low:g}, {high:g}]{where}. Got {value!r} instead."
                )
        if self.lower >= self.upper:
            raise ValueError(
                f"The 'lower' parameter of {owner} must be less than 'upper'. Got lower={self.lower!r}, upper={self.upper!r}."
            )
        self.below = _family_name(owner, "below", below)
        self.above = _family_name(owner, "above", above)
        cooldown = _check_int(owner, 'cooldown', cooldown, 0)
        self.cooldown = cooldown
        self.between = _check_choice(owner, "between", between, BETWEEN)

    def target_family(self, r: float, base_family: str, current: str | None = None) -> str:
        """The family the rule asks for at this r (strict inequalities: r == upper is between).

        Between the thresholds: ``base_family``, or with ``between="keep"`` the ``current`` family.
        """
        if r > self.upper:
            return self.above
        if r < self.lower:
            return self.below
        return current if self.between == "keep" and current is not None else base_family

    @classmethod
    def inert_share(cls, settings: Mapping[str, Any], r_range: tuple[float, float]) -> tuple[float, str] | None:
        if settings.get("lower") is None or settings.get("upper") is None:
            return None
        return threshold_inert_share(settings, r_range, _lower_bounds(settings),
                                     lambda lower: _upper_bounds({"lower": lower}, settings))

    def decide(self, r: float, state: SiteState) -> SiteState:
        target = self.target_family(r, state.initial_family, state.family)
        if target == state.family:
            return state
        if state.last_switch_epoch is not None and state.epoch - state.last_switch_epoch < self.cooldown:
            return state
        alpha = state.initial_alpha if target == state.initial_family else get_family(target).alpha_default
        return state.replace(family=target, alpha=alpha, last_switch_epoch=state.epoch)


@register_strategy("linear")
class LinearUpdate(Strategy):
    """The write-up's linear rule α = clip(α₀ + λ·r) to the family's range.

    With ``cumulative=True`` the update compounds: α ← clip(α + λ·r).

    Args:
        lam: the adjustment coefficient λ.
        alpha0: α₀; None starts from the site's own α (the family default for a plain module).
        cumulative: compound the update instead of restarting from α₀.

    Example:
        >>> s = LinearUpdate(lam=0.5, base="elu")
        >>> s.decide(0.4, SiteState("elu", 1.0, "elu", 1.0)).alpha
        1.2
    """

    search_space = (
        Family("base", ("relu", "tanh"), requires_alpha=True, doc="family whose α the rule adjusts"),
        Float("lam", default=(-1.0, 1.0), aliases=("lambda",), doc="λ in α = α₀ + λ·r"),
        Float("alpha0", 0.0, math.inf, searched=False, bounds=lambda v, s: _alpha0_bounds(v, s),
              check=lambda s: _alpha0_fits(s), doc="α₀, intersected with the base family's α range"),
        Choice("cumulative", (False, True), searched=False, what="boolean", doc="compound α ← α + λ·r"),
    )

    def __init__(self, *, lam: float = 0.1, alpha0: float | None = None, cumulative: bool = False, **common) -> None:
        super().__init__(**common)
        owner = type(self).__name__
        self.lam = _finite(owner, "lam", lam)
        self.alpha0 = None if alpha0 is None else _finite(owner, "alpha0", alpha0)
        if not isinstance(cumulative, bool):
            raise ValueError(f"The 'cumulative' parameter of {owner} must be true or false. Got {cumulative!r} instead.")
        self.cumulative = cumulative
        if self.base is not None:
            self._check_family(self.base)

    def _check_family(self, family: str) -> None:
        fam = get_family(family)
        if not fam.has_alpha:
            raise ValueError(
                f"LinearUpdate adjusts a family's α, but {fam.name!r} has none; families with α: {_with_alpha(False)}."
            )
        check_learned_only("LinearUpdate", "base", fam, learns=False)
        if self.alpha0 is not None:
            low, high = fam.alpha_range  # type: ignore[misc]
            if not low <= self.alpha0 <= high:
                raise ValueError(
                    f"The 'alpha0' parameter of LinearUpdate must lie in {fam.name}'s α range [{low}, {high}]. "
                    f"Got {self.alpha0!r} instead."
                )

    def initial_state(self, family: str, alpha: float) -> tuple[str, float]:
        family, alpha = super().initial_state(family, alpha)
        self._check_family(family)
        return family, alpha if self.alpha0 is None else self.alpha0

    @classmethod
    def inert_share(cls, settings: Mapping[str, Any], r_range: tuple[float, float]) -> tuple[float, str] | None:
        return linear_inert_share(settings, r_range)

    def decide(self, r: float, state: SiteState) -> SiteState:
        start = state.alpha if self.cumulative else state.initial_alpha
        return state.replace(alpha=get_family(state.family).clip(start + self.lam * r))


@register_strategy("learned")
class LearnedAlpha(Strategy):
    """α is an ``nn.Parameter`` trained by the optimizer (no weight decay): the learned baselines.

    ``base="relu"`` is PReLU (with ``per_channel``, one slope per unit or channel, as in He et al. 2015),
    ``base="silu"`` trainable Swish-β (x·σ(βx)), ``base="acon_c"`` ACON-C, whose p1 and p2 are learned
    too (Ma et al. 2021; they start at p1 = 1, p2 = 0, β = 1, i.e. as Swish). Ignores r; the trainer
    clips α (ACON-C's β; p1 and p2 stay free) into the family's range after each epoch.

    Args:
        per_channel: one α per unit (MLP) or channel (CNN), on the input's axis 1 as ``nn.PReLU``,
            instead of one per site.

    Example:
        >>> LearnedAlpha(base="silu").uses_signal
        False
        >>> LearnedAlpha(base="relu", per_channel=True).to_config()["params"]["per_channel"]
        True
    """

    uses_signal = False
    role = "baseline"
    learns_parameters = True
    arm_axes = ("base", "per_channel")
    search_space = (
        Family("base", ("relu", "tanh"), requires_alpha=True, learned=True, doc="family whose α is trained"),
        Choice("per_channel", (False, True), searched=False, what="boolean",
               doc="one α per unit or channel (PReLU-style) instead of one per site"),
    )

    def __init__(self, *, per_channel: bool = False, **common) -> None:
        super().__init__(**common)
        if not isinstance(per_channel, bool):
            raise ValueError(f"The 'per_channel' parameter of LearnedAlpha must be true or false. Got {per_channel!r} instead.")
        self.per_channel = per_channel
        if self.base is not None:
            self._check_family(self.base)

    @staticmethod
    def _check_family(family: str) -> None:
        fam = get_family(family)
        if not fam.has_alpha:
            raise ValueError(
                f"LearnedAlpha trains a family's α, but {fam.name!r} has none; families with α: {_with_alpha(True)}."
            )

    @property
    def one_alpha_per_site(self) -> bool:
        """Whether every site learns one α and nothing else (what a packed engine stacks as one value per member)."""
        return not self.per_channel and not (self.base is not None and get_family(self.base).learned_only)

    def initial_state(self, family: str, alpha: float) -> tuple[str, float]:
        family, alpha = super().initial_state(family, alpha)
        self._check_family(family)
        return family, alpha

    def setup_site(self, site: ActivationSite) -> None:
        site.make_alpha_learnable(per_channel=self.per_channel)

    def decide(self, r: float, state: SiteState) -> SiteState:
        return state


# --- search-space rules of the built-in declarations ---------------------------------------------


def _gap(settings: Mapping[str, Setting]) -> float:
    return min(MIN_THRESHOLD_GAP, (settings["upper"][1] - settings["lower"][0]) / 2)


def _lower_bounds(settings: Mapping[str, Setting]) -> tuple[float, float]:
    # lower stays far enough below the largest upper that a valid upper always exists.
    low, high = settings["lower"]
    return low, min(high, settings["upper"][1] - _gap(settings))


def _upper_bounds(values: Mapping[str, Any], settings: Mapping[str, Setting]) -> tuple[float, float]:
    low, high = settings["upper"]
    return max(low, values["lower"] + _gap(settings)), high


def _pair_exists(settings: Mapping[str, Setting]) -> str | None:
    lower, upper = settings["lower"], settings["upper"]
    if lower[0] < upper[1]:
        return None
    return (f"no valid threshold pair: lower must be < upper, but lower >= {lower[0]:g} and upper <= {upper[1]:g}, "
            f"got lower = [{lower[0]!r}, {lower[1]!r}], upper = [{upper[0]!r}, {upper[1]!r}]")


def _alpha0_bounds(values: Mapping[str, Any], settings: Mapping[str, Setting]) -> tuple[float, float] | None:
    alpha_range = get_family(values["base"]).alpha_range
    if alpha_range is None:
        return None
    low, high = max(settings["alpha0"][0], alpha_range[0]), min(settings["alpha0"][1], alpha_range[1])
    return (low, high) if low < high else None


def _alpha0_fits(settings: Mapping[str, Setting]) -> str | None:
    # A range that misses a base's α range would leave that base at its default α₀ without a word.
    low, high = settings["alpha0"]
    for base in settings.get("base") or ():
        alpha_range = get_family(base).alpha_range
        if alpha_range is not None and not max(low, alpha_range[0]) < min(high, alpha_range[1]):
            return (f"alpha0 [{low:g}, {high:g}] lies outside {base}'s α range [{alpha_range[0]:g}, {alpha_range[1]:g}]; "
                    f"give a range that overlaps every base's α range, or a base per range")
    return None
