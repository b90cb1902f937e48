"""Which part of a rule's declared search space can never change a site: the arithmetic of the built-in rules.

A linear arm whose α₀ sits at a bound of its family's α range, with λ of the sign that pushes α past that
bound for every r the signal shows, keeps α clipped where it started (base relu, α₀ = 0, λ ≤ 0 on io r ≥ 0).
A threshold pair that r never crosses, or a ``below``/``above`` family equal to the base, never switches.
Shares are of the declared space, with every choice equally likely and every range uniform.

Example:
    >>> share, why = linear_inert_share({"base": ("relu",), "lam": (-1.0, 1.0)}, (0.8, 1.0))
    >>> share
    0.5
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..activations import get_family

__all__ = ["linear_inert_share", "threshold_inert_share"]

# Points of the lower threshold's range the threshold share is averaged over.
_GRID = 400


def _share_below_zero(low: float, high: float, sign: float) -> float:
    """The share of λ in [low, high] with sign·λ ≤ 0."""
    if sign < 0:
        low, high = -high, -low
    return max(0.0, min(high, 0.0) - low) / (high - low)


def _pinned_share(start: float, alpha_range: tuple[float, float], lam: tuple[float, float],
                  r_range: tuple[float, float]) -> tuple[float, str]:
    """The share of λ that keeps α clipped at ``start`` when it starts at a bound of its range."""
    low, high = alpha_range
    r_low, r_high = r_range
    if r_low < 0.0 < r_high or low < start < high:
        return 0.0, ""  # r of both signs, or α₀ inside the range: every λ ≠ 0 moves α
    r_sign = 1.0 if r_high > 0.0 else -1.0
    bound_sign = -1.0 if start <= low else 1.0  # moving past the bottom needs λ·r < 0, past the top λ·r > 0
    share = _share_below_zero(*lam, sign=-bound_sign * r_sign) if (r_low, r_high) != (0.0, 0.0) else 1.0
    where = "bottom" if start <= low else "top"
    sign_text = "≤" if bound_sign * r_sign < 0 else "≥"
    return share, f"α₀ = {start:g} is the {where} of its α range and λ {sign_text} 0 keeps it there"


def linear_inert_share(settings: Mapping[str, Any], r_range: tuple[float, float]) -> tuple[float, str] | None:
    """The share of ``α = clip(α₀ + λ·r)`` draws in which α never leaves α₀ (cumulative or not), and why."""
    bases = [b for b in settings.get("base") or () if get_family(b).has_alpha]
    if not bases or settings.get("lam") is None:
        return None
    shares, reasons = [], []
    for base in bases:
        family = get_family(base)
        low, high = family.alpha_range  # type: ignore[misc]
        alpha0 = settings.get("alpha0")
        if alpha0 is not None and max(alpha0[0], low) < min(alpha0[1], high):
            shares.append(0.0)  # α₀ drawn from a range: it sits at a bound with probability 0
            continue
        share, why = _pinned_share(family.alpha_default, (low, high), tuple(settings["lam"]), r_range)
        shares.append(share)
        if share > 0:
            reasons.append(f"base {family.name}: {why}")
    total = sum(shares) / len(shares)
    if total == 0.0:
        return None
    return total, "; ".join(reasons) + f" for r in [{r_range[0]:.3g}, {r_range[1]:.3g}]"


def threshold_inert_share(
    settings: Mapping[str, Any],
    r_range: tuple[float, float],
    lower: tuple[float, float],
    upper_for: Callable[[float], tuple[float, float]],
) -> tuple[float, str] | None:
    """The share of threshold draws that never switch a site from its base family, and why.

    ``lower`` is the range the lower threshold is drawn from, ``upper_for(lower)`` the upper's range
    given it (drawn above it). The rule acts only if r can fall below ``lower`` with ``below`` not the
    base, or rise above ``upper`` with ``above`` not the base.
    """
    r_low, r_high = r_range
    combos = [(b, lo, hi) for b in settings.get("base") or (None,) for lo in settings.get("below") or ("tanh",)
              for hi in settings.get("above") or ("sigmoid",)]
    step = (lower[1] - lower[0]) / _GRID
    points = [lower[0] + (i + 0.5) * step for i in range(_GRID)] if step > 0 else [lower[0]]
    total = 0.0
    for base, below, above in combos:
        for value in points:
            if below != base and value > r_low:
                continue  # r falls below this lower threshold: the rule switches
            u_low, u_high = upper_for(value)
            never_above = 1.0 if above == base or u_high <= u_low else \
                max(0.0, u_high - max(r_high, u_low)) / (u_high - u_low)  # fmt: skip
            total += never_above
    share = total / (len(combos) * len(points))
    if share == 0.0:
        return None
    return share, f"r lies in [{r_low:.3g}, {r_high:.3g}], and no threshold it crosses switches to a family other than the base"
