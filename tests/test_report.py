"""``dynsearch report``: the files, the page in a browser, caching of the re-training, interrupted
studies, the statistics the report states, and that the search never touched the test split."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
import torch
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from dynsearch.cli import main
from dynsearch.config import parse_study
from dynsearch.report import (
    RetrainRun,
    build_report,
    collect,
    compare,
    paired_difference,
    retrain_seeds,
)
from dynsearch.report import retrain as retrain_mod
from dynsearch.search.storage import open_storage
from dynsearch.search.study import SPEC_ATTR, best_per_arm

STUDY = "tiny"
SEEDS = 2
ARMS = ["fixed-relu", "threshold-layer", "linear-layer"]

STUDY_TOML = """\
name = "tiny"
description = "A test study."
datasets = ["iris", { name = "moons", n_samples = 300, noise = 0.2 }]
n_trials = 6
seeds = 1

[model]
kind = "mlp"
hidden = [16]

[training]
epochs = 3
batch_size = 32
patience = 0
lr = 0.01

[search]
strategies = ["fixed", "threshold", "linear"]
scopes = ["layer"]
bases = ["relu"]

[sampler]
name = "tpe"
seed = 0

[pruner]
name = "none"
"""


def _run_study(tmp: Path) -> str:
    (tmp / "tiny.toml").write_text(STUDY_TOML)
    url = f"journal:{tmp / 's.journal'}"
    proc = subprocess.run(
        [sys.executable, "-m", "dynsearch", "run", "tiny.toml", "--storage", url, "--workers", "2", "--quiet"],
        cwd=tmp, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return url


@pytest.fixture(scope="module")
def study_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _run_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def report_dir(study_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report written by the real command (in-process, so the test stays fast)."""
    out = tmp_path_factory.mktemp("report") / "tiny"
    code = main(["report", STUDY, "--storage", study_url, "--out", str(out), "--seeds", str(SEEDS), "--quiet"])
    assert code == 0
    return out


def _load(url: str, name: str = STUDY) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url, heartbeat=False))


# --- files -----------------------------------------------------------------------------------


def test_report_writes_every_file(report_dir: Path, study_url: str) -> None:
    for name in ("index.html", "report.md", "trials.csv", "retrain.json"):
        assert (report_dir / name).is_file(), name
    pngs = {p.name for p in (report_dir / "figures").glob("*.png")}
    assert {"optimization-history.png", "parallel-coordinate.png", "slice.png",
            "trajectory-threshold-layer.png", "trajectory-linear-layer.png"} <= pngs
    assert "trajectory-fixed-relu.png" not in pngs  # fixed arms do nothing while training
    md = (report_dir / "report.md").read_text()
    # This study's trials differ in value and in arm, so there is something to explain: importances are drawn.
    complete = _load(study_url).get_trials(states=(TrialState.COMPLETE,))
    assert len({t.values[0] for t in complete}) > 1 and len({t.params["arm"] for t in complete}) == len(ARMS)
    section = md.split("**Parameter importances (all arms)**", 1)[1].split("\n**", 1)[0]
    assert "param-importances.png" in pngs and "_skipped: " not in section
    # Offline: plotly.js is a file of the report, never a CDN.
    assert (report_dir / "figures" / "plotly.min.js").stat().st_size > 1_000_000
    pages = [report_dir / "index.html", *(report_dir / "figures").glob("*.html")]
    assert {"optimization-history.html", "parallel-coordinate.html", "slice.html"} <= {p.name for p in pages}
    for page in pages:
        text = page.read_text()
        scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', text)
        assert scripts, page
        for src in scripts:
            assert "//" not in src and (page.parent / src).is_file(), (page, src)
    # report.md refers only to files that exist in the folder.
    refs = re.findall(r"\]\(([^)]+)\)", md)
    assert refs and all((report_dir / ref).is_file() for ref in refs)

    rows = list(csv.DictReader(io.StringIO((report_dir / "trials.csv").read_text())))
    trials = _load(study_url).get_trials()
    assert [int(r["number"]) for r in rows] == [t.number for t in trials]
    for row, trial in zip(rows, trials, strict=True):
        assert row["state"] == trial.state.name and row["arm"] == trial.params["arm"]
        assert float(row["value"]) == trial.values[0]
        assert float(row["val:iris"]) == trial.user_attrs["datasets"]["iris"]["val_metric"]
        assert "param:linear.lam" in row and "fail_reason" in row and "wall_time" in row

    stored = json.loads((report_dir / "retrain.json").read_text())
    assert stored["schema"] == "dynsearch.retrain/1" and len(stored["runs"]) == len(ARMS) * 2 * SEEDS
    assert {r["seed"] for r in stored["runs"].values()} == set(retrain_seeds(SEEDS))
    assert all(r["test_metric"] is not None for r in stored["runs"].values())


def test_report_states_budgets_and_conclusion(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    assert "Every arm got the same budget: 2 trial slot(s)." in md
    assert "No trial was pruned or failed." in md
    assert "best fixed activation (fixed-relu)" in md
    assert "1000, 1001" in md  # the re-training seeds


def test_index_html_in_chromium(report_dir: Path, chrome) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get((report_dir / "index.html").as_uri())
    WebDriverWait(chrome, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert chrome.title == "dynsearch report: tiny"
    for dataset in ("iris", "moons(n_samples=300, noise=0.2)"):
        rows = chrome.find_elements(By.CSS_SELECTOR, f'table[data-table="{dataset}"] tbody tr')
        assert [r.get_attribute("data-arm") for r in rows] == ARMS
        for row in rows:
            test_cell = row.find_elements(By.TAG_NAME, "td")[2].text
            assert "±" in test_cell
    paired = chrome.find_elements(By.CSS_SELECTOR, 'table[data-table="paired"] tbody tr')
    assert [r.get_attribute("data-arm") for r in paired] == ["threshold-layer", "linear-layer"]
    # plotly.js loaded from the folder and drew the interactive figures.
    assert chrome.execute_script("return typeof Plotly") == "object"
    WebDriverWait(chrome, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#fig-optimization-history .main-svg")) > 0)
    images = chrome.find_elements(By.CSS_SELECTOR, "figure img")
    assert images and all(chrome.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images)


# --- caching ---------------------------------------------------------------------------------


def _strip_generated(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "Generated by" not in line)


def test_rerun_reuses_retraining_and_gives_the_same_report(report_dir: Path, study_url: str, monkeypatch) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("the report re-trained although retrain.json holds every run")

    retrain_json = report_dir / "retrain.json"
    before = {p: p.read_bytes() for p in report_dir.rglob("*") if p.is_file()}
    mtime = retrain_json.stat().st_mtime_ns
    monkeypatch.setattr(retrain_mod, "_train_one", no_training)
    assert main(["report", STUDY, "--storage", study_url, "--out", str(report_dir), "--seeds", str(SEEDS), "--quiet"]) == 0
    assert retrain_json.stat().st_mtime_ns == mtime
    after = {p: p.read_bytes() for p in report_dir.rglob("*") if p.is_file()}
    assert set(after) == set(before)
    for path, data in before.items():
        if path.name in ("index.html", "report.md"):
            assert _strip_generated(after[path].decode()) == _strip_generated(data.decode()), path
        else:
            assert after[path] == data, path


def test_refresh_and_more_seeds_train_only_what_is_asked(report_dir: Path, study_url: str, monkeypatch, tmp_path) -> None:
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(report_dir, out)
    calls: list[tuple[str, int]] = []
    real = retrain_mod._train_one

    def counting(job, splits, device):
        calls.append((job.arm, job.seed))
        return real(job, splits, device)

    monkeypatch.setattr(retrain_mod, "_train_one", counting)
    monkeypatch.setattr("dynsearch.report.build.make_figures", lambda *a: [])  # not what this test is about
    study = _load(study_url)
    build_report(study, out, seeds=SEEDS + 1, progress=False, jobs=1)  # in-process, so the spy sees the calls
    assert sorted(calls) == sorted((arm, 1000 + SEEDS) for arm in ARMS for _ in range(2))  # only the new seed
    calls.clear()
    build_report(study, out, seeds=1, refresh=True, progress=False, jobs=1)
    assert sorted(calls) == sorted((arm, 1000) for arm in ARMS for _ in range(2))


# --- interrupted study -----------------------------------------------------------------------


def test_report_on_an_interrupted_study(study_url: str, tmp_path: Path) -> None:
    """Some arms have only queued, running or failed trials: they are listed, not compared."""
    source = _load(study_url)
    storage = open_storage(study_url, heartbeat=False)
    study = optuna.create_study(study_name="interrupted", storage=storage, direction="maximize")
    study.set_user_attr(SPEC_ATTR, source.user_attrs[SPEC_ATTR])
    arm_dist = {"arm": CategoricalDistribution(ARMS)}
    for t in source.get_trials(states=(TrialState.COMPLETE,)):
        if t.params["arm"] == "fixed-relu" or (t.params["arm"] == "linear-layer" and t.number % 2 == 1):
            study.add_trial(create_trial(state=TrialState.COMPLETE, values=t.values, params=t.params,
                                         distributions=t.distributions, user_attrs=t.user_attrs))
    study.add_trial(create_trial(state=TrialState.FAIL, params={"arm": "threshold-layer"}, distributions=arm_dist,
                                 user_attrs={"fail_reason": "out of memory on cuda:0"}))
    study.add_trial(create_trial(state=TrialState.PRUNED, params={"arm": "linear-layer"}, distributions=arm_dist,
                                 user_attrs={"fail_reason": "pruned at step 2 (value 0.3)"}))
    study.enqueue_trial({"arm": "linear-layer"})
    study.ask(fixed_distributions=arm_dist)  # claimed by a worker that was killed: RUNNING forever
    study.enqueue_trial({"arm": "threshold-layer"})  # never claimed: WAITING
    states_before = [t.state for t in study.get_trials()]

    out = tmp_path / "rep"
    code = main(["report", "interrupted", "--storage", study_url, "--out", str(out), "--seeds", "2", "--quiet"])
    assert code == 0
    assert [t.state for t in _load(study_url, "interrupted").get_trials()] == states_before  # read-only
    md = (out / "report.md").read_text()
    assert "No complete trial (not compared): threshold-layer." in md
    assert "| threshold-layer | – | no complete trial | – |" in md
    assert "| threshold-layer | 0 | 0 | 1 | 0 | 1 | 2 |" in md
    assert "| linear-layer | 1 | 1 | 0 | 1 | 0 | 3 |" in md
    assert "still running or was interrupted: 2 trial(s) are running or queued" in md
    assert "out of memory on cuda:0" in md and "pruned at step 2 (value 0.3)" in md
    assert "1 trial(s) pruned, 1 failed" in md
    assert "The arms' budgets differ" in md
    runs = json.loads((out / "retrain.json").read_text())["runs"]
    assert {r["arm"] for r in runs.values()} == {"fixed-relu", "linear-layer"}


def test_report_on_a_study_without_complete_trials(tmp_path: Path) -> None:
    from dynsearch.search.study import prepare_study

    url = f"journal:{tmp_path / 'q.journal'}"
    spec = parse_study({"name": "queued", "datasets": ["iris"], "search": {"strategies": ["fixed", "linear"],
                                                                          "bases": ["relu"], "scopes": ["layer"]}},
                       str(tmp_path / "queued.toml"))
    study = prepare_study(spec, open_storage(url), url, n_trials=2)
    result = build_report(study, tmp_path / "rep", progress=False)
    assert result.trained == 0 and result.comparison.best_fixed is None
    assert result.comparison.conclusion.startswith("No fixed activation has a complete trial")
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "No complete trial (not compared): fixed-relu, linear-layer." in md
    assert "_skipped: no complete trial yet_" in md
    assert "Every arm got the same budget: 1 trial slot(s)." in md
    for name in ("index.html", "trials.csv", "retrain.json"):
        assert (tmp_path / "rep" / name).is_file()


def test_report_usage_errors_write_nothing(tmp_path: Path, study_url: str, capsys) -> None:
    out = tmp_path / "never"
    missing = tmp_path / "missing.journal"
    for argv in (
        ["report", "nope", "--storage", study_url, "--out", str(out)],
        ["report", STUDY, "--storage", f"journal:{missing}", "--out", str(out)],
        ["report", STUDY, "--storage", study_url, "--out", str(out), "--seeds", "0"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("dynsearch: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not missing.exists()


# --- the search never sees the test split ----------------------------------------------------


class _Forbidden:
    """Stands in for a test tensor: any use of its data raises (only its length is public)."""

    def __init__(self, real: torch.Tensor) -> None:
        self._n = len(real)

    def __len__(self) -> int:
        return self._n

    def _touched(self, *args, **kwargs):
        raise AssertionError("the test split was used")

    __getitem__ = __iter__ = __array__ = _touched

    def __getattr__(self, name: str):
        raise AssertionError(f"the test split was used (.{name})")

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise AssertionError(f"the test split was used ({getattr(func, '__name__', func)})")


def test_search_never_touches_the_test_split(study_url: str, monkeypatch) -> None:
    """Re-run the study's trials through a real worker with the test tensors replaced by objects that
    raise on any use: every trial must complete with exactly the stored values."""
    from dynsearch.search import objective as objective_mod
    from dynsearch.search.worker import StopFlag, run_worker
    from dynsearch.train import train

    real_load = objective_mod.load_dataset

    def poisoned(*args, **kwargs):
        splits = real_load(*args, **kwargs)
        splits.x_test, splits.y_test = _Forbidden(splits.x_test), _Forbidden(splits.y_test)
        return splits

    # The poison works: scoring the test split (as the report does) trips it.
    sample = poisoned("iris", split_seed=0)
    with pytest.raises(AssertionError, match="test split was used"):
        train(sample, {"name": "fixed", "params": {}}, evaluate_test=True)

    source = _load(study_url)
    storage = open_storage(study_url, heartbeat=False)
    study = optuna.create_study(study_name="no-test-split", storage=storage, direction="maximize")
    study.set_user_attr(SPEC_ATTR, source.user_attrs[SPEC_ATTR])
    originals = sorted(best_per_arm(source.get_trials()).values(), key=lambda t: t.number)
    assert {t.user_attrs["strategy"]["name"] for t in originals} == {"fixed", "threshold", "linear"}
    for t in originals:
        study.enqueue_trial(t.params)
    monkeypatch.setattr(objective_mod, "load_dataset", poisoned)
    threads = torch.get_num_threads()
    try:
        result = run_worker("no-test-split", study_url, threads=1, stop=StopFlag())
    finally:
        torch.set_num_threads(threads)
    rerun = study.get_trials()
    assert result.complete == len(originals), [t.user_attrs.get("fail_reason") for t in rerun]
    for old, new in zip(originals, rerun, strict=True):
        assert new.state == TrialState.COMPLETE
        assert new.params == old.params
        assert new.values == old.values
        assert new.user_attrs["datasets"] == {
            k: {**v, "wall_time": new.user_attrs["datasets"][k]["wall_time"]} for k, v in old.user_attrs["datasets"].items()
        }


# --- statistics the report states ------------------------------------------------------------


def _synthetic(scores: dict[str, dict[str, list[float]]], seeds: list[int]):
    """StudyData and re-training runs from ``{arm: {dataset: [score per seed]}}`` (no training)."""
    spec = parse_study({"datasets": ["iris", "wine"], "search": {"strategies": ["fixed", "threshold", "linear"],
                                                                 "bases": ["relu", "tanh"], "scopes": ["layer", "global"]}},
                       "synthetic.toml")
    best, runs = {}, {}
    for number, (arm, per_ds) in enumerate(scores.items()):
        best[arm] = create_trial(
            value=0.5, params={"arm": arm}, distributions={"arm": CategoricalDistribution(spec.arms)},
            user_attrs={"datasets": {ds: {"metric": "accuracy", "val_metric": 0.5} for ds in per_ds}},
        )
        best[arm].number = number
        for ds, values in per_ds.items():
            for seed, value in zip(seeds, values, strict=True):
                runs[f"{arm}/{ds}/{seed}"] = RetrainRun(arm, number, ds, seed, "ok", "accuracy", value, 0.5, 1, 3, 0.1, 0)
    # Shuffle the run order: pairing must go by (dataset, seed), not by position.
    keys = list(runs)
    np.random.default_rng(0).shuffle(keys)
    runs = {k: runs[k] for k in keys}
    data = SimpleNamespace(arms=list(spec.arms), best=best, spec=spec, adjusts=lambda a: spec.arm(a).adjusts)
    return data, runs


def test_winner_is_the_highest_mean_and_pairs_match_scipy() -> None:
    seeds = retrain_seeds(4)
    rng = np.random.default_rng(1)
    scores = {arm: {ds: list(np.round(rng.uniform(0.6, 0.95, 4), 4)) for ds in ("iris", "wine")}
              for arm in ("fixed-relu", "fixed-tanh", "threshold-layer", "linear-layer")}
    data, runs = _synthetic(scores, seeds)
    result = compare(data, runs, seeds)
    for table in result.tables:
        means = {arm: float(np.mean(scores[arm][table.label])) for arm in scores}
        assert table.winners == [max(means, key=means.get)]
        for row in table.rows:
            assert row.test_mean == pytest.approx(means[row.arm], abs=1e-12)
    pooled = {arm: np.mean(scores[arm]["iris"] + scores[arm]["wine"]) for arm in ("fixed-relu", "fixed-tanh")}
    assert result.best_fixed == max(pooled, key=pooled.get)
    base = scores[result.best_fixed]
    for row in result.paired:
        mine = scores[row.arm]
        expected = paired_difference(mine["iris"] + mine["wine"], base["iris"] + base["wine"])
        assert row.result.n == 8
        assert row.result.mean_diff == pytest.approx(expected.mean_diff)
        assert row.result.p_value == pytest.approx(expected.p_value)
        assert row.result.ci_low == pytest.approx(expected.ci_low)
    assert result.no_complete == [a for a in data.arms if a not in scores]


def test_no_dynamic_strategy_beats_sentence() -> None:
    seeds = retrain_seeds(5)
    base = [0.90, 0.91, 0.89, 0.92, 0.90]
    scores = {
        "fixed-relu": {"iris": base, "wine": base},
        "fixed-tanh": {"iris": [v - 0.05 for v in base], "wine": [v - 0.05 for v in base]},
        # noisy around the baseline: not significantly better
        "threshold-layer": {"iris": [0.91, 0.90, 0.90, 0.91, 0.89], "wine": [0.89, 0.92, 0.88, 0.93, 0.90]},
        # clearly worse
        "linear-layer": {"iris": [v - 0.1 for v in base], "wine": [v - 0.08 for v in base]},
    }
    result = compare(*_synthetic(scores, seeds), seeds)
    assert result.best_fixed == "fixed-relu"
    assert result.conclusion.startswith(
        "No dynamic strategy beats the best fixed activation (fixed-relu) on this study: the closest, threshold-layer,"
    )
    assert {p.arm: p.verdict for p in result.paired} == {
        "threshold-layer": "no significant difference", "linear-layer": "worse"}
    assert "significantly worse than fixed-relu: linear-layer" in result.conclusion


def test_a_dynamic_strategy_that_beats_the_baseline_is_named() -> None:
    seeds = retrain_seeds(5)
    base = [0.80, 0.82, 0.79, 0.81, 0.80]
    scores = {
        "fixed-relu": {"iris": base, "wine": base},
        "threshold-layer": {"iris": [v + 0.05 + 0.001 * i for i, v in enumerate(base)],
                            "wine": [v + 0.04 + 0.002 * i for i, v in enumerate(base)]},
    }
    result = compare(*_synthetic(scores, seeds), seeds)
    assert [p.verdict for p in result.paired] == ["better"]
    assert result.conclusion.startswith("threshold-layer beats the best fixed activation (fixed-relu)")
    assert "No dynamic strategy" not in result.conclusion


def test_failed_runs_are_counted_not_scored() -> None:
    seeds = retrain_seeds(3)
    data, runs = _synthetic({"fixed-relu": {"iris": [0.9, 0.8, 0.85]}, "linear-layer": {"iris": [0.7, 0.75, 0.8]}}, seeds)
    key = next(k for k, r in runs.items() if r.arm == "linear-layer" and r.seed == seeds[0])
    runs[key] = RetrainRun("linear-layer", runs[key].trial, "iris", seeds[0], "diverged", "accuracy", None, None,
                           -1, 1, 0.1, 0, "training loss became nan at epoch 0")
    result = compare(data, runs, seeds)
    row = next(r for r in result.tables[0].rows if r.arm == "linear-layer")
    assert len(row.ok_runs) == 2 and row.n_failed == 1
    assert row.test_mean == pytest.approx(0.775)
    assert result.paired[0].result.n == 2
    assert "nan at epoch 0" in row.failure_messages[0]
    assert not math.isnan(result.paired[0].result.mean_diff)


def test_collect_counts_arms_of_the_real_study(study_url: str) -> None:
    data = collect(_load(study_url))
    assert data.arms == ARMS
    assert all(data.counts[a].complete == 2 for a in ARMS) and data.budgets_equal()
    assert set(data.best) == set(ARMS)


def test_holm_correction_guards_against_many_comparisons() -> None:
    seeds = retrain_seeds(5)
    base = {"iris": [0.80, 0.82, 0.79, 0.81, 0.80], "wine": [0.70, 0.71, 0.69, 0.72, 0.70]}
    # Eight of ten paired differences positive: Wilcoxon p = 0.027 on its own.
    diffs = [-0.01, 0.02, 0.03, 0.04, -0.05, 0.06, 0.07, 0.08, 0.09, 0.10]
    lucky = {ds: [v + diffs[i * 5 + j] for j, v in enumerate(vals)] for i, (ds, vals) in enumerate(base.items())}
    same = {ds: list(vals) for ds, vals in base.items()}
    alone = compare(*_synthetic({"fixed-relu": base, "threshold-layer": lucky}, seeds), seeds)
    assert alone.paired[0].result.p_value == pytest.approx(0.02734375)
    assert alone.paired[0].verdict == "better"
    crowd = compare(*_synthetic({"fixed-relu": base, "threshold-layer": lucky, "threshold-global": same,
                                 "linear-layer": same, "linear-global": same}, seeds), seeds)
    row = next(p for p in crowd.paired if p.arm == "threshold-layer")
    assert row.p_adjusted == pytest.approx(4 * 0.02734375)
    assert row.verdict == "no significant difference"
    assert crowd.conclusion.startswith("No dynamic strategy beats")


def test_worker_split_cache_never_serves_another_split_seed() -> None:
    """Two reports in one process (split seeds 0 and 1) must each score on their own split."""
    from dynsearch.config import DatasetSpec
    from dynsearch.data import load_dataset
    from dynsearch.strategies import make_strategy
    from dynsearch.train import TrainConfig, train

    config = TrainConfig(epochs=2, hidden=(8,), batch_size=32, model="mlp")
    strategy = make_strategy("fixed").to_config()
    dataset = DatasetSpec("iris", {})
    for split_seed in (0, 1):
        job = retrain_mod.RetrainJob("fixed-relu", 0, dataset, 0, strategy, config.to_dict(), split_seed)
        run = retrain_mod._run_job(job, "cpu", None)
        direct = train(load_dataset("iris", split_seed=split_seed), strategy, config, evaluate_test=True)
        assert run.test_metric == direct.test_metric and run.best_val_metric == direct.best_val_metric
