"""Report figures: Optuna's plots (interactive HTML and PNG) and the per-site trajectories of the best
trial of every dynamic arm, read from the trials' stored ``history``.

Interactive figures are written as ``figures/NAME.html`` that load ``figures/plotly.min.js`` (one
copy in the report folder, never a CDN), and embedded in ``index.html``; static ones as
``figures/NAME.png`` (matplotlib, Agg backend) for ``report.md``. A figure that cannot be drawn
(too few trials, nothing varies) is skipped with a note saying why.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from .._logging import optuna_verbosity
from ..search.space import optuna_name
from ..selection import trial_arm
from ..strategies import get_strategy_class
from .trials import StudyData

__all__ = ["Figure", "make_figures", "PLOTLY_JS", "slice_params"]

PLOTLY_JS = "plotly.min.js"


def slice_params(data: StudyData) -> list[str]:
    """The float parameters the study's candidate strategies declare (λ, thresholds, …), as Optuna names."""
    names = []
    for strategy in data.spec.search.names:
        cls = get_strategy_class(strategy)
        if cls.role == "candidate":
            names += [optuna_name(strategy, p.name) for p in cls.declared_params() if p.kind == "float"]
    return names
_DPI = 100


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


def _target(trial: FrozenTrial) -> float:
    return trial.values[0]


def _pyplot():
    # The backend is the caller's choice (the CLI picks Agg; without a display matplotlib falls back to it).
    import matplotlib.pyplot as plt

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
            except Exception as exc:  # Optuna raises ValueError/RuntimeError for unsuitable studies
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
            except Exception as exc:
                figure.note = f"static version not drawn: {_one_line(exc)}"
                return figure
        ax = result.flat[0] if hasattr(result, "flat") else result
        fig = ax.figure
        fig.set_size_inches(*size)
        fig.suptitle(title)
        png_path = self.figdir / f"{name}.png"
        _save_png(fig, png_path)
        figure.png = f"figures/{name}.png"
        self.written.add(png_path.name)
        return figure


def _study_of(trials: list[FrozenTrial], directions: list[str]) -> optuna.Study:
    """An in-memory study holding ``trials`` (to plot a subset with Optuna's functions)."""
    study = optuna.create_study(directions=directions, storage=optuna.storages.InMemoryStorage())
    study.add_trials(trials)
    return study


def _varying_params(trials: list[FrozenTrial]) -> list[str]:
    names = set.intersection(*(set(t.params) for t in trials)) if trials else set()
    return sorted(n for n in names if len({repr(t.params[n]) for t in trials}) > 1)


def _importance_figure(w: _Writer, name: str, title: str, caption: str, study: optuna.Study, trials: list[FrozenTrial]) -> Figure:
    import optuna.visualization as pv
    import optuna.visualization.matplotlib as mv
    from optuna.importance import FanovaImportanceEvaluator

    if len(trials) < 2:
        return Figure(name, title, caption, note=f"skipped: needs at least 2 complete trials, has {len(trials)}")
    if len({t.values[0] for t in trials}) == 1:
        return Figure(name, title, caption, note="skipped: every complete trial has the same value, nothing to explain")
    if not _varying_params(trials):
        return Figure(
            name, title, caption,
            note="skipped: no parameter shared by all complete trials takes more than one value",
        )
    return w.optuna_figure(
        name, title, caption,
        lambda: pv.plot_param_importances(study, target=_target, target_name=w.metric_name,
                                          evaluator=FanovaImportanceEvaluator(seed=0)),
        lambda: mv.plot_param_importances(study, target=_target, target_name=w.metric_name,
                                          evaluator=FanovaImportanceEvaluator(seed=0)),
    )


def _trajectory_figure(w: _Writer, arm: str, trial: FrozenTrial, labels: list[str]) -> Figure:
    name = f"trajectory-{arm}"
    title = f"{arm}: what the strategy did while training (trial {trial.number}, seed 0)"
    caption = (
        "Per activation site and epoch: the Pearson r between the site's input and output measured during the "
        "epoch, the family and its parameter α that the strategy set at the end of the epoch (what the next "
        "epoch trains with), and the validation metric."
    )
    history = trial.user_attrs.get("history") or {}
    rows = [(label, history[label]) for label in labels if (history.get(label) or {}).get("epochs")]
    if not rows:
        return Figure(name, title, caption, note="skipped: the trial has no stored history")
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    with plt.style.context("ggplot"):  # the look of Optuna's matplotlib figures
        fig, axes = plt.subplots(len(rows), 4, figsize=(15, 2.5 * len(rows) + 0.8), squeeze=False)
        _draw_trajectories(fig, axes, rows, title, colors=plt.rcParams["axes.prop_cycle"].by_key()["color"])
        for ax in axes.flat:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        path = w.figdir / f"{name}.png"
        _save_png(fig, path)
    w.written.add(path.name)
    return Figure(name, title, caption, png=f"figures/{name}.png")


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
            ax_a.plot(epochs, _site_series(h["epochs"], s_idx, 2), **style)
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
            ax_r.set_title("r (input vs output)")
            ax_a.set_title("α (family parameter)")
            ax_f.set_title("active family")
            ax_v.set_title("validation metric")
            ax_r.legend(fontsize=7, loc="lower left")
        if row == len(rows) - 1:
            for ax in axes[row]:
                ax.set_xlabel("epoch")
    fig.suptitle(title)
    fig.tight_layout()


@optuna_verbosity(logging.ERROR)  # Optuna's plots log experimental-API notices; restored on return
def make_figures(data: StudyData, study: optuna.Study, out: Path) -> list[Figure]:
    """Draw every figure into ``out/figures`` (stale files of earlier runs are removed)."""
    import optuna.visualization as pv
    import optuna.visualization.matplotlib as mv

    metric_name = "mean validation metric"
    w = _Writer(out, metric_name)
    complete = [t for t in data.trials if t.state == TrialState.COMPLETE and t.values]
    figures: list[Figure] = []

    hist_caption = "Every complete trial's mean validation metric in the order trials were run, and the best so far."
    # A single-objective study is plotted as it is (with the best-so-far line); a multi-objective one
    # through its first objective (Optuna then knows no direction and draws no best line).
    history_kwargs: dict[str, Any] = {"target_name": metric_name}
    if data.multi_objective:
        history_kwargs["target"] = _target
        hist_caption = "Every complete trial's mean validation metric (first objective) in the order trials were run."
    if complete:
        figures.append(w.optuna_figure(
            "optimization-history", "Optimization history", hist_caption,
            lambda: pv.plot_optimization_history(study, **history_kwargs),
            lambda: mv.plot_optimization_history(study, **history_kwargs),
        ))
    else:
        figures.append(Figure("optimization-history", "Optimization history", hist_caption,
                              note="skipped: no complete trial yet"))

    figures.append(_importance_figure(
        w, "param-importances", "Parameter importances (all arms)",
        "fANOVA importance (seed 0) of the parameters every trial has (the arm, and the learning rate or width "
        "when searched) for the mean validation metric.",
        study, complete,
    ))
    for kind in sorted({data.arm(trial_arm(t) or "").strategy for t in complete} - {""}):
        if not any(name.startswith(f"{kind}.") for t in complete for name in t.params):
            continue  # nothing of its own searched (a baseline with only its arm's values)
        subset = [t for t in complete if data.arm(trial_arm(t) or "").strategy == kind]
        sub_study = _study_of(subset, data.directions) if subset else study
        figures.append(_importance_figure(
            w, f"param-importances-{kind}", f"Parameter importances ({kind} trials)",
            f"fANOVA importance of the {kind} strategy's parameters over its own complete trials.",
            sub_study, subset,
        ))

    pc_caption = "Each line is a complete trial; parameters an arm does not use show as None."
    if len(complete) >= 2:
        figures.append(w.optuna_figure(
            "parallel-coordinate", "Parallel coordinates", pc_caption,
            lambda: pv.plot_parallel_coordinate(study, target=_target, target_name=metric_name),
            lambda: mv.plot_parallel_coordinate(study, target=_target, target_name=metric_name),
            size=(13, 6),
        ))
    else:
        figures.append(Figure("parallel-coordinate", "Parallel coordinates", pc_caption,
                              note=f"skipped: needs at least 2 complete trials, has {len(complete)}"))

    present = [p for p in slice_params(data) if any(p in t.params for t in complete)]
    slice_caption = ("The mean validation metric against each float parameter the candidate strategies declare "
                     "(λ, thresholds, …), one dot per trial.")
    if present:
        figures.append(w.optuna_figure(
            "slice", "Slice: strategy parameters", slice_caption,
            lambda: pv.plot_slice(study, params=present, target=_target, target_name=metric_name),
            lambda: mv.plot_slice(study, params=present, target=_target, target_name=metric_name),
            size=(4 * len(present), 4),
        ))
    else:
        figures.append(Figure("slice", "Slice: strategy parameters", slice_caption,
                              note="skipped: no complete trial of a candidate arm with a float parameter"))

    if data.multi_objective and len(complete) >= 1:
        figures.append(w.optuna_figure(
            "pareto-front", "Pareto front: validation metric vs training time",
            "Complete trials by mean validation metric (maximized) and training seconds (minimized).",
            lambda: pv.plot_pareto_front(study, target_names=[metric_name, "training seconds"]),
            lambda: mv.plot_pareto_front(study, target_names=[metric_name, "training seconds"]),
        ))

    labels = [ds.label for ds in data.spec.datasets]
    for arm in data.arms:
        if data.adjusts(arm) and arm in data.best:
            figures.append(_trajectory_figure(w, arm, data.best[arm], labels))

    if w.needs_plotlyjs:
        from plotly.offline import get_plotlyjs

        js = w.figdir / PLOTLY_JS
        text = get_plotlyjs()
        if not js.exists() or js.read_text(encoding="utf-8") != text:
            js.write_text(text, encoding="utf-8")
        w.written.add(PLOTLY_JS)
    if w.figdir.exists():
        for stale in w.figdir.iterdir():
            if stale.is_file() and stale.suffix in (".png", ".html", ".js") and stale.name not in w.written:
                stale.unlink()
    return figures
