"""Where the signals lay during the report's re-training runs, per arm: a table and one figure.

The first re-training seed of every arm and dataset measures every registered signal per site and
epoch (``RetrainRun.signals``), whatever the arm's strategy reads. The section says, per signal and
arm, where the values lay (10th percentile, median, 90th percentile over sites, datasets and epochs)
and how they moved (the median at the first and at the last epoch); for an arm with thresholds on a
signal, how many of its values lay beyond them, which says whether the rule could fire at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..figures import Figure, arm_colors
from ..fmt import fmt_pct
from ..retrain import RetrainRun
from ..roles import arm_role
from ..trials import StudyData
from ._blocks import Block, FigureBlock, Heading, Para, Table

__all__ = ["signal_section", "signal_values"]

# arm -> signal -> [(epoch, value)] over its recorded runs, sites and datasets
Values = dict[str, dict[str, list[tuple[int, float]]]]


def signal_values(runs: Sequence[RetrainRun]) -> Values:
    """Every recorded value, by arm and signal, with its epoch."""
    out: Values = {}
    for run in runs:
        for signal, sites in (run.signals or {}).items():
            bucket = out.setdefault(run.arm, {}).setdefault(signal, [])
            for series in sites.values():
                bucket += [(epoch, float(v)) for epoch, v in enumerate(series) if v is not None and math.isfinite(v)]
    return out


def _thresholds(data: StudyData, arm: str) -> tuple[str, float, float] | None:
    """``(signal, lower, upper)`` of the arm's best trial when its strategy thresholds a signal."""
    trial = data.best.get(arm)
    params = ((trial.user_attrs.get("strategy") or {}).get("params") or {}) if trial is not None else {}
    lower, upper, signal = params.get("lower"), params.get("upper"), params.get("signal")
    if isinstance(lower, (int, float)) and isinstance(upper, (int, float)) and isinstance(signal, str):
        return signal, float(lower), float(upper)
    return None


def _median_at(pairs: list[tuple[int, float]], epoch: int) -> float:
    at = [v for e, v in pairs if e == epoch]
    return float(np.median(at)) if at else math.nan


def _rows(data: StudyData, values: Values) -> tuple[list[list[str]], list[str]]:
    rows, keys = [], []
    signals = list(dict.fromkeys(s for per in values.values() for s in per))
    for signal in signals:
        for arm in [a for a in data.arms if signal in values.get(a, {})]:
            pairs = values[arm][signal]
            v = np.array([p[1] for p in pairs])
            last = max(e for e, _ in pairs)
            q10, q50, q90 = np.quantile(v, (0.1, 0.5, 0.9))
            beyond = "–"
            found = _thresholds(data, arm)
            if found is not None and found[0] == signal:
                _, lower, upper = found
                beyond = (f"{lower:.3f} / {upper:.3f}: {fmt_pct(float((v < lower).mean()))} below, "
                          f"{fmt_pct(float((v > upper).mean()))} above")
            rows.append([signal, arm, str(v.size), f"{q10:.3f}", f"{q50:.3f}", f"{q90:.3f}",
                         f"{_median_at(pairs, 0):.3f} → {_median_at(pairs, last):.3f}", beyond])
            keys.append(arm)
    return rows, keys


def _figure(data: StudyData, values: Values, out: Path) -> Figure:
    import matplotlib.pyplot as plt  # matplotlib only when the figure is drawn

    signals = list(dict.fromkeys(s for per in values.values() for s in per))
    cols = min(3, len(signals))
    n_rows = math.ceil(len(signals) / cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(5 * cols, 3.2 * n_rows), squeeze=False)

    colors = arm_colors(data.arms)
    styles = {"candidate": "-", "baseline": "--", "control": ":"}
    for ax, signal in zip(axes.flat, signals):
        for arm in [a for a in data.arms if signal in values.get(a, {})]:
            pairs = values[arm][signal]
            epochs = sorted({e for e, _ in pairs})
            ax.plot([e + 1 for e in epochs], [_median_at(pairs, e) for e in epochs], label=arm, linewidth=1.2,
                    color=colors[arm], linestyle=styles.get(arm_role(data, arm), "-"))
        ax.set(title=signal, xlabel="epoch")
    for ax in list(axes.flat)[len(signals):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.06 + 0.02 * math.ceil(len(labels) / 4), 1, 1))
    path = out / "figures" / "signals.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Figure("signals", "Signals per epoch in the re-training runs",
                  "Median over sites, datasets and recorded runs of every signal, per arm and epoch; solid: "
                  "candidates, dashed: baselines, dotted: controls. Runs that stop early leave the later epochs, so "
                  "a median can jump when one does (the data signal, a constant per dataset, moves only so).",
                  png="figures/signals.png")


def signal_section(data: StudyData, runs: Mapping[str, RetrainRun], seeds: Sequence[int], out: Path) -> list[Block]:
    """The report's "Where the signals lay" section (writes ``figures/signals.png``)."""
    blocks: list[Block] = [Heading(2, "Where the signals lay", "signals")]
    recorded = [r for r in runs.values() if r.signals]
    missing = [r for r in runs.values() if r.ok and r.signals is None and seeds and r.seed == seeds[0]]
    if not recorded:
        blocks.append(Para("No re-training run recorded the signals (runs stored by an earlier dynsearch): "
                           f"`dynsearch report {data.name} --refresh` trains them again and records them."))
        return blocks
    values = signal_values(recorded)
    rows, keys = _rows(data, values)
    blocks += [
        Para(f"Every registered signal, measured on every site (network-wide signals once per network) after every "
             f"epoch of {len(recorded)} re-training run(s) (the first seed, {seeds[0] if seeds else '–'}, of every "
             "arm and dataset), whatever the arm's strategy reads. Quantiles over sites, datasets and epochs; the "
             "median at the first and last epoch says how the signal moved. For an arm that thresholds a signal: "
             "its best trial's thresholds and the share of the values beyond them (none beyond: the rule could not "
             "fire; an arm of global scope reads the value pooled over its sites, near these). `dynsearch calibrate` measures the same on the fixed arms before a search."),
        Table(["signal", "arm", "values", "q10", "median", "q90", "median: first → last epoch",
               "thresholds (lower / upper): values beyond"], rows, css="signals", key="signals", row_keys=keys),
        FigureBlock(_figure(data, values, out)),
    ]
    if missing:
        blocks.append(Para(f"{len(missing)} first-seed run(s) were stored before signals were recorded and are not "
                           f"shown; `dynsearch report {data.name} --refresh` records them."))
    return blocks
