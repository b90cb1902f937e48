"""Figures: what the search and the re-training did, drawn for the report.

Takes the collected study (``report.trials.StudyData``), its Optuna study and, when there is one, the
``Comparison`` (``report.inference``); gives the ``Figure`` list of ``make_figures``: Optuna's plots
(interactive HTML that loads ``figures/plotly.min.js``, and PNG), the critical-difference diagram of
the ranks, and the per-site trajectories of the best trial of every dynamic arm. A figure that cannot
be drawn (too few trials, nothing varies) is kept with a note saying why.
"""

from ._cd import draw_cd_diagram
from ._figure import PLOTLY_JS, Figure, arm_colors
from ._make import make_figures, slice_params
from ._parallel import draw_parallel, draw_slice
from ._trajectory import MAX_DATASETS, history_changes, trajectory_figure

__all__ = [
    "Figure",
    "PLOTLY_JS",
    "arm_colors",
    "make_figures",
    "slice_params",
    "draw_cd_diagram",
    "draw_parallel",
    "draw_slice",
    "MAX_DATASETS",
    "history_changes",
    "trajectory_figure",
]
