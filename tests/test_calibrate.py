"""Calibration: signals recorded while training, their quantiles and suggested ranges, the report it
writes, ``"calibrated"`` threshold ranges in study files, and a calibrated threshold arm that switches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tolerances as tol

from dynsearch.calibration import SUGGESTED, Calibration, calibrate, fixed_families
from dynsearch.config import ConfigError, StudySpec, load_study_file, parse_study
from dynsearch.config._calibrated import Calibrated
from dynsearch.data import load_dataset
from dynsearch.signals import NETWORK, signal_names
from dynsearch.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]

STUDY = """\
name = "cal"
datasets = ["iris", { name = "moons", n_samples = 200, noise = 0.2 }]
n_trials = 4
[model]
kind = "mlp"
hidden = [16, 16]
[training]
epochs = 5
batch_size = 32
lr = 0.01
[search]
strategies = ["fixed", "threshold"]
scopes = ["layer"]
bases = ["relu", "tanh"]
"""


def _spec(text: str = STUDY):
    import tomllib

    return parse_study(tomllib.loads(text), "studies/cal.toml")


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return calibrate(_spec(), epochs=3, seeds=1)


def test_parallel_processes_record_exactly_what_one_process_records(calibration: Calibration) -> None:
    """The module's calibration ran one process per core; one process in this one gives the same rows."""
    one = calibrate(_spec(), epochs=3, seeds=1, processes=1)
    assert one.rows == calibration.rows and len(one.rows) > 0
    assert [d for d in one.datasets] == ["iris", calibration.datasets[1]]


def test_recording_signals_changes_nothing_and_matches_the_sites_own_r() -> None:
    splits = load_dataset("moons", n_samples=200, noise=0.2)
    config = TrainConfig(model="mlp", hidden=(16, 16), epochs=4, batch_size=32, lr=0.01, patience=0, seed=0)
    strategy = {"name": "threshold", "params": {"lower": 0.86, "upper": 0.97, "base": "relu"}}
    plain = train(splits, strategy, config, evaluate_test=True)
    recorded = train(splits, strategy, config, evaluate_test=True, record_signals=signal_names())
    assert recorded.test_metric == plain.test_metric and recorded.n_switches == plain.n_switches
    assert [r.sites for r in recorded.history] == [r.sites for r in plain.history]
    assert all(not r.signals for r in plain.history)
    for record in recorded.history:
        assert set(record.signals) == {"1", "3", NETWORK}
        assert set(record.signals["1"]) == {"io", "dead", "saturation", "gradient"}
        assert set(record.signals[NETWORK]) == {"target", "data"}
        # The io signal the strategy read (the site's own sums) is what the recorder measured.
        for site in record.sites:
            assert record.signals[site["site"]]["io"] == pytest.approx(site["r"], abs=tol.pearson(site["n"]))


def test_calibration_records_every_signal_per_site_dataset_epoch(calibration: Calibration) -> None:
    assert calibration.arms == ["fixed-relu", "fixed-tanh"] and calibration.epochs == 3
    assert calibration.datasets == ["iris", "moons(n_samples=200, noise=0.2)"]
    keys = {(r[0], r[2], r[4], r[5], r[6]) for r in calibration.rows}
    for arm in calibration.arms:
        for ds in calibration.datasets:
            for epoch in range(3):
                for site in ("1", "3"):
                    for sig in ("io", "dead", "saturation", "gradient"):
                        assert (arm, ds, epoch, site, sig) in keys
                assert (arm, ds, epoch, NETWORK, "target") in keys
    # A tanh site is never dead; a relu site is, in part.
    dead = {(r[1]): [] for r in calibration.rows}
    for r in calibration.rows:
        if r[6] == "dead":
            dead[r[1]].append(r[7])
    assert max(dead["tanh"]) == 0.0 and 0.0 < np.mean(dead["relu"]) < 1.0


def test_quantiles_and_suggested_ranges_follow_the_values(calibration: Calibration) -> None:
    for name, summary in calibration.summary.items():
        values = np.array([r[7] for r in calibration.rows if r[6] == name])
        assert summary.n == values.size
        assert summary.quantiles[0.5] == pytest.approx(np.median(values))
        assert summary.quantiles[0.0] == values.min() and summary.quantiles[1.0] == values.max()
        if summary.suggested is not None:
            low, high = summary.suggested
            q10, q90 = np.quantile(values, SUGGESTED)
            assert low <= q10 and high >= q90 and high - low <= (q90 - q10) + 0.002  # rounded outwards only
            # A threshold inside the range has measured values on both sides: a rule using it can fire.
            mid = (low + high) / 2
            assert (values < mid).any() and (values > mid).any()
    assert calibration.summary["io"].suggested is not None
    assert set(calibration.ranges) <= set(calibration.summary)


def test_calibration_json_round_trip(calibration: Calibration, tmp_path: Path) -> None:
    path = calibration.save(tmp_path)
    again = Calibration.load(path)
    assert again.summary == calibration.summary and again.ranges == calibration.ranges
    assert len(again.rows) == len(calibration.rows)


def test_a_study_without_fixed_arms_is_calibrated_on_its_bases() -> None:
    spec = _spec(STUDY.replace('strategies = ["fixed", "threshold"]', 'strategies = ["threshold"]'))
    assert fixed_families(spec) == [("fixed-relu", "relu"), ("fixed-tanh", "tanh")]


# --- "calibrated" in study files ---------------------------------------------------------------------------------

CALIBRATED = STUDY.replace('bases = ["relu", "tanh"]', 'bases = ["relu", "tanh"]\nsignals = ["io", "target"]') + \
    '[search.threshold]\nlower = "calibrated"\nupper = "calibrated"\n'


def _write_calibration(root: Path, ranges: dict[str, tuple[float, float]], study: str = "cal") -> None:
    signals = {name: {"measures": "", "range": [-1, 1], "n": 10, "quantiles": {"0": lo, "0.5": (lo + hi) / 2, "1": hi},
                      "suggested": [lo, hi]} for name, (lo, hi) in ranges.items()}
    out = root / "reports" / study / "calibration"
    out.mkdir(parents=True)
    (out / "calibration.json").write_text(json.dumps({
        "schema": "dynsearch.calibration/1", "study": study, "epochs": 3, "seeds": [0], "arms": [], "datasets": [],
        "signals": signals, "values": []}))


def test_calibrated_ranges_resolve_per_signal_and_are_stored(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cal.toml").write_text(CALIBRATED)
    with pytest.raises(ConfigError, match=r"cal\.toml: search\.threshold\.lower: \"calibrated\" needs the study's "
                       r"calibration, but there is none at reports/cal/calibration/calibration\.json; run "
                       r"'dynsearch calibrate cal\.toml' first"):
        load_study_file("cal.toml")
    _write_calibration(tmp_path, {"io": (0.85, 0.99), "target": (0.4, 0.95), "dead": (0.1, 0.5)})
    spec = load_study_file("cal.toml")
    lower = spec.search.strategy("threshold").as_dict()["lower"]
    assert lower == Calibrated((("io", (0.85, 0.99)), ("target", (0.4, 0.95))))
    stored = spec.to_dict()["search"]["threshold"]
    assert stored["lower"] == {"calibrated": {"io": [0.85, 0.99], "target": [0.4, 0.95]}}
    # Workers and reports read the stored numbers, never the file.
    (tmp_path / "reports" / "cal" / "calibration" / "calibration.json").unlink()
    assert StudySpec.from_dict(spec.to_dict()) == spec


def test_trials_of_each_arm_sample_inside_the_range_of_their_signal(tmp_path: Path, monkeypatch) -> None:
    import optuna

    from dynsearch.search.space import suggest_plan

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cal.toml").write_text(CALIBRATED)
    _write_calibration(tmp_path, {"io": (0.85, 0.99), "target": (0.4, 0.6)})
    spec = load_study_file("cal.toml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {"io": 0, "target": 0}
    for label in ["threshold-layer-io", "threshold-target"] * 10:
        study.enqueue_trial({"arm": label})
        trial = study.ask()
        strategy, _ = suggest_plan(trial, spec)
        p = strategy["params"]
        low, high = {"io": (0.85, 0.99), "target": (0.4, 0.6)}[p["signal"]]
        assert low <= p["lower"] < p["upper"] <= high
        seen[p["signal"]] += 1
        study.tell(trial, 0.5)
    assert seen == {"io": 10, "target": 10}


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"io": (0.85, 0.99)}, r"search\.threshold\.lower: no calibrated range for signal \"target\"; calibrated "
                               r"signals that varied: io"),
        ({"io": (0.95, 0.99), "target": (0.1, 0.2)}, None),
    ],
)
def test_calibrated_ranges_are_checked(tmp_path: Path, monkeypatch, ranges, message) -> None:
    monkeypatch.chdir(tmp_path)
    text = CALIBRATED.replace('upper = "calibrated"', "upper = [0.0, 0.5]")
    (tmp_path / "cal.toml").write_text(text)
    _write_calibration(tmp_path, ranges)
    if message is None:  # io's calibrated lower lies above every upper: no valid pair for that signal
        message = r"search\.threshold\.upper: no valid threshold pair.*\(with the calibrated ranges of signal 'io'\)"
    with pytest.raises(ConfigError, match=message):
        load_study_file("cal.toml")


def test_the_stored_form_may_be_written_by_hand() -> None:
    text = STUDY + '[search.threshold]\nlower = { calibrated = { io = [0.8, 0.9] } }\n'
    spec = _spec(text)
    assert spec.search.strategy("threshold").as_dict()["lower"] == Calibrated((("io", (0.8, 0.9)),))
    with pytest.raises(ConfigError, match=r"search\.threshold\.lower\.calibrated\.io: expected \[low, high\]"):
        _spec(STUDY + '[search.threshold]\nlower = { calibrated = { io = [0.9, 0.8] } }\n')


# --- the command, end to end --------------------------------------------------------------------------------------


def _dynsearch(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "dynsearch", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_a_calibrated_threshold_arm_switches_in_re_training(tmp_path: Path) -> None:
    """The issue's done-when: calibrate, search with calibrated thresholds, report: switches > 0; the report
    also shows where the signals lay and the candidate against its control."""
    study = STUDY.replace("n_trials = 4", "n_trials = 8").replace('"threshold"]', '"threshold", "schedule"]') + \
        '[search.threshold]\nlower = "calibrated"\nupper = "calibrated"\n[search.schedule]\nbase = ["relu"]\n'
    (tmp_path / "cal.toml").write_text(study)
    cal = _dynsearch(tmp_path, "calibrate", "cal.toml", "--epochs", "3", "--quiet")
    assert cal.returncode == 0, cal.stderr
    out = tmp_path / "reports" / "cal" / "calibration"
    assert {"calibration.json", "report.md", "index.html"} <= {p.name for p in out.iterdir()}
    assert {p.name for p in (out / "figures").iterdir()} >= {f"signal-{s}.png" for s in ("io", "dead", "gradient")}
    md = (out / "report.md").read_text()
    assert "| io | [-1, 1] |" in md and "suggested threshold range" in md
    assert "suggested threshold range [" in cal.stdout
    run = _dynsearch(tmp_path, "run", "cal.toml", "--quiet", "--workers", "1")  # one worker: the same trials every time
    assert run.returncode == 0, run.stderr
    report = _dynsearch(tmp_path, "report", "cal", "--seeds", "2", "--jobs", "1", "--quiet", "--final-fixed")
    assert report.returncode == 0, report.stderr
    runs = json.loads((tmp_path / "reports" / "cal" / "retrain.json").read_text())["runs"]
    switches = [r["n_switches"] for key, r in runs.items() if key.startswith("threshold-layer/")]
    assert switches and sum(switches) > 0
    text = (tmp_path / "reports" / "cal" / "report.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| threshold-layer | ") and "adjusted" in line)
    assert float(row.split("|")[3]) > 0  # switches / run in the report's activity table
    # Signals: recorded on the first re-training seed only, shown per signal and arm.
    recorded = {key.rsplit("/", 1)[1] for key, r in runs.items() if r["signals"]}
    assert recorded == {"seed-1000"}
    assert all(set(r["signals"]) == set(signal_names()) for r in runs.values() if r["signals"])
    assert "## Where the signals lay" in text and "| io | threshold-layer | " in text
    assert (tmp_path / "reports" / "cal" / "figures" / "signals.png").is_file()
    # The candidate beside its control, with a verdict.
    section = text[text.index("## Candidates against their controls"):text.index("## Ranks of all arms")]
    pair = next(line for line in section.splitlines() if line.startswith("| threshold-layer | schedule-relu | "))
    assert pair.split("|")[3].strip() == "schedule" and pair.split("|")[-2].strip() in {
        "better", "worse", "equivalent", "inconclusive"}
    # --final-fixed: every threshold run that switched is re-trained from its own end state, never adjusting.
    derived = {key: r for key, r in runs.items() if key.startswith("final_fixed(threshold-layer)/")}
    changed = [key for key, r in runs.items() if key.startswith("threshold-layer/") and r["activity"]["sites_changed"]]
    assert len(derived) == len(changed) > 0
    for key, r in derived.items():
        own = runs[key.replace("final_fixed(threshold-layer)", "threshold-layer", 1)]
        assert r["n_switches"] == 0
        assert [[f, a] for f, a in own["end_state"]] == [[f, a] for f, a in r["end_state"]]
    assert "| threshold-layer | final_fixed(threshold-layer) | final_fixed (its own end state) |" in section
