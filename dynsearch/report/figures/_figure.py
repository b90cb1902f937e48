"""What every figure shares: the ``Figure`` a report shows, the writer that draws Optuna's plots as
interactive HTML and PNG into ``figures/``, the arm colours, and matplotlib's PNG settings."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["Figure", "PLOTLY_JS", "arm_colors"]

PLOTLY_JS = "plotly.min.js"
_DPI = 100


def arm_colors(arms: list[str]) -> dict[str, str]:
    """One colour per arm, in the study's arm order, the same in every figure that colours by arm."""
    from matplotlib import colormaps  # matplotlib only when colours are asked for
    from matplotlib.colors import to_hex  # (as above)

    # Ten distinct colours (ggplot's cycle repeats after seven); twenty, in light/dark pairs, beyond ten arms.
    n = 10 if len(arms) <= 10 else 20
    cmap = colormaps["tab10" if n == 10 else "tab20"]
    return {arm: to_hex(cmap(k % n)) for k, arm in enumerate(arms)}


@dataclass
class Figure:
    """One figure of the report; ``png``/``html`` are paths relative to the report folder."""

    name: str
    title: str
    caption: str = ""
    png: str | None = None
    html: str | None = None
    div: str | None = None  # the plotly <div> for index.html (needs plotly.min.js loaded first)
    note: str | None = None  # why it was skipped

    @property
    def skipped(self) -> bool:
        return self.png is None and self.div is None


def _pyplot():
    # The backend is the caller's choice (the CLI picks Agg; without a display matplotlib falls back to it).
    import matplotlib.pyplot as plt  # matplotlib only when a figure is drawn

    return plt


def _save_png(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No software/date metadata: the same data always gives the same bytes.
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class _Writer:
    def __init__(self, out: Path, metric_name: str) -> None:
        self.out = out
        self.figdir = out / "figures"
        self.metric_name = metric_name
        self.written: set[str] = set()
        self.needs_plotlyjs = False

    def optuna_figure(
        self,
        name: str,
        title: str,
        caption: str,
        plotly_fn: Callable[[], Any],
        mpl_fn: Callable[[], Any],
        size: tuple[float, float] = (8, 5),
    ) -> Figure:
        figure = Figure(name, title, caption)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                pfig = plotly_fn()
            # Optuna raises ValueError/RuntimeError for a study it cannot plot; anything else is a bug and propagates.
            except (ValueError, RuntimeError) as exc:
                figure.note = f"not drawn: {_one_line(exc)}"
                return figure
            pfig.update_layout(title=title)
            figure.div = pfig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{name}")
            html_path = self.figdir / f"{name}.html"
            html_path.parent.mkdir(parents=True, exist_ok=True)
            html_path.write_text(
                pfig.to_html(full_html=True, include_plotlyjs="directory", div_id=f"fig-{name}"), encoding="utf-8"
            )
            figure.html = f"figures/{name}.html"
            self.written.add(html_path.name)
            self.needs_plotlyjs = True
            try:
                result = mpl_fn()
            except (ValueError, RuntimeError) as exc:
                figure.note = f"static version not drawn: {_one_line(exc)}"
                return figure
        ax = result.flat[0] if hasattr(result, "flat") else result
        fig = ax.figure
        legend = ax.get_legend()
        if legend is not None and len(legend.get_texts()) <= 1:  # one objective's name: the axis says it already
            legend.remove()
        fig.set_size_inches(*size)
        for loc in ("left", "center", "right"):  # Optuna's own title would repeat the report's
            ax.set_title("", loc=loc)
        fig.suptitle(title)
        png_path = self.figdir / f"{name}.png"
        _save_png(fig, png_path)
        figure.png = f"figures/{name}.png"
        self.written.add(png_path.name)
        return figure
