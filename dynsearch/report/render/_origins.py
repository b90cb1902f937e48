"""The "Real and synthetic data apart" table: every candidate against the same baseline inside each
source of data of a group that mixes them (``report.inference.split_by_origin``), with its own power line."""

from __future__ import annotations

from ..fmt import fmt_delta, fmt_p
from ..inference import Comparison, power_sentence, summarize_effects, tests_in
from ._beyond import shares_text
from ._blocks import Block, Bullets, Heading, Para, Table

__all__ = ["origin_table"]


def origin_table(c: Comparison) -> list[Block]:
    """One row per candidate and source; nothing when no task group mixes real and synthetic datasets."""
    rows, keys = [], []
    for g in c.by_origin:
        for r in g.rows:
            s = summarize_effects(r.effects.effects, c.margin)
            rows.append([r.arm, g.origin, r.group, r.baseline, str(r.n_datasets), fmt_delta(s.mean),
                         fmt_delta(s.median), shares_text(s), fmt_p(r.p_value), fmt_p(r.p_adjusted), r.verdict])
            keys.append(f"{r.arm}:{g.origin}:{r.group}")
    if not rows:
        return []
    families = ", ".join(f"{g.origin} {g.group}: m = {tests_in(g)}" for g in c.by_origin if g.rows)
    return [
        Heading(3, "Real and synthetic data apart"),
        Para("The comparison above repeated inside each source of data: real (bundled sets, R tables, files) "
             "and synthetic (generated). Each candidate keeps the baseline its task group chose over all its "
             "datasets; p-values are Holm-adjusted over the candidates inside each source "
             f"({families}) and verdicts follow the same rule as above. The pooled verdicts stay the primary "
             "ones: a source with fewer datasets has less power, shown below."),
        Table(["arm", "source", "group", "baseline", "datasets", "mean Δ", "median Δ",
               f"better / tied / worse (±{c.margin:g})", "Wilcoxon p", "Holm p (in source)", "verdict"],
              rows, css="origins", key="origins", row_keys=keys),
        Bullets([power_sentence(g, tests_in(g)) for g in c.by_origin if g.rows]),
    ]
