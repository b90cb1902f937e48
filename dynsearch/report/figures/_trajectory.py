"""Trajectory figures: for one trial, per dataset and epoch, each activation site's r (titled by the
signal the strategy reads, "not measured" when it reads none) with the strategy's thresholds, α with
the bounds of its range, the active family, and the validation metric (from the trial's stored history)."""

from __future__ import annotations

import math
from typing import Any

from optuna.trial import FrozenTrial

from ...activations import get_family
from ...strategies import get_strategy_class
from ._figure import Figure, _pyplot, _save_png, _Writer

__all__ = ["trajectory_figure", "history_changes", "MAX_DATASETS"]

MAX_DATASETS = 8  # rows of a trajectory figure


def trajectory_figure(w: _Writer, arm: str, trial: FrozenTrial, labels: list[str]) -> Figure:
    name = f"trajectory-{arm}"
    title = f"{arm}: what the strategy did while training (trial {trial.number}, seed 0)"
    strategy = trial.user_attrs.get("strategy") or {}
    params = strategy.get("params") or {}
    signal = _signal_of(strategy)
    measured = {"io": "the Pearson r between each site's input and output",
                "target": "the Pearson r between the network's output and the target (one value for all sites)"}
    r_text = measured.get(signal or "", "r: not measured (this strategy does not read r)")
    caption = (
        f"Per activation site and epoch: {r_text}"
        + (", measured during the epoch" if signal else "")
        + "; the family and its parameter α that the strategy set at the end of the epoch (what the next epoch "
        "trains with), and the validation metric. Dashed lines: the strategy's thresholds (r panel) and the "
        "bounds of α's range (α panel)."
    )
    history = trial.user_attrs.get("history") or {}
    rows = [(label, history[label]) for label in labels if (history.get(label) or {}).get("epochs")]
    if not rows:
        return Figure(name, title, caption, note="skipped: the trial has no stored history")
    if len(rows) > MAX_DATASETS:  # one row per dataset: a study of many datasets made an unreadable strip
        caption += (f" Shown: the first {MAX_DATASETS} of the {len(rows)} datasets in the study's order "
                    "(every dataset's history is stored on the trial).")
        rows = rows[:MAX_DATASETS]
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator  # matplotlib only when a figure is drawn

    with plt.style.context("ggplot"):  # the look of Optuna's matplotlib figures
        fig, axes = plt.subplots(len(rows), 4, figsize=(15, 2.5 * len(rows) + 0.8), squeeze=False)
        _draw_trajectories(fig, axes, rows, title, colors=plt.rcParams["axes.prop_cycle"].by_key()["color"])
        _draw_guides(axes, rows, params, signal)
        for ax in axes.flat:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        path = w.figdir / f"{name}.png"
        _save_png(fig, path)
    w.written.add(path.name)
    return Figure(name, title, caption, png=f"figures/{name}.png")


def _signal_of(strategy: dict[str, Any]) -> str | None:
    """The signal the strategy reads, or None when it reads none (fixed, learned)."""
    try:
        cls = get_strategy_class(str(strategy.get("name")))
    except ValueError:
        return "io"
    if not cls.uses_signal:
        return None
    return str((strategy.get("params") or {}).get("signal") or "io")


_R_TITLES = {"io": "r (site input vs output)", "target": "r (output vs target)", None: "r: not measured"}


def _draw_guides(axes: Any, rows: list[tuple[str, Any]], params: dict[str, Any], signal: str | None) -> None:
    """Thresholds on the r panel, α's range on the α panel, and the r panel's title for the signal."""
    families = sorted({s[1] for _, h in rows for e in h["epochs"] for s in e[2]})
    bounds = sorted({b for f in families for b in (get_family(f).alpha_range or ())})
    for row in range(len(rows)):
        ax_r, ax_a = axes[row][0], axes[row][1]
        if signal is None:
            ax_r.cla()
            ax_r.axis("off")
            label = rows[row][0] if len(rows[row][0]) < 28 else rows[row][0][:25] + "…"
            ax_r.text(0.5, 0.5, f"{label}\n\nr not measured:\nthis strategy does not read r", ha="center",
                      va="center", transform=ax_r.transAxes, fontsize=9, color="#555")
        for key in ("lower", "upper"):
            if isinstance(params.get(key), (int, float)):
                ax_r.axhline(float(params[key]), color="#c0392b", linestyle="--", linewidth=1)
                # lower's label under its line, upper's above: close thresholds no longer print over each other
                ax_r.text(0.99, float(params[key]), f" {key} {float(params[key]):.2f}", color="#c0392b", fontsize=7,
                          ha="right", va="top" if key == "lower" else "bottom", transform=ax_r.get_yaxis_transform())
        low, high = ax_a.get_ylim()
        span = max(high - low, 0.2)
        for b in bounds:  # a bound far from the data would squash the curve: named in the label instead
            if low - span <= b <= high + span:
                ax_a.axhline(b, color="#7f8c8d", linestyle="--", linewidth=0.9)
                low, high = min(low, b - 0.05 * span), max(high, b + 0.05 * span)
        ax_a.set_ylim(low, high)
    ranges = [f"{f} [{r[0]:g}, {r[1]:g}]" for f in families if (r := get_family(f).alpha_range) is not None]
    axes[0][1].set_title("α (family parameter)" + (f"\nrange: {'; '.join(ranges)}" if ranges else ""), fontsize=9)
    axes[0][0].set_title(_R_TITLES.get(signal, "r"), fontsize=10)


def history_changes(trial: FrozenTrial) -> bool:
    """Whether any site's family or α changed during the trial's stored training (a learned α does)."""
    for h in (trial.user_attrs.get("history") or {}).values():
        epochs = (h or {}).get("epochs") or []
        states = {(i, s[1], s[2]) for e in epochs for i, s in enumerate(e[2])}
        if len(states) > len({(i,) for e in epochs for i, _ in enumerate(e[2])}):
            return True
    return False


def _site_series(epochs: list[Any], site: int, k: int) -> list[float]:
    """Field ``k`` (0: r, 2: α) of one site over the epochs (NaN where missing)."""
    values = []
    for e in epochs:
        v = e[2][site][k] if site < len(e[2]) else None
        values.append(math.nan if v is None else float(v))
    return values


def _draw_trajectories(fig: Any, axes: Any, rows: list[tuple[str, Any]], title: str, colors: list[str]) -> None:
    families = sorted({s[1] for _, h in rows for e in h["epochs"] for s in e[2]})
    fam_index = {f: i for i, f in enumerate(families)}
    for row, (label, h) in enumerate(rows):
        sites = h.get("sites") or [str(i) for i in range(len(h["epochs"][0][2]))]
        epochs = [e[0] for e in h["epochs"]]
        ax_r, ax_a, ax_f, ax_v = axes[row]
        for s_idx, site in enumerate(sites):
            color = colors[s_idx % len(colors)]
            # Later sites thinner and dashed: with global scope every site has the same r and α.
            style = {"color": color, "marker": ".", "linewidth": max(2.6 - 0.7 * s_idx, 1.0),
                     "linestyle": "-" if s_idx == 0 else (0, (4, 2 + s_idx))}
            ax_r.plot(epochs, _site_series(h["epochs"], s_idx, 0), label=f"site {site}", **style)
            ax_a.plot(epochs, _site_series(h["epochs"], s_idx, 2), label=f"site {site}", **style)
            offset = (s_idx - (len(sites) - 1) / 2) * 0.08
            fam = [fam_index[e[2][s_idx][1]] + offset if s_idx < len(e[2]) else math.nan for e in h["epochs"]]
            ax_f.step(epochs, fam, where="post", marker="o", markersize=3, color=color)
        ax_r.set_ylim(-1.05, 1.05)
        ax_r.axhline(0, color="#999", linewidth=0.6)
        ax_f.set_yticks(range(len(families)), families)
        ax_f.set_ylim(-0.5, len(families) - 0.5)
        vals = [math.nan if e[1] is None else e[1] for e in h["epochs"]]
        ax_v.plot(epochs, vals, marker=".", color="black")
        ax_r.set_ylabel(label if len(label) < 28 else label[:25] + "…", fontsize=9)
        if row == 0:
            ax_f.set_title("active family", fontsize=10)
            ax_v.set_title("validation metric", fontsize=10)
            # One legend for the figure, in the title band: inside a panel it hid the curves.
            fig.legend(*ax_a.get_legend_handles_labels(), loc="upper right", fontsize=8, ncol=min(len(sites), 6))
        if row == len(rows) - 1:
            for ax in axes[row]:
                ax.set_xlabel("epoch")
    height = fig.get_size_inches()[1]
    # Placed in inches from the top: the default 0.98 of a tall figure's height fell inside the first row.
    fig.suptitle(title, fontsize=12, y=1 - 0.15 / height, va="top")
    # Leave the suptitle its own band so it never overlaps the panel titles.
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / height))
