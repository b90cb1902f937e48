"""What a re-training run's strategy did (report.activity), measured from each site's own start."""

from __future__ import annotations

from dynsearch.data import load_dataset
from dynsearch.report.activity import measure_activity, summarize_activity
from dynsearch.train import TrainConfig, train


def test_a_final_fixed_control_with_sites_in_different_states_never_adjusted() -> None:
    """Each site starts where the control puts it (tanh, then elu) and stays: no switch, no change."""
    control = {"name": "final_fixed", "params": {"families": ["tanh", "elu"], "alphas": [1.5, 0.5]}}
    result = train(load_dataset("iris"), control, TrainConfig(epochs=3, hidden=(8, 8), patience=0))
    assert [(s["family"], s["alpha"]) for s in result.history[-1].sites] == [("tanh", 1.5), ("elu", 0.5)]
    activity = measure_activity(result.history, control, "relu")
    assert (activity["switches"], activity["epochs_changed"], activity["sites_changed"]) == (0, 0, 0)
    assert (activity["alpha_end"], activity["alpha_max"]) == (0.0, 0.0)
    assert (activity["start_family"], activity["start_alpha"]) == ("tanh", 1.5)
    assert summarize_activity("final_fixed", [activity]).inert


def test_a_site_that_moves_from_its_own_start_is_counted_once() -> None:
    """Site records as a history stores them: site 1 starts at elu 0.5 and only its α moves."""
    control = {"name": "final_fixed", "params": {"families": ["tanh", "elu"], "alphas": [1.5, 0.5]}}
    history = [{"sites": [{"family": "tanh", "alpha": 1.5}, {"family": "elu", "alpha": 0.5}]},
               {"sites": [{"family": "tanh", "alpha": 1.5}, {"family": "elu", "alpha": 0.75}]}]  # fmt: skip
    activity = measure_activity(history, control, "relu")
    assert (activity["switches"], activity["epochs_changed"], activity["sites_changed"]) == (0, 1, 1)
    assert activity["alpha_end"] == activity["alpha_max"] == 0.25
