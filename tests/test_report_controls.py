"""The report's sections on controls (candidate against schedule / final_fixed / shuffled) and on where
the signals lay, on planted scores and recorded signal series (no training)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import create_trial

from dynsearch.config import DatasetSpec
from dynsearch.report import RetrainRun, compare, retrain_seeds
from dynsearch.report.render import (
    Heading,
    Para,
    Table,
    control_groups,
    control_section,
    insert_before,
    signal_section,
    signal_values,
)
from dynsearch.strategies import get_strategy_class

SEEDS = retrain_seeds(3)


def _data(scores: dict[str, dict[str, list[float]]], params: dict[str, dict] | None = None,
          signals: dict[str, dict] | None = None):
    """StudyData-like object and runs from ``{arm: {dataset: [score per seed]}}``; ``signals`` gives the
    first seed's recorded series per arm."""
    labels = sorted({ds for per in scores.values() for ds in per})
    best, runs = {}, {}
    for number, (arm, per_ds) in enumerate(scores.items()):
        best[arm] = create_trial(
            value=0.5, params={"arm": arm}, distributions={"arm": CategoricalDistribution(list(scores))},
            user_attrs={"datasets": {ds: {"metric": "accuracy", "val_metric": 0.5} for ds in per_ds},
                        "strategy": {"name": arm.split("-")[0], "params": (params or {}).get(arm, {})}},
        )
        best[arm].number = number
        for ds, values in per_ds.items():
            for seed, value in zip(SEEDS, values, strict=True):
                series = (signals or {}).get(arm) if seed == SEEDS[0] else None
                runs[f"{arm}/{ds}/{seed}"] = RetrainRun(arm, number, ds, seed, "ok", "accuracy", value, 0.5, 1, 3, 0.1,
                                                        0, signals=series)
    spec = SimpleNamespace(datasets=[DatasetSpec(label) for label in labels], plugins=(),
                           arm=lambda label: SimpleNamespace(strategy=label.split("-")[0]))
    data = SimpleNamespace(name="planted", arms=list(scores), best=best, spec=spec, trials=[],
                           role=lambda label: get_strategy_class(label.split("-")[0]).role)
    return data, runs


def _planted(rng: np.random.Generator, effects: dict[str, float], n_data: int = 10) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {arm: {} for arm in effects}
    for i in range(n_data):
        level = rng.uniform(0.7, 0.9)
        for arm, effect in effects.items():
            out[arm][f"ds{i}"] = list(level + effect + rng.normal(0, 0.003, len(SEEDS)))
    return out


def test_each_candidate_is_paired_with_each_control_with_its_own_verdict() -> None:
    rng = np.random.default_rng(0)
    # threshold beats the schedule by 5 points and matches final_fixed; the baseline sits in between.
    scores = _planted(rng, {"fixed-relu": 0.0, "threshold-layer": 0.05, "schedule-relu": 0.0,
                            "final_fixed-relu": 0.05})
    data, runs = _data(scores)
    comparison = compare(data, runs, SEEDS, 0.01)
    assert comparison.roles["schedule-relu"] == "control" and comparison.roles["final_fixed-relu"] == "control"
    [group] = control_groups(comparison)
    rows = {(r.arm, r.baseline): r for r in group.rows}
    assert set(rows) == {("threshold-layer", "schedule-relu"), ("threshold-layer", "final_fixed-relu")}
    better, same = rows[("threshold-layer", "schedule-relu")], rows[("threshold-layer", "final_fixed-relu")]
    assert better.mean == pytest.approx(0.05, abs=0.005) and better.verdict == "better"  # not rounding: the planted effect with its noise
    assert abs(same.mean) < 0.005 and same.verdict == "equivalent"
    # Holm over the group's two pairs: the adjusted p is never below the raw one.
    assert better.p_adjusted >= better.p_value and better.ci_level == pytest.approx(1 - 0.05 / 2)
    # Controls are neither candidates nor the baseline of the candidates' comparison.
    assert [r.arm for r in comparison.candidates] == ["threshold-layer"]
    assert {r.baseline for r in comparison.candidates} == {"fixed-relu"}


def test_the_controls_section_states_each_pair_and_says_when_there_is_none() -> None:
    rng = np.random.default_rng(1)
    data, runs = _data(_planted(rng, {"fixed-relu": 0.0, "threshold-layer": 0.05, "schedule-relu": 0.0}))
    blocks = control_section(data, compare(data, runs, SEEDS, 0.01))
    [table] = [b for b in blocks if isinstance(b, Table)]
    assert table.rows[0][:4] == ["threshold-layer", "schedule-relu", "schedule", "classification"]
    assert table.rows[0][-1] == "better" and table.highlight == {0}
    assert any("the signal's timing matters" in b.text for b in blocks if isinstance(b, Para))
    data, runs = _data(_planted(rng, {"fixed-relu": 0.0, "threshold-layer": 0.05}))
    blocks = control_section(data, compare(data, runs, SEEDS, 0.01))
    assert not any(isinstance(b, Table) for b in blocks)
    assert "no control arm" in blocks[1].text
    data, runs = _data(_planted(rng, {"fixed-relu": 0.0}))  # nothing to set beside a control: no section
    assert control_section(data, compare(data, runs, SEEDS, 0.01)) == []


def test_the_signals_section_reads_the_recorded_series(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    series = {
        "fixed-relu": {"io": {"1": [0.80, 0.85, 0.90], "3": [0.90, 0.92, 0.94]}, "dead": {"1": [0.5, 0.4, None]}},
        "threshold-layer": {"io": {"1": [0.80, 0.95, 0.99], "3": [0.85, 0.97, 0.99]}},
    }
    params = {"threshold-layer": {"signal": "io", "lower": 0.82, "upper": 0.96}}
    data, runs = _data(_planted(rng, {"fixed-relu": 0.0, "threshold-layer": 0.0}, n_data=2), params, series)
    values = signal_values(list(runs.values()))
    # Two datasets recorded each series once (first seed only); the diverged value (None) is left out.
    assert sorted(v for _, v in values["fixed-relu"]["dead"]) == [0.4, 0.4, 0.5, 0.5]
    assert len(values["threshold-layer"]["io"]) == 12
    blocks = signal_section(data, runs, SEEDS, tmp_path)
    [table] = [b for b in blocks if isinstance(b, Table)]
    rows = {(r[0], r[1]): r for r in table.rows}
    assert set(rows) == {("io", "fixed-relu"), ("io", "threshold-layer"), ("dead", "fixed-relu")}
    io = np.array([0.80, 0.95, 0.99, 0.85, 0.97, 0.99] * 2)
    assert rows[("io", "threshold-layer")][4] == f"{np.median(io):.3f}"
    assert rows[("io", "threshold-layer")][6] == f"{np.median([0.80, 0.85]):.3f} → 0.990"
    below, above = (io < 0.82).mean(), (io > 0.96).mean()
    assert rows[("io", "threshold-layer")][7] == f"0.820 / 0.960: {100 * below:.0f} % below, {100 * above:.0f} % above"
    assert rows[("io", "fixed-relu")][7] == "–"
    assert (tmp_path / "figures" / "signals.png").is_file()


def test_the_signals_section_without_recorded_runs_says_how_to_get_them(tmp_path: Path) -> None:
    data, runs = _data(_planted(np.random.default_rng(3), {"fixed-relu": 0.0}, n_data=2))
    blocks = signal_section(data, runs, SEEDS, tmp_path)
    assert "--refresh" in blocks[-1].text and not (tmp_path / "figures").exists()


def test_sections_go_before_their_anchor() -> None:
    blocks = [Heading(2, "A", "a"), Heading(2, "Ranks", "ranks")]
    new = [Para("x")]
    assert insert_before(blocks, "ranks", new) == [blocks[0], new[0], blocks[1]]
    assert insert_before(blocks, "missing", new) == blocks + new


# --- final_fixed derived from each candidate's own runs ---------------------------------------------------------


def test_final_fixed_controls_are_derived_from_the_runs_that_changed_a_site() -> None:
    from dynsearch.report.retrain import RetrainJob, derived_label, final_fixed_jobs

    ds = DatasetSpec("iris", {})
    strategy = {"name": "threshold", "params": {"lower": 0.8, "upper": 0.9}}

    def job(arm: str, seed: int) -> RetrainJob:
        return RetrainJob(arm, 3, ds, seed, strategy, {"epochs": 2}, 0, record_signals=True)

    def run(arm: str, seed: int, changed: int, end=(("tanh", 1.0), ("relu", 0.0))) -> RetrainRun:
        return RetrainRun(arm, 3, "iris", seed, "ok", "accuracy", 0.9, 0.9, 1, 2, 0.1, changed,
                          activity={"sites_changed": changed}, end_state=[list(e) for e in end])

    jobs = [job("threshold-layer", 1000), job("threshold-layer", 1001), job("fixed-relu", 1000)]
    runs = {jobs[0].key: run("threshold-layer", 1000, 1), jobs[1].key: run("threshold-layer", 1001, 0),
            jobs[2].key: run("fixed-relu", 1000, 1)}
    [derived] = final_fixed_jobs(jobs, runs, {"threshold-layer"})
    assert derived.arm == derived_label("threshold-layer") == "final_fixed(threshold-layer)"
    assert (derived.trial, derived.dataset, derived.seed, derived.train) == (3, ds, 1000, {"epochs": 2})
    assert derived.strategy == {"name": "final_fixed", "params": {
        "base": None, "scope": "layer", "signal": "io", "reduction": "pooled", "every": 1, "warmup": 0,
        "families": ["tanh", "relu"], "alphas": [1.0, 0.0]}}
    assert derived.fingerprint != jobs[0].fingerprint and not derived.record_signals


def test_a_derived_control_is_paired_with_its_own_candidate_only() -> None:
    from dynsearch.report.retrain import derived_label

    rng = np.random.default_rng(4)
    scores = _planted(rng, {"fixed-relu": 0.0, "threshold-layer": 0.05, "linear-layer": 0.0})
    data, runs = _data(scores)
    comparison = compare(data, runs, SEEDS, 0.01)
    derived = {}
    for key, r in runs.items():
        if r.arm == "threshold-layer":  # its end state fixed from the start does as well as adjusting
            derived[key] = RetrainRun(derived_label(r.arm), r.trial, r.dataset, r.seed, "ok", "accuracy",
                                      r.test_metric + rng.normal(0, 0.002), 0.5, 1, 3, 0.1, 0)
    [group] = control_groups(comparison, derived)
    assert [(r.arm, r.baseline) for r in group.rows] == [("threshold-layer", "final_fixed(threshold-layer)")]
    assert group.rows[0].verdict == "equivalent"
    blocks = control_section(data, comparison, derived)
    [table] = [b for b in blocks if isinstance(b, Table)]
    assert table.rows[0][2] == "final_fixed (its own end state)"


def test_run_records_stay_json_safe_when_a_run_diverges() -> None:
    import json

    from dynsearch.report.retrain import end_state, signal_series
    from dynsearch.train import EpochRecord

    sites = [{"site": "1", "family": "tanh", "alpha": 1.0}, {"site": "3", "family": "relu", "alpha": 0.0}]
    history = [EpochRecord(0, 0.5, 0.4, 0.8, sites, {"1": {"io": 0.912345}, "(network)": {"target": 0.5}}),
               EpochRecord(1, float("nan"), float("nan"), float("nan"), sites, {"1": {"io": float("nan")}})]
    series = signal_series(history)
    assert series == {"io": {"1": [0.9123, None]}, "target": {"(network)": [0.5]}}
    assert end_state(history) == [["tanh", 1.0], ["relu", 0.0]]
    diverged = [EpochRecord(0, 0.5, 0.4, 0.8, [{"family": "elu", "alpha": float("inf")}])]
    assert end_state(diverged) is None and end_state([]) is None
    json.dumps({"signals": series, "end_state": end_state(history)}, allow_nan=False)


def test_the_method_names_the_controls_apart_from_candidates_and_baselines() -> None:
    from dynsearch.report.render._sections import _method

    rng = np.random.default_rng(3)
    data, runs = _data(_planted(rng, {"fixed-relu": 0.0, "threshold-layer": 0.05, "schedule-relu": 0.0}))
    data.spec.split_seed, data.spec.seeds = 0, 1
    meta = SimpleNamespace(trained_now=0, reused=len(runs), device="cpu")
    [_, bullets] = _method(data, compare(data, runs, SEEDS, 0.01), meta)
    [roles] = [item for item in bullets.items if item.startswith("Roles:")]
    assert "candidates (dynamic rules under test) are threshold-layer; controls" in roles
    assert "controls (set beside the candidates, never a baseline) are schedule-relu; every other arm" in roles
    data, runs = _data(_planted(rng, {"fixed-relu": 0.0, "threshold-layer": 0.05}))
    data.spec.split_seed, data.spec.seeds = 0, 1
    [_, bullets] = _method(data, compare(data, runs, SEEDS, 0.01), meta)
    assert any(i.startswith("Roles:") and "controls" not in i for i in bullets.items)
