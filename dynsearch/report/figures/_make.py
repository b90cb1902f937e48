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
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..._logging import optuna_verbosity
from ...search.space import optuna_name
from ...selection import ARM_PARAM, trial_arm
from ...strategies import get_strategy_class
from ..roles import arm_role
from ..trials import StudyData
from ._cd import draw_cd_diagram
from ._figure import PLOTLY_JS, Figure, _pyplot, _save_png, _Writer, arm_colors
from ._parallel import draw_parallel, draw_slice
from ._trajectory import history_changes, trajectory_figure

__all__ = ["make_figures", "slice_params"]

# The write-up's own knobs: λ of the linear update and the two thresholds.
def slice_params(data: StudyData) -> list[str]:
    """The float parameters the study's candidate strategies declare (λ, thresholds, …), as Optuna names."""
    names = []
    for strategy in data.spec.search.names:
        cls = get_strategy_class(strategy)
        if cls.role == "candidate":
            names += [optuna_name(strategy, p.name) for p in cls.declared_params() if p.kind == "float"]
    return names


def _target(trial: FrozenTrial) -> float:
    return trial.values[0]


def _study_of(trials: list[FrozenTrial], directions: list[str]) -> optuna.Study:
    """An in-memory study holding ``trials`` (to plot a subset with Optuna's functions)."""
    study = optuna.create_study(directions=[optuna.study.StudyDirection[d.upper()] for d in directions], storage=optuna.storages.InMemoryStorage())
    study.add_trials(trials)
    return study


def _varying_params(trials: list[FrozenTrial]) -> list[str]:
    names = set.intersection(*(set(t.params) for t in trials)) if trials else set()
    return sorted(n for n in names if len({repr(t.params[n]) for t in trials}) > 1)


#: The most arms an importance figure explains. fANOVA one-hot encodes the arm, and its cost grows steeply with the
#: arms and the trials: on the benchmark study (102 trials) 36 trials of 6 arms took 0.3 s, 36 of all 17 arms 12 s,
#: and all 102 trials over 17 arms 263 s, for one figure that the report's tables of arms already say better.
MAX_IMPORTANCE_ARMS = 6


def _importance_figure(w: _Writer, name: str, title: str, caption: str, study: optuna.Study, trials: list[FrozenTrial]) -> Figure:
    import optuna.visualization as pv  # plotly and matplotlib load with these: only when figures are drawn
    import optuna.visualization.matplotlib as mv  # (as above)
    from optuna.importance import FanovaImportanceEvaluator  # optuna.importance only when importances are drawn

    if len(trials) < 2:
        return Figure(name, title, caption, note=f"skipped: needs at least 2 complete trials, has {len(trials)}")
    if len({t.values[0] for t in trials}) == 1:
        return Figure(name, title, caption, note="skipped: every complete trial has the same value, nothing to explain")
    if not _varying_params(trials):
        return Figure(
            name, title, caption,
            note="skipped: no parameter shared by all complete trials takes more than one value",
        )
    arms = {trial_arm(t) for t in trials}
    if len(arms) > MAX_IMPORTANCE_ARMS:
        return Figure(name, title, caption, note=(
            f"skipped: fANOVA over {len(arms)} arms would take minutes (its cost grows steeply with the arms and the "
            f"trials), so it is drawn for at most {MAX_IMPORTANCE_ARMS}; the report's tables compare the arms, and "
            "each strategy's own importance figure its parameters"))  # fmt: skip
    # One fANOVA fit for both renderings: on a study of many arms it takes minutes.
    evaluator = _evaluate_once(FanovaImportanceEvaluator(seed=0))
    return w.optuna_figure(
        name, title, caption,
        lambda: pv.plot_param_importances(study, target=_target, target_name=w.metric_name, evaluator=evaluator),
        lambda: mv.plot_param_importances(study, target=_target, target_name=w.metric_name, evaluator=evaluator),
    )


def _evaluate_once(inner: Any) -> Any:
    """An importance evaluator that computes once and returns the same importances afterwards."""
    from optuna.importance import BaseImportanceEvaluator  # optuna.importance only when importances are drawn

    class EvaluateOnce(BaseImportanceEvaluator):
        def __init__(self) -> None:
            self.result: Any = None

        def evaluate(self, study: optuna.Study, params: Any = None, *, target: Any = None) -> Any:
            if self.result is None:
                self.result = inner.evaluate(study, params=params, target=target)
            return self.result

    return EvaluateOnce()


def _history_figure(w: _Writer, data: StudyData, complete: list[FrozenTrial]) -> Figure:
    """Every complete trial's value in run order, one colour per arm, and the best so far."""
    name, title = "optimization-history", "Optimization history"
    caption = ("Every complete trial's mean validation metric (first objective) in the order trials were run, "
               "coloured by arm; the line is the best value so far over all arms.")
    if not complete:
        return Figure(name, title, caption, note="skipped: no complete trial yet")
    import plotly.graph_objects as go  # plotly only when the figure is drawn

    arms = [a for a in data.arms if any((trial_arm(t) or "") == a for t in complete)]
    colors = arm_colors(data.arms)
    best, running = [], -math.inf
    for t in complete:
        running = max(running, t.values[0])
        best.append(running)
    pfig = go.Figure()
    for arm in arms:
        mine = [t for t in complete if (trial_arm(t) or "") == arm]
        pfig.add_trace(go.Scatter(x=[t.number for t in mine], y=[t.values[0] for t in mine], mode="markers", name=arm,
                                  marker={"color": colors[arm]}))
    pfig.add_trace(go.Scatter(x=[t.number for t in complete], y=best, mode="lines", name="best so far",
                              line={"color": "black", "shape": "hv"}))
    pfig.update_layout(xaxis_title="trial number", yaxis_title=w.metric_name)

    def mpl() -> Any:
        plt = _pyplot()
        with plt.style.context("ggplot"):  # explicit: Optuna's plots change the global style once drawn
            fig, ax = plt.subplots()
            for arm in arms:
                mine = [t for t in complete if (trial_arm(t) or "") == arm]
                ax.scatter([t.number for t in mine], [t.values[0] for t in mine], s=18, label=arm, color=colors[arm])
            ax.step([t.number for t in complete], best, where="post", color="black", linewidth=1, label="best so far")
            ax.set_xlabel("trial number")
            ax.set_ylabel(w.metric_name)
            # Beside the axes: inside, it hid the trials in its corner.
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        return ax

    return w.optuna_figure(name, title, caption, lambda: pfig, mpl)


def _importance_figures(w: _Writer, data: StudyData, study: optuna.Study, complete: list[FrozenTrial]) -> list[Figure]:
    caveat = (" fANOVA fits a random forest to {n} trials; with few trials per parameter the ranking is noisy and "
              "says nothing about how a parameter acts.")
    figures = [_importance_figure(
        w, "param-importances", f"Parameter importances (all arms, {len(complete)} trials)",
        "fANOVA importance (seed 0) of the parameters every trial has (the arm, and the learning rate or width "
        "when searched) for the mean validation metric." + caveat.format(n=len(complete)),
        study, complete,
    )]
    for kind in sorted({data.arm(trial_arm(t) or "").strategy for t in complete} - {""}):
        if not any(name.startswith(f"{kind}.") for t in complete for name in t.params):
            continue  # nothing of its own searched (a baseline with only its arm's values)
        subset = [t for t in complete if data.arm(trial_arm(t) or "").strategy == kind]
        sub_study = _study_of(subset, data.directions) if subset else study
        figures.append(_importance_figure(
            w, f"param-importances-{kind}", f"Parameter importances ({kind} trials, {len(subset)} trials)",
            f"fANOVA importance of the {kind} strategy's parameters over its own complete trials."
            + caveat.format(n=len(subset)), sub_study, subset,
        ))
    return figures


def _search_figures(w: _Writer, data: StudyData, study: optuna.Study, complete: list[FrozenTrial]) -> list[Figure]:
    import optuna.visualization as pv  # plotly and matplotlib load with these: only when figures are drawn
    import optuna.visualization.matplotlib as mv  # (as above)

    metric_name = w.metric_name
    figures = []
    pc_caption = ("Each line is a complete trial, coloured by its mean validation metric (brighter is better, "
                  "best drawn on top); a line stops at the parameters its arm does not use. Lines show which "
                  "combinations were tried, not what causes a good value.")
    if len(complete) >= 2:

        params = sorted({p for t in complete for p in t.params})
        figures.append(w.optuna_figure(
            "parallel-coordinate", "Parallel coordinates", pc_caption,
            lambda: pv.plot_parallel_coordinate(study, target=_target, target_name=metric_name),
            lambda: draw_parallel(complete, params, metric_name),
            size=(max(8, 1.7 * (len(params) + 1)), 6),
        ))
    else:
        figures.append(Figure("parallel-coordinate", "Parallel coordinates", pc_caption,
                              note=f"skipped: needs at least 2 complete trials, has {len(complete)}"))
    present = [p for p in slice_params(data) if any(p in t.params for t in complete)]
    slice_caption = ("The mean validation metric against each float parameter the candidate strategies declare "
                     "(λ, thresholds, …), one dot per complete trial that has the parameter, coloured by arm (the interactive version colours by "
                     "trial number). Other parameters vary too, so a dot's height is not the effect of this one.")
    if present:
        figures.append(w.optuna_figure(
            "slice", "Slice: λ and thresholds", slice_caption,
            lambda: pv.plot_slice(study, params=present, target=_target, target_name=metric_name),
            lambda: draw_slice(complete, present, metric_name, ARM_PARAM, arm_colors(data.arms)),
            size=(4 * len(present), 4),
        ))
    else:
        figures.append(Figure("slice", "Slice: strategy parameters", slice_caption,
                              note="skipped: no complete trial of a candidate arm with a float parameter"))
    if data.multi_objective and complete:
        figures.append(w.optuna_figure(
            "pareto-front", "Pareto front: validation metric vs training time",
            "Complete trials by mean validation metric (maximized) and training seconds (minimized).",
            lambda: pv.plot_pareto_front(study, target_names=[metric_name, "training seconds"]),
            lambda: mv.plot_pareto_front(study, target_names=[metric_name, "training seconds"]),
        ))
    return figures


def _cd_figure(w: _Writer, comparison: Any) -> Figure | None:
    ranks = getattr(comparison, "ranks", None)
    name, title = "critical-difference", "Critical-difference diagram"
    caption = ("Mean rank of every arm over the datasets (1 = best). Arms joined by a bar differ by less than the "
               "Nemenyi critical difference (CD) and cannot be told apart at α = 0.05.")
    if ranks is None or ranks.n_datasets < 2 or len(ranks.arms) < 3:
        return Figure(name, title, caption, note="skipped: needs at least three arms scored on two datasets")
    draw_cd_diagram(ranks, w.figdir / f"{name}.png", _save_png)
    w.written.add(f"{name}.png")
    return Figure(name, title, caption, png=f"figures/{name}.png")


def _finish(w: _Writer) -> None:
    """Write plotly.min.js once, and remove figures of earlier runs that this one did not draw."""
    if w.needs_plotlyjs:
        from plotly.offline import get_plotlyjs  # plotly only when a figure needs its script

        js = w.figdir / PLOTLY_JS
        text = get_plotlyjs()
        if not js.exists() or js.read_text(encoding="utf-8") != text:
            js.write_text(text, encoding="utf-8")
        w.written.add(PLOTLY_JS)
    if w.figdir.exists():
        for stale in w.figdir.iterdir():
            if stale.is_file() and stale.suffix in (".png", ".html", ".js") and stale.name not in w.written:
                stale.unlink()


@optuna_verbosity(logging.ERROR)  # Optuna's plots log experimental-API notices; restored on return
def make_figures(data: StudyData, study: optuna.Study, out: Path, comparison: Any = None) -> list[Figure]:
    """Draw every figure into ``out/figures`` (stale files of earlier runs are removed)."""
    w = _Writer(out, "mean validation metric")
    complete = [t for t in data.trials if t.state == TrialState.COMPLETE and t.values]
    figures = [_history_figure(w, data, complete)]
    figures += _importance_figures(w, data, study, complete)
    figures += _search_figures(w, data, study, complete)
    cd = _cd_figure(w, comparison) if comparison is not None else None
    if cd is not None:
        figures.append(cd)
    labels = [ds.label for ds in data.spec.datasets]
    for arm in data.arms:
        if arm in data.best and (arm_role(data, arm) == "candidate" or history_changes(data.best[arm])):
            figures.append(trajectory_figure(w, arm, data.best[arm], labels))
    _finish(w)
    return figures
