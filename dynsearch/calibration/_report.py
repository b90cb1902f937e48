"""The calibration report: ``reports/NAME/calibration/`` with ``calibration.json``, ``report.md``,
``index.html`` and one PNG per signal (``figures/signal-NAME.png``).

Each figure shows one signal three ways: its histogram per fixed family with the suggested
threshold range shaded, its median per epoch for each family and site (10th–90th percentile band
over datasets and seeds), and its spread per dataset. The text holds the quantile table and the
study-file lines that use the suggested ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._files import atomic_write_text
from ..config._calibration import QUANTILES, SUGGESTED, Calibration, Row
from ..report.figures import Figure
from ..report.render import Block, Bullets, FigureBlock, Heading, Para, Table, render_html, render_markdown

__all__ = ["write_calibration_report", "CALIBRATION_FILES"]

CALIBRATION_FILES = ("calibration.json", "report.md", "index.html")


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _signal_figure(cal: Calibration, signal: str, out: Path) -> Figure:
    # matplotlib loads on first use: a search worker that does not need it never imports it
    import matplotlib.pyplot as plt

    rows = [r for r in cal.rows if r[6] == signal]
    s = cal.summary[signal]
    families = list(dict.fromkeys(r[1] for r in rows))
    sites = list(dict.fromkeys(r[5] for r in rows))
    datasets = list(dict.fromkeys(r[2] for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    hist, epochs_ax, box = axes
    bins = np.linspace(min(r[7] for r in rows), max(r[7] for r in rows) + 1e-9, 40)
    for family in families:
        hist.hist([r[7] for r in rows if r[1] == family], bins=bins, alpha=0.55, label=family)
    if s.suggested is not None:
        hist.axvspan(*s.suggested, color="grey", alpha=0.2, label="suggested range")
    hist.set(title=f"{signal}: all values", xlabel=signal, ylabel="count")
    hist.legend(fontsize=8)
    for family in families:
        for k, site in enumerate(sites):
            by_epoch = _by_epoch([r for r in rows if r[1] == family and r[5] == site])
            if not by_epoch:
                continue
            xs = sorted(by_epoch)
            q = np.array([np.quantile(by_epoch[e], (SUGGESTED[0], 0.5, SUGGESTED[1])) for e in xs])
            line, = epochs_ax.plot([x + 1 for x in xs], q[:, 1], ["-", "--", ":", "-."][k % 4],
                                   label=f"{family}, site {site}")
            epochs_ax.fill_between([x + 1 for x in xs], q[:, 0], q[:, 2], color=line.get_color(), alpha=0.12)
    epochs_ax.set(title="median per epoch (band: 10th–90th percentile)", xlabel="epoch", ylabel=signal)
    epochs_ax.legend(fontsize=7)
    box.boxplot([[r[7] for r in rows if r[2] == d] for d in datasets], vert=False)
    box.set_yticks(range(1, len(datasets) + 1), [d if len(d) <= 28 else d[:27] + "…" for d in datasets], fontsize=8)
    box.set(title="per dataset (all sites, epochs, families)", xlabel=signal)
    fig.tight_layout()
    name = f"signal-{signal}"
    path = out / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    caption = f"{s.measures}. {s.n} values" + (
        f"; suggested threshold range [{_fmt(s.suggested[0])}, {_fmt(s.suggested[1])}] (shaded)."
        if s.suggested is not None else "; it did not vary, so no range is suggested.")
    return Figure(name, f"Signal {signal}", caption, png=f"figures/{name}.png")


def _by_epoch(rows: Sequence[Row]) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for r in rows:
        out.setdefault(r[4], []).append(r[7])
    return out


def _quantile_table(cal: Calibration) -> Table:
    headers = ["signal", "range", "values"] + [_q_name(q) for q in QUANTILES] + ["suggested threshold range"]
    rows = []
    for name, s in cal.summary.items():
        suggested = "none (did not vary)" if s.suggested is None else f"[{_fmt(s.suggested[0])}, {_fmt(s.suggested[1])}]"
        rows.append([name, f"[{s.value_range[0]:g}, {s.value_range[1]:g}]", str(s.n)]
                    + [_fmt(s.quantiles[q]) for q in QUANTILES] + [suggested])
    return Table(headers, rows, css="calibration", key="calibration", row_keys=list(cal.summary))


def _q_name(q: float) -> str:
    return {0.0: "min", 0.5: "median", 1.0: "max"}.get(q, f"q{round(q * 100)}")


def _per_site_table(cal: Calibration) -> Table:
    """Median and 10th–90th percentiles per signal, family and site: where each place's values lie."""
    groups: dict[tuple[str, str, str], list[float]] = {}
    for r in cal.rows:
        groups.setdefault((r[6], r[1], r[5]), []).append(r[7])
    order = {name: i for i, name in enumerate(cal.summary)}
    rows = []
    for (signal, family, site), values in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1:])):
        q10, q50, q90 = np.quantile(values, (SUGGESTED[0], 0.5, SUGGESTED[1]))
        rows.append([signal, family, site, _fmt(q10), _fmt(q50), _fmt(q90)])
    return Table(["signal", "family", "site", "q10", "median", "q90"], rows, css="calibration-sites",
                 key="calibration-sites")


def _blocks(cal: Calibration, figures: list[Figure], command: str) -> list[Block]:
    usable = [n for n in cal.summary if cal.summary[n].suggested is not None]
    blocks: list[Block] = [
        Heading(1, f"dynsearch calibration: {cal.study}"),
        Para(f"Generated by `{command}`. The study's fixed arms "
             f"({', '.join(cal.arms)}) trained {cal.epochs} epoch(s) with seed(s) "
             f"{', '.join(str(s) for s in cal.seeds)} on each dataset ({', '.join(cal.datasets)}), with the study's "
             "model and training settings and no early stopping; every registered signal was measured per site "
             "(network-wide signals under `(network)`) after every epoch.", css="meta"),
        Heading(2, "Where each signal lies", "quantiles"),
        Para("Quantiles over every site, dataset, seed, family and epoch. The suggested threshold range runs from "
             f"the {round(SUGGESTED[0] * 100)}th to the {round(SUGGESTED[1] * 100)}th percentile: a threshold "
             "inside it has measured values on both sides, so a rule using it can fire."),
        _quantile_table(cal),
    ]
    if usable:
        blocks += [Para("A study file uses these ranges with `\"calibrated\"` (each threshold arm gets the range of "
                        "the signal it reads):"),
                   Bullets(["`[search.threshold]` `lower = \"calibrated\"`, `upper = \"calibrated\"`"])]
    blocks += [Heading(2, "Per family and site", "sites"), _per_site_table(cal), Heading(2, "Figures", "figures")]
    blocks += [FigureBlock(f) for f in figures]
    blocks += [Para("Every measured value is in `calibration.json` (`values`: arm, family, dataset, seed, epoch, "
                    "site, signal, value).")]
    return blocks


def write_calibration_report(cal: Calibration, out: Path, command: str) -> list[str]:
    """Write ``calibration.json``, the figures, ``report.md`` and ``index.html`` into ``out``; returns the files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [_signal_figure(cal, name, out) for name in cal.summary]
    cal.save(out)
    blocks = _blocks(cal, figures, command)
    atomic_write_text(out / "report.md", render_markdown(blocks))
    atomic_write_text(out / "index.html", render_html(blocks, f"dynsearch calibration: {cal.study}"))
    return list(CALIBRATION_FILES) + [f.png for f in figures if f.png]
