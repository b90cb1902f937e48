"""``dynsearch export``: the best config as JSON, read back, and re-trained to the same validation metric."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import dynsearch
from dynsearch.cli import main
from dynsearch.export import (
    SCHEMA,
    ExportError,
    ExportRecord,
    load_config,
    matching_arms,
    read_export,
    select_best_trial,
)  # fmt: skip
from dynsearch.search.storage import open_storage
from dynsearch.search.study import load_spec
from dynsearch.strategies import strategy_from_config

STUDY = "exp"
LABEL = "moons(n_samples=300, noise=0.2)"

STUDY_TOML = """\
name = "exp"
datasets = [{ name = "moons", n_samples = 300, noise = 0.2 }]
n_trials = 5
seeds = 1
split_seed = 3

[model]
kind = "mlp"
hidden = [16]

[training]
epochs = 4
batch_size = 32
patience = 0
lr = 0.01

[search]
strategies = ["fixed", "threshold", "linear"]
scopes = ["layer", "global"]
bases = ["relu"]

[sampler]
name = "random"
seed = 1

[pruner]
name = "none"
"""


@pytest.fixture(scope="module")
def study_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("exp")
    (tmp / "exp.toml").write_text(STUDY_TOML)
    url = f"journal:{tmp / 's.journal'}"
    proc = subprocess.run(
        [sys.executable, "-m", "dynsearch", "run", "exp.toml", "--storage", url, "--workers", "2", "--quiet"],
        cwd=tmp, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return url


@pytest.fixture(scope="module")
def study(study_url: str) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=open_storage(study_url, heartbeat=False))


def _matches(trial: optuna.trial.FrozenTrial, family: str | None, scope: str | None) -> bool:
    strategy = trial.user_attrs["strategy"]
    return (family is None or strategy["name"] == family) and (scope is None or strategy["params"].get("scope") == scope)


def _assert_is_best(study: optuna.Study, number: int, family: str | None = None, scope: str | None = None) -> None:
    """The documented rule as properties: the chosen trial matches the filters, no matching complete trial
    scores higher, and among equal scores it is the earliest."""
    chosen = study.trials[number]
    assert chosen.state == TrialState.COMPLETE and _matches(chosen, family, scope)
    for other in study.get_trials(states=(TrialState.COMPLETE,)):
        if _matches(other, family, scope):
            assert other.values[0] <= chosen.values[0], (other.number, number)
            if other.values[0] == chosen.values[0]:
                assert other.number >= number, (other.number, number)


def _chosen(study: optuna.Study, config: Path, family: str | None = None) -> optuna.trial.FrozenTrial:
    """The trial an export file names, checked to be the best one of its family."""
    number = read_export(config).trial
    _assert_is_best(study, number, family)
    return study.trials[number]


def test_export_round_trip(study_url: str, study: optuna.Study, tmp_path: Path, capsys) -> None:
    out = tmp_path / "best.json"
    assert main(["export", STUDY, "--storage", study_url, "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    _assert_is_best(study, data["trial"])
    best = study.trials[data["trial"]]
    assert f"exported trial {best.number}" in capsys.readouterr().out
    assert data["schema"] == SCHEMA == "dynsearch.export/1"
    assert data["dynsearch_version"] == dynsearch.__version__
    assert data["strategy"] == best.user_attrs["strategy"]
    assert data["train"] == best.user_attrs["train"]
    assert data["split_seed"] == 3
    assert data["datasets"] == [{"name": "moons", "options": {"n_samples": 300, "noise": 0.2}, "label": LABEL}]
    assert data["scores"]["mean"] == best.values[0]
    assert data["scores"]["datasets"][LABEL]["val_metrics"] == best.user_attrs["datasets"][LABEL]["val_metrics"]
    assert (data["study"], data["trial"], data["arm"]) == (STUDY, best.number, best.params["arm"])
    assert data["storage"] == study_url
    assert dt.datetime.fromisoformat(data["created"]).tzinfo is not None

    record = read_export(out)
    assert isinstance(record, ExportRecord) and record.to_dict() == data
    strategy = load_config(out)
    assert strategy == strategy_from_config(best.user_attrs["strategy"])
    assert dynsearch.load_config(out) == strategy
    assert record.train_config(seed=7).seed == 7

    # Without -o the same JSON goes to stdout (apart from the creation time).
    assert main(["export", STUDY, "--storage", study_url]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in printed.items() if k != "created"} == {k: v for k, v in data.items() if k != "created"}


@pytest.mark.parametrize(("family", "scope"), [("fixed", None), ("threshold", "layer"), ("linear", "global"),
                                               ("threshold", None), (None, "global")])
def test_family_and_scope_filters(study_url: str, study: optuna.Study, tmp_path: Path, family, scope) -> None:
    out = tmp_path / "f.json"
    argv = ["export", STUDY, "--storage", study_url, "-o", str(out)]
    argv += ["--family", family] if family else []
    argv += ["--scope", scope] if scope else []
    assert main(argv) == 0
    record = read_export(out)
    _assert_is_best(study, record.trial, family, scope)
    assert record.strategy == study.trials[record.trial].user_attrs["strategy"]
    if family:
        assert record.strategy["name"] == family
    if scope:
        assert record.strategy["params"]["scope"] == scope
    assert select_best_trial(study.get_trials(), matching_arms(load_spec(study), family, scope)).number == record.trial


@pytest.mark.parametrize("argv", [
    ["--family", "learned"],  # not in this study
    ["--family", "fixed", "--scope", "layer"],  # fixed activations have no scope
    ["--family", "bogus"],
    ["--scope", "everywhere"],
    ["--arm", "threshold-sideways"],  # not an arm of this study
    ["--arm", "fixed-relu", "--family", "threshold"],  # contradicting filters
])
def test_export_with_nothing_to_export(study_url: str, tmp_path: Path, capsys, argv) -> None:
    out = tmp_path / "none.json"
    with pytest.raises(SystemExit) as exc:
        main(["export", STUDY, "--storage", study_url, "-o", str(out), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("dynsearch: error:") and err.count("\n") == 1
    assert not out.exists()


def test_a_misspelled_arm_gets_the_nearest_name_and_the_help(study_url: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["export", STUDY, "--storage", study_url, "--arm", "threshold-globl", "-o", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert err.startswith("dynsearch: error: export: --arm: 'threshold-globl' is not an arm of study "
                          f"{STUDY!r} (did you mean 'threshold-global'?); its arms: "), err
    assert err.rstrip().endswith("see 'dynsearch export --help'") and err.count("export: ") == 1


@pytest.mark.parametrize("arm", ["threshold-global", "fixed-relu"])
def test_export_one_arm(study_url: str, study: optuna.Study, tmp_path: Path, arm: str) -> None:
    out = tmp_path / "arm.json"
    assert main(["export", STUDY, "--storage", study_url, "--arm", arm, "-o", str(out)]) == 0
    record = read_export(out)
    arm_trials = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.params["arm"] == arm]
    best = max(arm_trials, key=lambda t: (t.values[0], -t.number))  # independent of the code under test
    assert (record.arm, record.trial) == (arm, best.number)


def test_export_of_a_missing_study_or_storage(study_url: str, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nothing.journal"
    for argv in (["export", "nope", "--storage", study_url], ["export", STUDY, "--storage", f"journal:{missing}"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not missing.exists()  # a typo never creates an empty journal


def _export(study_url: str, tmp_path: Path, family: str | None) -> Path:
    out = tmp_path / f"best-{family}.json"
    assert main(["export", STUDY, "--storage", study_url, "-o", str(out), *(["--family", family] if family else [])]) == 0
    return out


def test_train_from_export_reproduces_the_validation_metric(study_url: str, study: optuna.Study, tmp_path: Path) -> None:
    """The real command in a fresh process: same dataset, split seed, strategy and training → same metric."""
    config = _export(study_url, tmp_path, "threshold")
    best = _chosen(study, config, "threshold")
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "dynsearch", "train", "--config", str(config), "--json", str(result), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    trained = json.loads(result.read_text())
    assert trained["dataset"] == "moons"
    # The same strategy: a stored config leaves unsearched defaults out (between = "base"), the result names them.
    assert strategy_from_config(trained["strategy"]) == strategy_from_config(best.user_attrs["strategy"])
    assert trained["best_val_metric"] == best.user_attrs["datasets"][LABEL]["val_metrics"][0]
    assert trained["epochs_run"] == best.user_attrs["datasets"][LABEL]["epochs"]


@pytest.mark.parametrize("family", ["fixed", "linear"])
def test_train_from_export_every_family(study_url: str, study: optuna.Study, tmp_path: Path, family: str) -> None:
    config = _export(study_url, tmp_path, family)
    best = _chosen(study, config, family)
    result = tmp_path / "result.json"
    assert main(["train", "--config", str(config), "--json", str(result), "--quiet"]) == 0
    trained = json.loads(result.read_text())
    assert trained["best_val_metric"] == best.user_attrs["datasets"][LABEL]["val_metrics"][0]


def _valid_export(study_url: str, tmp_path: Path) -> str:
    return _export(study_url, tmp_path, None).read_text()


@pytest.mark.parametrize("case", ["missing", "truncated", "unknown-schema", "no-schema", "not-an-object",
                                  "bad-strategy", "bad-train"])
def test_bad_config_files(study_url: str, tmp_path: Path, capsys, case: str) -> None:
    good = json.loads(_valid_export(study_url, tmp_path))
    capsys.readouterr()
    path = tmp_path / "config.json"
    text = {
        "missing": None,
        "truncated": json.dumps(good, indent=2)[:150],
        "unknown-schema": json.dumps({**good, "schema": "dynsearch.export/99"}),
        "no-schema": json.dumps({k: v for k, v in good.items() if k != "schema"}),
        "not-an-object": "[1, 2, 3]",
        "bad-strategy": json.dumps({**good, "strategy": {"name": "nonsense", "params": {}}}),
        "bad-train": json.dumps({**good, "train": {**good["train"], "epochs": -1}}),
    }[case]
    if text is not None:
        path.write_text(text)
    with pytest.raises(ExportError) as info:
        read_export(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    if case == "truncated":
        assert "not valid JSON" in message
    if case in ("unknown-schema", "no-schema"):
        assert "dynsearch.export/1" in message

    result = tmp_path / "out" / "result.json"
    with pytest.raises(SystemExit) as exc:
        main(["train", "--config", str(path), "--json", str(result)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == f"dynsearch: error: train: {message}\n"  # a file's own message: no help pointer
    assert captured.out == ""
    assert not result.parent.exists()
