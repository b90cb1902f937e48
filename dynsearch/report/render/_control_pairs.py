"""Candidates against their controls: does reading the signal help, or only changing the activation?

A control changes activations without the signal a candidate reads (``schedule``: a switch at a
fixed epoch; ``final_fixed``: the end state from the start; ``shuffled``: the same rule fed a signal
whose pairing is destroyed). Every candidate is paired with every control arm of the study on the
same (dataset, replicate, seed) runs, exactly as candidates are paired with the baseline
(``report.inference``): per-dataset effects, Wilcoxon and TOST p-values Holm-adjusted over the
task group's pairs, a hierarchical bootstrap interval at the simultaneous level, one verdict. The
``final_fixed`` control the report derives from each candidate's own runs (``report.retrain``)
is paired with that candidate only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..fmt import fmt_ci, fmt_delta, fmt_p
from ..inference import (
    ALPHA,
    CandidateRow,
    Comparison,
    GroupSummary,
    adjust_family,
    paired_groups,
    tests_in,
    wilcoxon_p,
)
from ..retrain import RetrainRun, derived_label, is_derived
from ..roles import CANDIDATE
from ..trials import StudyData
from ._blocks import Block, Heading, Para, Table

__all__ = ["CONTROL", "control_groups", "control_section"]

CONTROL = "control"

# What a candidate's win over each kind of control says (by the control's strategy name).
_MEANING = {
    "schedule": "the signal's timing matters, not only the switch",
    "final_fixed": "adjusting during training matters, not only the end state",
    "shuffled": "the signal's pairing with the data matters",
}


Scores = dict[str, dict[str, Mapping[tuple[int, int], float]]]  # arm -> dataset -> (replicate, seed) -> test


def _scores(c: Comparison, labels: set[str]) -> Scores:
    out: Scores = {}
    for t in c.tables:
        if t.label in labels:
            for row in t.rows:
                if row.scores:
                    out.setdefault(row.arm, {})[t.label] = row.scores
    return out


def _derived_scores(derived: Mapping[str, RetrainRun], labels: set[str]) -> Scores:
    out: dict[str, dict[str, dict[tuple[int, int], float]]] = {}
    for run in derived.values():
        if run.test_metric is not None and run.ok and run.dataset in labels:
            out.setdefault(run.arm, {}).setdefault(run.dataset, {})[(run.replicate, run.seed)] = float(run.test_metric)
    return {arm: dict(per) for arm, per in out.items()}


def control_groups(c: Comparison, derived: Mapping[str, RetrainRun] | None = None) -> list[GroupSummary]:
    """Per task group, one row per (candidate, control) pair, adjusted over the group's pairs.
    ``CandidateRow.baseline`` holds the control arm; ``derived`` holds the runs of the final_fixed
    controls derived from the candidates' runs."""
    candidates = [a for a, r in c.roles.items() if r == CANDIDATE]
    controls = [a for a, r in c.roles.items() if r == CONTROL]
    groups = []
    for group in sorted({t.group for t in c.tables if t.rows}):
        in_group = [t for t in c.tables if t.group == group]
        labels = {t.label for t in in_group}
        test: Scores = {**_scores(c, labels), **_derived_scores(derived or {}, labels)}
        rows = []
        for cand in candidates:
            own = [derived_label(cand)] if derived_label(cand) in test else []
            for ctl in controls + own:
                effects = paired_groups(test.get(cand, {}), test.get(ctl, {}))
                row = CandidateRow(cand, group, ctl, effects)
                if effects.datasets:
                    row.p_value = wilcoxon_p(effects.effects)
                rows.append(row)
        groups.append(GroupSummary(group, in_group[0].metric, [t.label for t in in_group], None, rows))
    adjust_family(groups, c.margin, ALPHA)
    return groups


def _strategy(data: StudyData, arm: str) -> str:
    if is_derived(arm):
        return "final_fixed (its own end state)"
    try:
        return data.spec.arm(arm).strategy
    except KeyError:
        return arm


def control_section(data: StudyData, c: Comparison, derived: Mapping[str, RetrainRun] | None = None) -> list[Block]:
    """The report's "Candidates against their controls" section."""
    blocks: list[Block] = [Heading(2, "Candidates against their controls", "controls")]
    candidates = [a for a, r in c.roles.items() if r == CANDIDATE]
    controls = [a for a, r in c.roles.items() if r == CONTROL] + sorted({r.arm for r in (derived or {}).values()})
    if not candidates:
        return []
    if not controls:
        blocks.append(Para("The study has no control arm (`schedule`, `final_fixed`, `shuffled` in "
                           "`search.strategies`), so a candidate that beats the baseline may owe it to changing the "
                           "activation at all rather than to reading its signal; the two cannot be told apart here."))
        return blocks
    groups = control_groups(c, derived)
    rows, keys, better = [], [], set()
    for g in groups:
        for r in g.rows:
            plus, minus, zero = r.record
            rows.append([r.arm, r.baseline, _strategy(data, r.baseline), g.group, fmt_delta(r.mean),
                         f"{100 * r.ci_level:.3g} % {fmt_ci(*r.ci)}", f"{plus} / {minus} / {zero}", fmt_p(r.p_value),
                         fmt_p(r.p_adjusted), fmt_p(r.p_equivalence_adjusted), r.verdict])
            keys.append(r.arm)
            if r.verdict == "better":
                better.add(len(rows) - 1)
    meanings = "; ".join(f"over `{k}`: {v}" for k, v in _MEANING.items()
                         if any(_strategy(data, a).startswith(k) for a in controls))
    blocks += [
        Para("Every candidate paired with every control arm on the same datasets, replicates and seeds. Δ = candidate "
             "− control, averaged per dataset, then over datasets; p-values Holm-adjusted over the group's pairs "
             f"({', '.join(f'{g.group}: m = {tests_in(g)}' for g in groups if g.rows)}), the interval at the "
             f"simultaneous level 1 − {ALPHA:g}/m, equivalence within ±{c.margin:g}. A candidate **better** than a "
             f"control shows what the control leaves out ({meanings or 'see docs/reports.md'}); **equivalent** or "
             "**worse** says the candidate's gain, if any, does not come from reading its signal."),
        Table(["candidate", "control", "control strategy", "group", "Δ", "CI", "datasets + / − / 0", "Wilcoxon p",
               "Holm p", f"TOST Holm p (±{c.margin:g})", "verdict"], rows, css="paired", key="controls",
              row_keys=keys, highlight=better),
    ]
    if derived:
        blocks.append(Para("`final_fixed(ARM)` is derived from the candidate's own re-training runs: each run that "
                           "changed a site is trained again with the same trial, dataset, split and seed, every site "
                           "starting in the family and α that run ended with and never adjusting. Runs that changed "
                           "nothing have no such control."))
    untested = [f"{r.arm} vs {r.baseline}" for g in groups for r in g.rows if math.isnan(r.p_value)]
    if untested:
        blocks.append(Para("Without a shared scored dataset (no test): " + ", ".join(untested) + "."))
    return blocks
