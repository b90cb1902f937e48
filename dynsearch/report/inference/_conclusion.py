"""The conclusion in plain words: per task group, which candidates are better, worse, equivalent
within the margin or inconclusive against the baseline chosen on validation; every candidate that
never adjusted, named; and the smallest effect the design could detect."""

from __future__ import annotations

import math

from ..fmt import fmt_ci, fmt_delta, fmt_p
from ._candidates import CandidateRow, GroupSummary, tests_in
from ._comparison import Comparison
from ._power import POWER
from ._simulation import N_SIMULATIONS
from ._verdicts import BETTER, EQUIVALENT, INCONCLUSIVE, WORSE

__all__ = ["conclusion_text", "power_sentence", "effect_text", "origin_text"]


def effect_text(row: CandidateRow) -> str:
    """``Δ = +0.0123 (98.8 % CI [+0.0040, +0.0200], Holm p = 0.0234, 10 datasets)``."""
    level = f"{100 * row.ci_level:.3g} %"
    return (f"Δ = {fmt_delta(row.mean)} ({level} CI {fmt_ci(*row.ci)}, Holm p = {fmt_p(row.p_adjusted)}, "
            f"{row.n_datasets} dataset{'s' if row.n_datasets != 1 else ''})")


def _names(rows: list[CandidateRow]) -> str:
    return ", ".join(r.arm for r in rows)


def _group_text(g: GroupSummary, margin: float, prefix: str) -> str:
    n = len(g.datasets)
    where = f"on the {n} {g.group} dataset{'s' if n != 1 else ''}"
    if g.baseline is None:
        return f"{prefix}No baseline arm (fixed or learned activation) has scored runs {where}, so nothing is compared there."
    if not g.rows:
        return f"{prefix}No candidate strategy has a complete trial; the best baseline on validation is {g.baseline}."
    by = {v: [r for r in g.rows if r.verdict == v] for v in (BETTER, WORSE, EQUIVALENT, INCONCLUSIVE)}
    base = f"the best baseline ({g.baseline}, chosen on validation)"
    if by[BETTER]:
        best = sorted(by[BETTER], key=lambda r: -r.mean)
        verb = "is" if len(best) == 1 else "are"
        text = f"{prefix}{_names(best)} {verb} better than {base} {where}: " + "; ".join(
            f"{r.arm} by {effect_text(r)}" for r in best) + "."
    else:
        text = f"{prefix}No candidate strategy is better than {base} {where}."
    if by[WORSE]:
        text += f" Worse: {'; '.join(f'{r.arm} ({effect_text(r)})' for r in by[WORSE])}."
    if by[EQUIVALENT]:
        text += (f" Equivalent within ±{margin:g}: "
                 f"{'; '.join(f'{r.arm} ({effect_text(r)})' for r in by[EQUIVALENT])}.")
    if by[INCONCLUSIVE]:
        text += (" Inconclusive (neither a difference nor equivalence within the margin shown): "
                 f"{'; '.join(f'{r.arm} ({effect_text(r)})' for r in by[INCONCLUSIVE])}.")
    return text


def _origin_evidence(r: CandidateRow) -> str:
    """The p-value behind a verdict: TOST's for equivalence, Wilcoxon's for a difference (both Holm-adjusted)."""
    if r.verdict == EQUIVALENT:
        return f"Δ = {fmt_delta(r.mean)}, TOST Holm p = {fmt_p(r.p_equivalence_adjusted)}"
    return f"Δ = {fmt_delta(r.mean)}, Holm p = {fmt_p(r.p_adjusted)}"


def _origin_part(g: GroupSummary) -> str:
    n = len(g.datasets)
    where = f"on the {n} {g.origin} {g.group} dataset{'s' if n != 1 else ''}"
    named = [r for r in g.rows if r.verdict in (BETTER, WORSE, EQUIVALENT)]
    if not named:
        return f"{where} every candidate is inconclusive"
    rest = len(g.rows) - len(named)
    text = f"{where} " + ", ".join(f"{r.arm} is {r.verdict} ({_origin_evidence(r)})" for r in named)
    return text + (f"; the other {rest} inconclusive" if rest else "")


def origin_text(c: Comparison) -> str:
    """Real and synthetic datasets apart, one clause per source; "" when no group mixes them."""
    if not c.by_origin:
        return ""
    return ("Apart by source (the same baseline, Holm within each source; the pooled verdicts above are the "
            "primary ones): " + "; ".join(_origin_part(g) for g in c.by_origin) + ".")


def _min_datasets(level: float) -> int:
    n = 2
    while 2.0 / 2.0**n >= level:
        n += 1
    return n


def power_sentence(g: GroupSummary, tests: int, alpha: float = 0.05) -> str:
    """The smallest effect the design detects at 80 % power, simulated from the observed per-dataset effects."""
    n = len(g.datasets)
    level = alpha / max(tests, 1)
    head = f"Power ({f'{g.origin} ' if g.origin else ''}{g.group}): "
    if n < 2 or math.isnan(g.detectable) and math.isnan(g.effect_sd):
        return (f"{head}with {n} dataset{'s' if n != 1 else ''} there is no between-dataset spread to estimate power "
                f"from; a test over datasets needs at least {_min_datasets(level)} to reach p < {level:.3g}.")
    if math.isinf(g.detectable):
        return (f"{head}with {n} datasets the Wilcoxon test over datasets cannot reach p < {level:.3g} "
                f"(α = {alpha:g} over {tests} test{'s' if tests != 1 else ''}) whatever the effect: this design cannot "
                f"detect any difference. It needs at least {_min_datasets(level)} datasets; `dynsearch plan` says how many "
                "for a given effect.")
    return (f"{head}with {n} datasets, in {N_SIMULATIONS} studies simulated from the observed per-dataset effects "
            f"(resampled, centred on their pseudo-median; their SD {g.effect_sd:.4f}), this design detects a true "
            f"effect of {g.detectable:.4f} or more (every dataset's effect moved by it) with {100 * POWER:.0f} % "
            f"probability (Wilcoxon at α = {alpha:g} over {tests} test{'s' if tests != 1 else ''}); smaller true "
            "differences would likely go unseen.")


def conclusion_text(c: Comparison) -> str:
    """The whole conclusion paragraph."""
    if not c.groups:
        return "No arm has a complete trial with test scores, so nothing can be compared on this study."
    several = len(c.groups) > 1
    parts = [_group_text(g, c.margin, f"{g.group.capitalize()}: " if several else "") for g in c.groups]
    apart = origin_text(c)
    if apart:
        parts.append(apart)
    for act in c.activity.values():
        sentence = act.sentence()
        if sentence:
            parts.append(sentence)
    parts += [power_sentence(g, tests_in(g)) for g in c.groups if g.rows]
    return " ".join(parts)
