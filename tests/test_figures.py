"""Report figures drawn from hand-made trials: every figure that colours by arm gives an arm the same
colour, and legends stay clear of the data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import optuna  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from optuna.distributions import CategoricalDistribution, FloatDistribution  # noqa: E402
from optuna.trial import FrozenTrial, create_trial  # noqa: E402

from dynsearch.report.figures import (
    arm_colors,  # noqa: E402
    draw_slice,  # noqa: E402
)
from dynsearch.report.figures._figure import _Writer  # noqa: E402
from dynsearch.report.figures._make import MAX_IMPORTANCE_ARMS, _importance_figure  # noqa: E402

ARMS = ["fixed-relu", "threshold-layer-io", "linear-layer-io", "linear-target"]


def _trial(arm: str, lam: float, value: float):
    return create_trial(
        params={"arm": arm, "linear.lam": lam},
        distributions={"arm": CategoricalDistribution(ARMS), "linear.lam": FloatDistribution(-1, 1)},
        value=value,
    )


def test_arm_colours_follow_the_study_order_and_are_distinct() -> None:
    colors = arm_colors(ARMS)
    assert list(colors) == ARMS
    assert len(set(colors.values())) == len(ARMS)
    # The same study gives the same colours in every figure and every run.
    assert arm_colors(ARMS) == colors


def test_slice_colours_each_arm_with_the_report_colour() -> None:
    trials = [_trial("linear-target", 0.5, 0.9), _trial("linear-layer-io", -0.2, 0.8), _trial("linear-target", 0.1, 0.7)]
    colors = arm_colors(ARMS)
    ax = draw_slice(trials, ["linear.lam"], "metric", "arm", colors)
    drawn = {c.get_label(): to_hex(c.get_facecolor()[0]) for c in ax.collections}
    # Not tab10's first two colours by position among the plotted arms: the study's colour of each arm.
    assert drawn == {"linear-layer-io": colors["linear-layer-io"], "linear-target": colors["linear-target"]}
    assert list(drawn) == ["linear-layer-io", "linear-target"]  # legend in the study's arm order


def _study_of_arms(n_arms: int, per_arm: int) -> tuple[optuna.Study, list[FrozenTrial]]:
    arms = [f"fixed-{i}" for i in range(n_arms)]
    study = optuna.create_study(direction="maximize")
    for i in range(n_arms * per_arm):
        study.add_trial(create_trial(
            params={"arm": arms[i % n_arms], "lr": 10 ** (-3 + (i * 7 % 11) / 5)},
            distributions={"arm": CategoricalDistribution(arms), "lr": FloatDistribution(1e-3, 1, log=True)},
            value=0.5 + 0.01 * (i % n_arms) + 0.001 * (i % 7),
        ))  # fmt: skip
    return study, study.trials


def test_importances_are_drawn_up_to_the_arm_bound_and_skipped_with_a_reason_above(tmp_path: Path) -> None:
    """fANOVA over the arm categorical takes minutes beyond a few arms: above the bound the figure says so instead."""
    writer = _Writer(tmp_path, "accuracy")
    study, trials = _study_of_arms(MAX_IMPORTANCE_ARMS, 3)
    drawn = _importance_figure(writer, "imp", "Importances", "caption", study, trials)
    assert drawn.note is None and (tmp_path / "figures" / "imp.png").is_file()
    study, trials = _study_of_arms(MAX_IMPORTANCE_ARMS + 1, 3)
    skipped = _importance_figure(writer, "imp-many", "Importances", "caption", study, trials)
    assert skipped.note is not None and skipped.note.startswith(f"skipped: fANOVA over {MAX_IMPORTANCE_ARMS + 1} arms")
    assert not (tmp_path / "figures" / "imp-many.png").exists()
