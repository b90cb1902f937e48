"""The "Beyond the mean" table: each candidate's median and trimmed effect, the datasets it wins, ties and
loses, and its effect without the datasets where a run collapsed (``report.inference.beyond_mean``)."""

from __future__ import annotations

from ..fmt import fmt_delta, fmt_pct
from ..inference import TRIM, Comparison, EffectSummary
from ._blocks import Block, Heading, Para, Table

__all__ = ["beyond_table", "shares_text"]


def shares_text(s: EffectSummary) -> str:
    """``31 % / 4 % / 64 % (14 / 2 / 29)``: better / tied / worse, as shares and counts."""
    if not s.n:
        return "–"
    shares = " / ".join(fmt_pct(s.share(k)) for k in (s.better, s.tied, s.worse))
    return f"{shares} ({s.better} / {s.tied} / {s.worse})"


def _tie_rule(margin: float) -> str:
    if margin > 0:
        return f"tied: the effect inside the equivalence interval (−{margin:g}, +{margin:g}) that TOST tests"
    return "tied: an effect of exactly 0"


def beyond_table(c: Comparison) -> list[Block]:
    """One row per candidate: the robust locations and sign shares over all its datasets and without collapses."""
    rows, keys = [], []
    for r in c.candidates:
        b = c.beyond(r)
        rows.append([r.arm, r.group, fmt_delta(b.all.mean), fmt_delta(b.all.median), fmt_delta(b.all.trimmed_mean),
                     shares_text(b.all), fmt_delta(b.kept.mean), fmt_delta(b.kept.median),
                     f"{len(b.left_out)} of {b.all.n}"])
        keys.append(r.arm)
    if not rows:
        return []
    pct = f"{100 * TRIM:g} %"
    return [
        Heading(3, "Beyond the mean"),
        Para(f"The same per-dataset effects Δ as above, summarized three ways: their mean, their median and their "
             f"{pct} trimmed mean (the lowest and highest {pct} of the datasets cut); the datasets better, tied and "
             f"worse ({_tie_rule(c.margin)}); and the mean and median again without the datasets on which the "
             "candidate or the baseline has a run at chance level (below). A mean far from the median is driven by "
             "a few datasets. The verdicts stay those of the tests over all datasets."),
        Table(["arm", "group", "mean Δ", "median Δ", f"{pct} trimmed mean Δ",
               f"better / tied / worse (±{c.margin:g})", "mean Δ, collapses out", "median Δ, collapses out",
               "datasets left out"], rows, css="beyond", key="beyond", row_keys=keys),
    ]
