"""The critical-difference diagram (Demšar 2006, fig. 1): arms on an axis of mean rank, best at the
left, and a bar joining every run of arms whose mean ranks differ by less than the Nemenyi CD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..inference import RankResult, cliques

__all__ = ["draw_cd_diagram"]


def draw_cd_diagram(result: RankResult, path: Path, save: Any) -> None:
    """Draw ``result`` into ``path`` (``save(fig, path)`` writes the PNG)."""
    import matplotlib.pyplot as plt  # matplotlib only when a figure is drawn

    order = sorted(range(len(result.arms)), key=lambda i: (result.mean_ranks[i], result.arms[i]))
    ranks = [result.mean_ranks[i] for i in order]
    names = [result.arms[i] for i in order]
    k = len(names)
    half = (k + 1) // 2
    height = 1.6 + 0.32 * half
    with plt.style.context("default"):  # independent of any style another figure left behind
        fig, ax = plt.subplots(figsize=(10, height))
        ax.set_xlim(-1.6, k + 2.6)  # room for the labels on both sides of the rank axis
        ax.set_ylim(-(half * 0.55 + 0.6), 1.6)
        ax.axis("off")
        ax.hlines(0, 1, k, color="black", linewidth=1)
        for tick in range(1, k + 1):
            ax.vlines(tick, 0, 0.15, color="black", linewidth=1)
            ax.text(tick, 0.3, str(tick), ha="center", va="bottom", fontsize=9)
        # Best arms labelled on the left, the rest on the right, so no label crosses another.
        for j, (name, rank) in enumerate(zip(names, ranks)):
            left = j < half
            row = j if left else k - 1 - j
            y = -(row + 1) * 0.55 - 0.3
            x_text = 0.7 if left else k + 0.3
            ax.plot([rank, rank, x_text], [0, y, y], color="#444", linewidth=0.9)
            ax.text(x_text + (-0.05 if left else 0.05), y, f"{name} ({rank:.2f})", ha="right" if left else "left",
                    va="center", fontsize=9)
        for n, (a, b) in enumerate(cliques(result)):
            y = -0.2 - 0.12 * n
            ax.hlines(y, ranks[a] - 0.03, ranks[b] + 0.03, color="#c0392b", linewidth=3)
        if result.cd == result.cd:  # not NaN
            ax.hlines(1.15, 1, 1 + result.cd, color="black", linewidth=1.5)
            ax.vlines([1, 1 + result.cd], 1.05, 1.25, color="black", linewidth=1.5)
            ax.text(1 + result.cd / 2, 1.3, f"CD = {result.cd:.2f}", ha="center", va="bottom", fontsize=9)
        ax.set_title(f"Mean rank over {result.n_datasets} datasets (1 = best); Friedman p = {result.p_value:.3g}",
                     fontsize=10, pad=4)
        save(fig, path)
