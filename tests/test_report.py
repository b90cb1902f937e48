"""``dynsearch report``: the files, the page in a browser, caching of the re-training, interrupted
studies, the statistics the report states, and that the search never touched the test split."""

from __future__ import annotations

import csv
import dataclasses
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
import tolerances as tol
import torch
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from scipy import stats as scipy_stats

from dynsearch.cli import main
from dynsearch.config import DatasetSpec, parse_study
from dynsearch.report import (
    RetrainJob,
    RetrainRun,
    RetrainStore,
    build_report,
    choose_baseline,
    collect,
    compare,
    retrain_seeds,
)
from dynsearch.report.render import provenance
from dynsearch.report.retrain import _pack as retrain_pack
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
            "trajectory-threshold-layer.png", "trajectory-linear-layer.png", "critical-difference.png"} <= pngs
    assert "trajectory-fixed-relu.png" not in pngs  # fixed arms do nothing while training
    md = (report_dir / "report.md").read_text()
    # This study's trials differ in value and in arm, so there is something to explain: importances are drawn.
    complete = _load(study_url).get_trials(states=(TrialState.COMPLETE,))
    assert len({t.values[0] for t in complete}) > 1 and len({t.params["arm"] for t in complete}) == len(ARMS)
    section = md.split("**Parameter importances (all arms, ", 1)[1].split("\n**", 1)[0]
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
        assert "param:linear.lam" in row and "reason" in row and "wall_time" in row and row["replicate"] == "0"

    stored = json.loads((report_dir / "retrain.json").read_text())
    assert stored["schema"] == "dynsearch.retrain/1" and len(stored["runs"]) == len(ARMS) * 2 * SEEDS
    assert {r["seed"] for r in stored["runs"].values()} == set(retrain_seeds(SEEDS))
    assert all(r["test_metric"] is not None for r in stored["runs"].values())


def test_report_lists_each_dataset_with_its_task_and_size(report_dir: Path) -> None:
    listed = (report_dir / "report.md").read_text().split("### Datasets", 1)[1].split("\n#", 1)[0]
    assert "- `iris`: classification, 3 classes, 4 features, 90 train / 30 val / 30 test" in listed
    assert "- `moons(n_samples=300, noise=0.2)`: classification, 2 classes, 2 features, 180 train / 60 val / 60 test" in listed


def test_report_states_budgets_and_conclusion(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    assert "Every arm got the same budget: 2 trial slot(s)." in md
    assert "No trial was pruned or failed." in md
    assert "the best baseline (fixed-relu, chosen on validation)" in md
    assert "Power (classification): with 2 datasets the Wilcoxon test over datasets cannot reach" in md
    assert "| threshold-layer | classification | fixed-relu |" in md  # the candidates table
    assert "Friedman test over 2 datasets and 3 arms" in md
    assert "Provenance" in md and "study specification (SHA-256)" in md
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
    paired = chrome.find_elements(By.CSS_SELECTOR, 'table[data-table="candidates"] tbody tr')
    assert [r.get_attribute("data-arm") for r in paired] == ["threshold-layer", "linear-layer"]
    # plotly.js loaded from the folder and drew the interactive figures.
    assert chrome.execute_script("return typeof Plotly") == "object"
    WebDriverWait(chrome, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#fig-optimization-history .main-svg")) > 0)
    images = chrome.find_elements(By.CSS_SELECTOR, "figure img")
    assert images and all(chrome.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images)


# --- caching ---------------------------------------------------------------------------------


def test_rerun_reuses_retraining_and_gives_the_same_report(report_dir: Path, study_url: str, monkeypatch) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("the report re-trained although retrain.json holds every run")

    retrain_json = report_dir / "retrain.json"
    before = {p: p.read_bytes() for p in report_dir.rglob("*") if p.is_file()}
    mtime = retrain_json.stat().st_mtime_ns
    monkeypatch.setattr(retrain_pack, "_train_one", no_training)
    monkeypatch.setattr(retrain_pack, "_train_pack", no_training)
    assert main(["report", STUDY, "--storage", study_url, "--out", str(report_dir), "--seeds", str(SEEDS), "--quiet"]) == 0
    assert retrain_json.stat().st_mtime_ns == mtime
    after = {p: p.read_bytes() for p in report_dir.rglob("*") if p.is_file()}
    assert set(after) == set(before)
    for path, data in before.items():  # an unchanged report has identical bytes, timestamps included
        assert after[path] == data, path


def test_refresh_and_more_seeds_train_only_what_is_asked(report_dir: Path, study_url: str, monkeypatch, tmp_path) -> None:
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(report_dir, out)
    calls: list[tuple[str, int]] = []
    real_one, real_pack = retrain_pack._train_one, retrain_pack._train_pack

    def counting_one(job, splits, device):
        calls.append((job.arm, job.seed))
        return real_one(job, splits, device)

    def counting_pack(jobs, splits, device, compile):
        calls.extend((job.arm, job.seed) for job in jobs)
        return real_pack(jobs, splits, device, compile)

    monkeypatch.setattr(retrain_pack, "_train_one", counting_one)
    monkeypatch.setattr(retrain_pack, "_train_pack", counting_pack)
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
    # As a worker leaves it: Optuna copies the last intermediate value into a pruned trial's value.
    study.add_trial(create_trial(state=TrialState.PRUNED, value=0.3, params={"arm": "linear-layer"},
                                 distributions=arm_dist, intermediate_values={0: 0.25, 2: 0.3},
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
    rows = {r["state"]: r for r in csv.DictReader(io.StringIO((out / "trials.csv").read_text()))}
    assert rows["PRUNED"]["value"] == "" and float(rows["PRUNED"]["last_intermediate_value"]) == 0.3
    assert rows["PRUNED"]["reason"] == "pruned at step 2 (value 0.3)"
    assert float(rows["COMPLETE"]["value"]) > 0 and rows["COMPLETE"]["last_intermediate_value"] == ""
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
    assert result.trained == 0 and result.comparison.groups == []
    assert result.comparison.conclusion.startswith("No arm has a complete trial with test scores")
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


def _role(label: str) -> str:
    """The role of a synthetic arm label's strategy ("fixed-relu" -> fixed -> baseline)."""
    from dynsearch.strategies import get_strategy_class

    return get_strategy_class(label.split("-")[0]).role


def _labels(n: int) -> list[str]:
    return [f"ds{i}" for i in range(n)]


def _synthetic(scores: dict[str, dict[str, list[float]]], seeds: list[int],
               val: dict[str, float] | None = None, metric: str = "accuracy"):
    """StudyData and re-training runs from ``{arm: {dataset: [score per seed]}}`` (no training).
    ``val`` gives each arm's validation metric (default 0.5 for all)."""
    labels = sorted({ds for per in scores.values() for ds in per}, key=lambda x: (len(x), x))
    best, runs = {}, {}
    for number, (arm, per_ds) in enumerate(scores.items()):
        v = (val or {}).get(arm, 0.5)
        best[arm] = create_trial(
            value=v, params={"arm": arm}, distributions={"arm": CategoricalDistribution(list(scores))},
            user_attrs={"datasets": {ds: {"metric": metric, "val_metric": v} for ds in per_ds}},
        )
        best[arm].number = number
        for ds, values in per_ds.items():
            for seed, value in zip(seeds, values, strict=True):
                runs[f"{arm}/{ds}/{seed}"] = RetrainRun(arm, number, ds, seed, "ok", metric, value, v, 1, 3, 0.1, 0)
    # Shuffle the run order: pairing must go by (dataset, seed), not by position.
    keys = list(runs)
    np.random.default_rng(0).shuffle(keys)
    runs = {k: runs[k] for k in keys}
    spec = SimpleNamespace(datasets=[DatasetSpec(label) for label in labels], plugins=())
    data = SimpleNamespace(arms=list(scores), best=best, spec=spec, trials=[], role=_role)
    return data, runs


def _planted(effect: float, rng: np.random.Generator, n_data: int = 10, n_seeds: int = 5,
             between: float = 0.01, noise: float = 0.01) -> dict[str, dict[str, list[float]]]:
    """A baseline and one candidate whose true per-dataset effect is ``effect`` ± ``between``."""
    base, cand = {}, {}
    for ds in _labels(n_data):
        level = rng.uniform(0.7, 0.9)
        shift = effect + rng.normal(0, between)
        base[ds] = list(level + rng.normal(0, noise, n_seeds))
        cand[ds] = list(level + shift + rng.normal(0, noise, n_seeds))
    return {"fixed-relu": base, "threshold-layer": cand}


def test_effects_are_per_dataset_means_and_wilcoxon_runs_over_datasets() -> None:
    seeds = retrain_seeds(4)
    rng = np.random.default_rng(1)
    scores = {arm: {ds: list(np.round(rng.uniform(0.6, 0.95, 4), 4)) for ds in _labels(6)}
              for arm in ("fixed-relu", "fixed-tanh", "threshold-layer", "linear-layer")}
    data, runs = _synthetic(scores, seeds)
    result = compare(data, runs, seeds)
    for table in result.tables:
        means = {arm: float(np.mean(scores[arm][table.label])) for arm in scores}
        assert table.winners == [max(means, key=means.get)]
    [group] = result.groups
    assert group.baseline == "fixed-relu"  # equal validation: the earlier baseline arm
    for row in group.rows:
        effects = [np.mean(np.subtract(scores[row.arm][ds], scores["fixed-relu"][ds])) for ds in _labels(6)]
        assert row.effects.effects == pytest.approx(effects)
        assert row.p_value == pytest.approx(scipy_stats.wilcoxon(effects).pvalue)
        assert row.effects.n_pairs == 24
    assert [r.arm for r in group.rows] == ["threshold-layer", "linear-layer"]  # fixed-tanh is a baseline


def test_learned_arms_are_baselines_not_candidates() -> None:
    seeds = retrain_seeds(3)
    rng = np.random.default_rng(2)
    scores = {arm: {ds: list(rng.uniform(0.7, 0.9, 3)) for ds in _labels(6)}
              for arm in ("fixed-relu", "learned-relu", "linear-global")}
    result = compare(*_synthetic(scores, seeds, val={"learned-relu": 0.9, "fixed-relu": 0.8}), seeds)
    assert result.roles == {"fixed-relu": "baseline", "learned-relu": "baseline", "linear-global": "candidate"}
    assert [r.arm for r in result.candidates] == ["linear-global"]
    assert result.groups[0].baseline == "learned-relu"  # the best baseline on validation


class _PoisonedScore(float):
    """A test score that raises on any use: the baseline must be chosen without reading it."""

    def _boom(self, *args, **kwargs):
        raise AssertionError("a test score was read")

    __float__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __add__ = __sub__ = __radd__ = __rsub__ = _boom
    __hash__ = float.__hash__


def test_baseline_is_chosen_on_validation_never_on_test() -> None:
    from dynsearch.report.inference._compare import _scores, _tables

    seeds = retrain_seeds(3)
    # fixed-tanh is far better on test, fixed-relu better on validation: validation decides.
    scores = {"fixed-relu": {ds: [0.7] * 3 for ds in _labels(6)}, "fixed-tanh": {ds: [0.95] * 3 for ds in _labels(6)},
              "threshold-layer": {ds: [0.8] * 3 for ds in _labels(6)}}
    data, runs = _synthetic(scores, seeds, val={"fixed-relu": 0.9, "fixed-tanh": 0.6})
    assert compare(data, runs, seeds).groups[0].baseline == "fixed-relu"
    with pytest.raises(AssertionError, match="a test score was read"):
        float(_PoisonedScore(0.5))  # the poison works
    tables = _tables(data, runs, seeds)
    for table in tables:  # from here on, any read of a test score raises
        for row in table.rows:
            row.runs = [dataclasses.replace(r, test_metric=_PoisonedScore(0.5)) for r in row.runs]
    assert choose_baseline(["fixed-relu", "fixed-tanh"], _scores(tables, "validation")) == "fixed-relu"


@pytest.mark.parametrize("effect, expected", [(0.02, "better"), (-0.02, "worse"), (0.0, "equivalent")])
def test_planted_effects_get_their_verdict(effect: float, expected: str) -> None:
    seeds = retrain_seeds(5)
    rng = np.random.default_rng(7)
    between = 0.002 if effect == 0.0 else 0.01
    result = compare(*_synthetic(_planted(effect, rng, between=between), seeds), seeds)
    [row] = result.candidates
    assert row.verdict == expected, (row.mean, row.ci, row.p_adjusted, row.p_equivalence_adjusted)
    if expected != "equivalent":
        assert row.ci[0] > 0 if effect > 0 else row.ci[1] < 0
    clause = {"better": "threshold-layer is better than the best baseline (fixed-relu, chosen on validation)",
              "worse": "Worse: threshold-layer (Δ = −0.0", "equivalent": "Equivalent within ±0.01: threshold-layer"}
    assert clause[expected] in result.conclusion
    assert "Power (classification): with 10 datasets" in result.conclusion


def test_planted_null_is_declared_better_at_most_five_percent_of_the_time() -> None:
    from dynsearch.report.inference import adjust_family, infer_group

    rng = np.random.default_rng(11)
    n_reports, better = 200, 0
    for _ in range(n_reports):
        scores = _planted(0.0, rng, between=0.01)
        test = {arm: {ds: {(0, s): v for s, v in enumerate(vals)} for ds, vals in per.items()}
                for arm, per in scores.items()}
        val = {arm: {ds: {(0, 0): 0.5}} for arm in scores for ds in _labels(10)}
        group = infer_group("classification", "accuracy", _labels(10), ["threshold-layer"], ["fixed-relu"], test, val)
        adjust_family([group], 0.01, n_boot=400)
        better += group.rows[0].verdict == "better"
    # 5 % plus two standard errors of a proportion estimated from 200 reports
    assert better / n_reports <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / n_reports), better


def test_classification_and_regression_are_never_averaged_together() -> None:
    seeds = retrain_seeds(3)
    data, runs = _synthetic({"fixed-relu": {"ds0": [0.9] * 3, "ds1": [0.8] * 3},
                             "linear-layer": {"ds0": [0.91] * 3, "ds1": [0.82] * 3}}, seeds)
    reg, reg_runs = _synthetic({"fixed-relu": {"r0": [0.3] * 3, "r1": [0.5] * 3},
                                "linear-layer": {"r0": [0.1] * 3, "r1": [0.2] * 3}}, seeds, metric="r2")
    runs.update(reg_runs)
    data.spec.datasets += reg.spec.datasets
    result = compare(data, runs, seeds)
    assert [g.group for g in result.groups] == ["classification", "regression"]
    assert [g.datasets for g in result.groups] == [["ds0", "ds1"], ["r0", "r1"]]
    cls, rgr = (g.rows[0] for g in result.groups)
    assert cls.mean == pytest.approx(0.015) and rgr.mean == pytest.approx(-0.25)
    overall = {(r.arm, r.group): r.mean_test for r in result.overall}
    assert overall[("fixed-relu", "classification")] == pytest.approx(0.85)
    assert overall[("fixed-relu", "regression")] == pytest.approx(0.4)


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
    assert result.candidates[0].effects.n_pairs == 2
    assert "nan at epoch 0" in row.failure_messages[0]


def test_collapsed_runs_are_listed_apart() -> None:
    seeds = retrain_seeds(3)
    data, runs = _synthetic({"fixed-relu": {"iris": [0.9, 0.34, 0.85]}}, seeds)
    runs = {k: dataclasses.replace(r, chance=1 / 3) for k, r in runs.items()}
    row = compare(data, runs, seeds).tables[0].rows[0]
    assert [r.test_metric for r in row.collapsed] == [0.34]


def _beyond_line(comparison, row) -> str:
    """The Markdown row of ``row`` in the "Beyond the mean" table, from the comparison's own numbers."""
    from dynsearch.report.fmt import fmt_delta, fmt_pct

    b = comparison.beyond(row)
    a = b.all
    shares = " / ".join(fmt_pct(a.share(k)) for k in (a.better, a.tied, a.worse))
    cells = [row.arm, row.group, fmt_delta(a.mean), fmt_delta(a.median), fmt_delta(a.trimmed_mean),
             f"{shares} ({a.better} / {a.tied} / {a.worse})", fmt_delta(b.kept.mean), fmt_delta(b.kept.median),
             f"{len(b.left_out)} of {a.n}"]
    return "| " + " | ".join(cells) + " |"


BEYOND_HEADER = ("| arm | group | mean Δ | median Δ | 20 % trimmed mean Δ | better / tied / worse (±0.01) | "
                 "mean Δ, collapses out | median Δ, collapses out | datasets left out |")


def test_the_report_gives_the_effects_beyond_the_mean(report_dir: Path, study_url: str) -> None:
    md = (report_dir / "report.md").read_text()
    assert "### Beyond the mean" in md and BEYOND_HEADER in md
    assert md.index("| threshold-layer | classification | fixed-relu |") < md.index(BEYOND_HEADER)
    data = collect(_load(study_url))
    store = RetrainStore.load(report_dir / "retrain.json", STUDY)
    comparison = compare(data, store.records, retrain_seeds(SEEDS), data.spec.equivalence_margin)
    assert [r.arm for r in comparison.candidates] == ["threshold-layer", "linear-layer"]
    for row in comparison.candidates:
        assert _beyond_line(comparison, row) in md
        assert comparison.beyond(row).all.mean == row.mean  # the mean of the candidates table
    assert 'data-table="beyond"' in (report_dir / "index.html").read_text()


def test_collapses_flip_the_mean_the_median_and_the_collapse_free_effect_do_not_and_verdicts_stay() -> None:
    from dynsearch.report.render import beyond_table, render_markdown

    seeds = retrain_seeds(3)
    labels = _labels(8)
    # A candidate 2 points better on six datasets and at chance (accuracy 0.3, chance 1/3) on two.
    scores = {"fixed-relu": {ds: [0.85] * 3 for ds in labels},
              "threshold-layer": {ds: [0.3] * 3 if ds in ("ds6", "ds7") else [0.87] * 3 for ds in labels}}
    data, plain = _synthetic(scores, seeds)
    runs = {k: dataclasses.replace(r, chance=1 / 3) for k, r in plain.items()}
    comparison = compare(data, runs, seeds, 0.01)
    [row] = comparison.candidates
    b = comparison.beyond(row)
    e = row.effects.effects
    assert b.all.mean == row.mean < 0 < b.all.median == np.median(e)
    assert b.all.trimmed_mean == scipy_stats.trim_mean(e, 0.2) < 0  # one of two collapses survives a 20 % trim of 8
    assert (b.all.better, b.all.tied, b.all.worse) == (6, 0, 2)
    assert b.left_out == ["ds6", "ds7"] and b.kept.n == 6 and b.kept.mean == b.kept.median == np.mean(e[:6]) > 0
    md = render_markdown(beyond_table(comparison))
    assert BEYOND_HEADER in md
    assert ("| threshold-layer | classification | −0.1225 | +0.0200 | −0.0750 | 75 % / 0 % / 25 % (6 / 0 / 2) | "
            "+0.0200 | +0.0200 | 2 of 8 |") in md
    # Flagging the collapses changes no test and no verdict: those stay over all datasets.
    without_chance = compare(data, plain, seeds, 0.01)
    [unflagged] = without_chance.candidates
    assert without_chance.beyond(unflagged).left_out == []
    assert (row.verdict, row.p_adjusted, row.ci) == (unflagged.verdict, unflagged.p_adjusted, unflagged.ci)


def test_collect_counts_arms_of_the_real_study(study_url: str) -> None:
    data = collect(_load(study_url))
    assert data.arms == ARMS
    assert all(data.counts[a].complete == 2 for a in ARMS) and data.budgets_equal()
    assert set(data.best) == set(ARMS)


def test_holm_correction_guards_against_many_comparisons() -> None:
    seeds = retrain_seeds(2)
    base = {ds: [0.80, 0.82] for ds in _labels(10)}
    # Eight of ten per-dataset effects positive: Wilcoxon p = 0.0273 on its own.
    diffs = [-0.01, 0.02, 0.03, 0.04, -0.05, 0.06, 0.07, 0.08, 0.09, 0.10]
    lucky = {ds: [v + diffs[i] for v in base[ds]] for i, ds in enumerate(_labels(10))}
    same = {ds: list(vals) for ds, vals in base.items()}
    alone = compare(*_synthetic({"fixed-relu": base, "threshold-layer": lucky}, seeds), seeds)
    assert alone.candidates[0].p_value == pytest.approx(0.02734375)
    assert alone.candidates[0].verdict == "better"
    crowd = compare(*_synthetic({"fixed-relu": base, "threshold-layer": lucky, "threshold-global": same,
                                 "linear-layer": same, "linear-global": same}, seeds), seeds)
    row = next(p for p in crowd.candidates if p.arm == "threshold-layer")
    assert row.p_adjusted == pytest.approx(4 * 0.02734375)
    assert row.verdict == "inconclusive"
    assert crowd.conclusion.startswith("No candidate strategy is better")


def test_a_threshold_arm_outside_the_signal_range_is_reported_inert() -> None:
    """Real training: thresholds at ±1 can never be crossed by a correlation, so nothing ever switches."""
    from dynsearch.data import load_dataset
    from dynsearch.report.activity import measure_activity, summarize_activity
    from dynsearch.train import TrainConfig, train

    splits = load_dataset("iris", split_seed=0)
    strategy = {"name": "threshold", "params": {"lower": -1.0, "upper": 1.0, "base": "relu", "scope": "layer"}}
    records = []
    for seed in (0, 1):
        result = train(splits, strategy, TrainConfig(epochs=3, hidden=(16,), seed=seed))
        records.append(measure_activity(result.history, strategy, "relu"))
    activity = summarize_activity("threshold-layer", records)
    assert activity.inert and activity.switches_per_run == 0 and activity.sites_changed_share == 0
    assert activity.sentence() == ("threshold-layer never switched family and never moved α in any of its 2 "
                                   "re-training runs: it trained as fixed relu (α = 0, the lower bound of its range) "
                                   "with its own learning rate.")
    moving = {"name": "linear", "params": {"lam": 0.5, "base": "elu", "scope": "layer"}}
    result = train(splits, moving, TrainConfig(epochs=3, hidden=(16,), seed=0))
    active = summarize_activity("linear-layer", [measure_activity(result.history, moving, "relu")])
    assert not active.inert and active.alpha_max > 0 and active.sentence() is None


# --- dynsearch plan --------------------------------------------------------------------------


def test_plan_command_sizes_the_study_from_the_measured_spread(study_url: str, report_dir: Path, tmp_path: Path,
                                                               capsys) -> None:
    from dynsearch.report.inference import make_plan, simulated_datasets_needed

    (tmp_path / "tiny.toml").write_text(STUDY_TOML)
    argv = ["plan", str(tmp_path / "tiny.toml"), "--storage", study_url, "--effect", "0.02", "--report", str(report_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test scores of the re-training runs" in out and "studies per design simulated from the pilot's" in out
    sd = {name: float(m) if m != "not measured" else 0.0 for name, m in
          re.findall(r"between (datasets|seeds|replicates)[^:]*: SD ([0-9.]+|not measured)", out)}
    rows = {(int(a), int(b)): c for a, b, c in re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+|> 2000)\s", out, re.M)}
    assert set(rows) == {(s, r) for s in (3, 5, 10) for r in (1, 2, 3)}
    plan = make_plan(collect(_load(study_url)), 0.02, report_dir, workers=1)
    assert np.std(plan.shape) == pytest.approx(1.0, rel=tol.moments(plan.shape.size))
    for (seeds, reps), n in rows.items():  # each count is the simulation's, on the printed spread
        population = plan.population(seeds, reps)
        var = sd["datasets"] ** 2 + sd["replicates"] ** 2 / reps + sd["seeds"] ** 2 / (reps * seeds)
        assert np.std(population) == pytest.approx(math.sqrt(var), abs=1e-4)  # not rounding: 3 SDs printed to 4 decimals: at most √3 · 5e-5
        expected = simulated_datasets_needed(0.02, population, tests=2, limit=2000)
        assert n == ("> 2000" if expected is None else str(expected)), (seeds, reps)
    # More seeds never need more datasets: the same draws at a smaller spread (ranks ignore the scale).
    assert all(int(rows[(10, r)]) <= int(rows[(3, r)]) for r in (1, 2, 3) if rows[(3, r)].isdigit())


def test_plan_command_bad_input_is_one_line(tmp_path: Path, study_url: str, capsys) -> None:
    (tmp_path / "tiny.toml").write_text(STUDY_TOML)
    for argv in (["plan", str(tmp_path / "tiny.toml"), "--effect", "-1"],
                 ["plan", str(tmp_path / "tiny.toml"), "--storage", study_url, "--effect", "0.01", "--report",
                  str(tmp_path / "nowhere")],
                 ["plan", str(tmp_path / "missing.toml"), "--effect", "0.01"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("dynsearch: error:") and err.count("\n") == 1, err


# --- search replicates -----------------------------------------------------------------------


def test_each_replicate_winner_is_retrained_on_its_own_split_and_replicates_enter_the_statistics() -> None:
    from dynsearch.report.retrain import plan_jobs

    arms = ["fixed-relu", "linear-layer"]
    dist = {"arm": CategoricalDistribution(arms)}
    trials = []
    values = {(0, "fixed-relu"): [0.8, 0.9], (0, "linear-layer"): [0.7, 0.6], (1, "fixed-relu"): [0.95, 0.5],
              (1, "linear-layer"): [0.4, 0.85]}
    for (rep, arm), vals in values.items():
        for v in vals:
            attrs = {"strategy": {"name": arm.split("-")[0], "params": {}}, "train": {"epochs": 1}}
            if rep:  # replicate 0 carries no attributes: the defaults (0, the study's split seed) apply
                attrs.update(replicate=rep, split_seed=7)
            t = create_trial(value=v, params={"arm": arm}, distributions=dist, user_attrs=attrs)
            t.number = len(trials)
            trials.append(t)
    spec = SimpleNamespace(datasets=[DatasetSpec("iris")], split_seed=3, plugins=())
    data = SimpleNamespace(arms=arms, trials=trials, spec=spec, best={}, role=_role)
    jobs = plan_jobs(data, [1000, 1001])
    winners = {(j.replicate, j.arm): (j.trial, j.split_seed) for j in jobs}
    assert winners == {(0, "fixed-relu"): (1, 3), (0, "linear-layer"): (2, 3),
                       (1, "fixed-relu"): (4, 7), (1, "linear-layer"): (7, 7)}
    assert len(jobs) == 4 * 2

    # Scores: replicate means differ by 0.1, seeds by 0.02 around them.
    runs = {}
    for j in jobs:
        score = 0.8 + 0.1 * j.replicate + (0.02 if j.seed == 1001 else -0.02) + (0.01 if j.arm == "linear-layer" else 0)
        runs[j.key] = RetrainRun(j.arm, j.trial, "iris", j.seed, "ok", "accuracy", score, 0.5, 1, 1, 0.1, 0,
                                 replicate=j.replicate)
    result = compare(data, runs, [1000, 1001])
    row = result.tables[0].rows[1]
    assert row.trials == [2, 7] and len(row.ok_runs) == 4
    assert result.candidates[0].effects.groups == [[pytest.approx([0.01, 0.01]), pytest.approx([0.01, 0.01])]]
    assert result.replicates == 2
    # variance of replicate means (0.005) less the seeds' share (0.0008 / 2), and the seeds' (0.0008)
    assert result.spread["replicate"] == pytest.approx(0.005 - 0.0008 / 2)
    assert result.spread["seed"] == pytest.approx(0.0008)


def test_the_conclusion_names_a_candidate_that_never_adjusted() -> None:
    seeds = retrain_seeds(2)
    data, runs = _synthetic({"fixed-relu": {ds: [0.8, 0.82] for ds in _labels(6)},
                             "threshold-layer": {ds: [0.81, 0.83] for ds in _labels(6)},
                             "linear-layer": {ds: [0.79, 0.8] for ds in _labels(6)}}, seeds)
    still = {"switches": 0, "epochs": 5, "epochs_changed": 0, "sites": 2, "sites_changed": 0, "alpha_end": 0.0,
             "alpha_max": 0.0, "pinned_sites": 2, "start_family": "relu", "start_alpha": 0.0, "end_alphas": [0.0]}
    moving = {**still, "switches": 1, "epochs_changed": 2, "sites_changed": 1, "pinned_sites": 1}
    runs = {k: dataclasses.replace(r, activity=still if r.arm == "threshold-layer" else moving)
            for k, r in runs.items() if r.arm != "fixed-relu"} | {k: r for k, r in runs.items() if r.arm == "fixed-relu"}
    result = compare(data, runs, seeds)
    assert result.activity["threshold-layer"].inert and not result.activity["linear-layer"].inert
    assert ("threshold-layer never switched family and never moved α in any of its 12 re-training runs: it trained "
            "as fixed relu (α = 0, the lower bound of its range) with its own learning rate.") in result.conclusion
    assert "linear-layer never" not in result.conclusion


def test_worker_split_cache_never_serves_another_split_seed() -> None:
    """Two reports in one process (split seeds 0 and 1) must each score on their own split."""
    from dynsearch.data import load_dataset
    from dynsearch.strategies import make_strategy
    from dynsearch.train import TrainConfig, train

    config = TrainConfig(epochs=2, hidden=(8,), batch_size=32, model="mlp")
    strategy = make_strategy("fixed").to_config()
    dataset = DatasetSpec("iris", {})
    for split_seed in (0, 1):
        job = RetrainJob("fixed-relu", 0, dataset, 0, strategy, config.to_dict(), split_seed)
        [run] = retrain_pack.train_jobs([job], "cpu")
        direct = train(load_dataset("iris", split_seed=split_seed), strategy, config, evaluate_test=True)
        assert run.test_metric == direct.test_metric and run.best_val_metric == direct.best_val_metric


def test_the_untimed_warm_up_leaves_the_first_run_unchanged(monkeypatch) -> None:
    """A pool process trains one short untimed run first (torch's start-up cost stays out of the time per
    run); the first real run still gives exactly what it gives in a process that was warm already."""
    from dynsearch.data import load_dataset
    from dynsearch.strategies import make_strategy
    from dynsearch.train import TrainConfig, train

    config = TrainConfig(epochs=3, hidden=(8,), batch_size=32, model="mlp", dropout=0.2)
    strategy = make_strategy("learned").to_config()
    job = RetrainJob("learned-relu", 0, DatasetSpec("iris", {}), 0, strategy, config.to_dict(), 0)
    warmed: list[str] = []
    monkeypatch.setattr(retrain_pack, "_WARMED", set())
    monkeypatch.setattr(retrain_pack, "_warm_up", lambda j, s, packed, real=retrain_pack._warm_up: (
        warmed.append(j.arm), real(j, s, packed)))
    [first] = retrain_pack.train_jobs([job], "cpu")
    [second] = retrain_pack.train_jobs([job], "cpu")
    assert warmed == ["learned-relu"]  # once per process and device, not per run
    direct = train(load_dataset("iris", split_seed=0), strategy, config, evaluate_test=True)  # no warm-up before it
    for run in (first, second):
        assert (run.test_metric, run.best_val_metric, run.best_epoch) == \
            (direct.test_metric, direct.best_val_metric, direct.best_epoch)


def test_provenance_names_the_last_commit_of_the_package_in_a_checkout() -> None:
    """The report's method says which code made it: in a git checkout, the last commit that changed dynsearch/."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout: the report says so instead of a commit")
    head = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%H", "--", "dynsearch"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert provenance({}, ["cpu"])["code"].startswith(f"dynsearch/ as of commit {head[:12]}")


def test_real_and_synthetic_datasets_are_also_compared_apart_against_the_pooled_baseline() -> None:
    from dynsearch.report import holm_adjust
    from dynsearch.report.fmt import fmt_delta, fmt_p
    from dynsearch.report.render import origin_table, render_markdown

    seeds = retrain_seeds(3)
    rng = np.random.default_rng(1)
    real, synthetic = [f"rdata_t{i}" for i in range(8)], [f"synthetic_{i:02d}" for i in range(8)]
    scores: dict[str, dict[str, list[float]]] = {"fixed-relu": {}, "threshold-layer": {}, "linear-layer": {}}
    for ds in real + synthetic:
        level = rng.uniform(0.6, 0.8)
        sign = 1.0 if ds in real else -1.0  # threshold helps on real data and hurts on synthetic data
        scores["fixed-relu"][ds] = [level] * 3
        scores["threshold-layer"][ds] = [level + sign * rng.uniform(0.04, 0.06)] * 3
        scores["linear-layer"][ds] = [level + rng.normal(0, 0.002)] * 3
    data, runs = _synthetic(scores, seeds)
    c = compare(data, runs, seeds, 0.01)
    [pooled] = c.groups
    assert [(g.origin, sorted(g.datasets)) for g in c.by_origin] == [("real", sorted(real)),
                                                                    ("synthetic", sorted(synthetic))]
    for g in c.by_origin:
        assert g.baseline == pooled.baseline == "fixed-relu"
        for row, whole in zip(g.rows, pooled.rows, strict=True):
            keep = [whole.effects.datasets.index(d) for d in row.effects.datasets]
            assert row.arm == whole.arm and np.allclose(row.effects.effects, whole.effects.effects[keep])
        # Holm runs over the candidates inside the source, not over both sources
        assert [r.p_adjusted for r in g.rows] == pytest.approx(holm_adjust([r.p_value for r in g.rows]))
    verdicts = {(g.origin, r.arm): r.verdict for g in c.by_origin for r in g.rows}
    assert verdicts[("real", "threshold-layer")] == "better"
    assert verdicts[("synthetic", "threshold-layer")] == "worse"
    assert verdicts[("real", "linear-layer")] == verdicts[("synthetic", "linear-layer")] == "equivalent"
    assert pooled.rows[0].verdict != "better"  # the pooled verdict is not the real one
    assert "Apart by source" in c.conclusion and "on the 8 real classification datasets threshold-layer is better" \
        in c.conclusion
    real_linear = next(r for r in c.by_origin[0].rows if r.arm == "linear-layer")  # equivalence cites TOST's p
    assert f"linear-layer is equivalent (Δ = {fmt_delta(real_linear.mean)}, TOST Holm p = " \
        f"{fmt_p(real_linear.p_equivalence_adjusted)})" in c.conclusion
    md = render_markdown(origin_table(c))
    assert "### Real and synthetic data apart" in md and "| threshold-layer | synthetic | classification |" in md
    assert "Power (real classification)" in md
    # A study on one source only has no split, nor one with a single dataset of the other source
    for keep in (real, real + synthetic[:1]):
        part = {arm: {d: v for d, v in per.items() if d in keep} for arm, per in scores.items()}
        data, runs = _synthetic(part, seeds)
        c = compare(data, runs, seeds, 0.01)
        assert c.by_origin == [] and origin_table(c) == [] and "Apart by source" not in c.conclusion
