"""Number formats shared by every part of the report, so a value reads the same everywhere."""

from __future__ import annotations

import math

__all__ = ["fmt_p", "fmt_num", "fmt_delta", "fmt_ci", "fmt_pct"]


def fmt_p(p: float | None) -> str:
    """A p-value to 3 significant digits, trailing zeros kept: ``0.250``, ``1.00``, ``0.00195``."""
    if p is None or not math.isfinite(p):
        return "–"
    if p == 0:
        return "0.00"
    decimals = max(2, 2 - math.floor(math.log10(p)))
    return f"{p:.{decimals}f}"


def fmt_num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def fmt_delta(value: float | None, digits: int = 4) -> str:
    """A signed difference: ``+0.0123`` / ``−0.0040`` (a true minus sign)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}".replace("-", "−")


def fmt_ci(low: float, high: float, digits: int = 4) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"[{fmt_delta(low, digits)}, {fmt_delta(high, digits)}]"


def fmt_pct(share: float) -> str:
    return "–" if not math.isfinite(share) else f"{100 * share:.0f} %"
