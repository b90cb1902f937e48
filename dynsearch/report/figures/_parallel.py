"""A parallel-coordinate PNG that stays readable: one line per complete trial, each axis scaled to
its own range with its labels on a white box, the colour from a perceptual map (best bright and on
top); the parameters every trial has come first, and a line stops where its arm's parameters end."""

from __future__ import annotations

import math
from typing import Any, Mapping

from optuna.trial import FrozenTrial

__all__ = ["draw_parallel", "draw_slice"]


def _axis(values: list[Any]) -> tuple[list[float | None], list[tuple[float, str]]]:
    """Positions in [0, 1] (None where missing) and the tick labels of one axis."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        low, high = min(present), max(present)
        log = low > 0 and high / low > 20
        f = (lambda v: math.log10(v)) if log else (lambda v: float(v))
        lo, hi = f(low), f(high)
        span = (hi - lo) or 1.0
        pos = [None if v is None else (f(v) - lo) / span for v in values]
        ticks = [((f(t) - lo) / span, f"{t:.3g}") for t in sorted({low, high, (10 ** ((lo + hi) / 2)) if log
                                                                        else (low + high) / 2})]
        return pos, ticks
    levels = sorted({str(v) for v in present})
    step = 1.0 / max(len(levels) - 1, 1)
    index = {name: i * step for i, name in enumerate(levels)}
    return [None if v is None else index[str(v)] for v in values], [(p, n) for n, p in index.items()]


def draw_parallel(trials: list[FrozenTrial], params: list[str], metric: str) -> Any:
    """The matplotlib axes of the plot (the caller saves it)."""
    import matplotlib.pyplot as plt  # matplotlib only when a figure is drawn

    trials = sorted(trials, key=lambda t: t.values[0])  # best last, so drawn on top
    # Parameters every trial has (the arm, lr) first, so no line has to jump over another arm's axes.
    params = sorted(params, key=lambda p: (not all(p in t.params for t in trials), p))
    values = [t.values[0] for t in trials]
    names = [metric] + params
    columns = [_axis(values)] + [_axis([t.params.get(p) for t in trials]) for p in params]
    cmap = plt.get_cmap("viridis")
    low, high = min(values), max(values)
    with plt.style.context("default"):
        fig, ax = plt.subplots(figsize=(max(8, 1.7 * len(names)), 6))
        for i in range(len(trials)):
            color = cmap((values[i] - low) / ((high - low) or 1.0))
            for j in range(len(names) - 1):  # only between neighbouring axes the trial has
                a, b = columns[j][0][i], columns[j + 1][0][i]
                if a is not None and b is not None:
                    ax.plot([j, j + 1], [a, b], color=color, linewidth=1.2, alpha=0.85)
        for j, (_, ticks) in enumerate(columns):
            ax.axvline(j, color="#555", linewidth=0.8)
            for y, label in ticks:
                ax.text(j + 0.04, y, label, fontsize=8, va="center",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=9)
        ax.set_yticks([])
        ax.set_xlim(-0.2, len(names) - 0.4)
        ax.set_ylim(-0.05, 1.05)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(low, high))
        fig.colorbar(sm, ax=ax, pad=0.02, label=metric)
    return ax


def draw_slice(
    trials: list[FrozenTrial], params: list[str], metric: str, arm_param: str, colors: Mapping[str, str]
) -> Any:
    """The value against each parameter, one panel per parameter, coloured by arm (``colors``, the
    report's colour of each arm, in the order of its keys) with a legend."""
    import matplotlib.pyplot as plt  # matplotlib only when a figure is drawn

    shown = {str(t.params.get(arm_param)) for t in trials if any(p in t.params for p in params)}
    arms = [a for a in colors if a in shown] + sorted(shown - set(colors))
    with plt.style.context("ggplot"):
        fig, axes = plt.subplots(1, len(params), figsize=(4 * len(params), 4), sharey=True, squeeze=False)
        for ax, param in zip(axes[0], params):
            for arm in arms:
                mine = [t for t in trials if param in t.params and str(t.params.get(arm_param)) == arm]
                if mine:
                    ax.scatter([t.params[param] for t in mine], [t.values[0] for t in mine], s=22,
                               color=colors.get(arm, "#777777"), label=arm, edgecolor="white", linewidth=0.5)
            ax.set_xlabel(param)
        axes[0][0].set_ylabel(metric)
        handles = {h.get_label(): h for ax in axes[0] for h in ax.collections}
        fig.legend(list(handles.values()), list(handles), loc="upper center", fontsize=8, ncol=min(4, len(handles)),
                   bbox_to_anchor=(0.5, 0.0))  # below the panels, clear of the title
    return axes[0][0]
