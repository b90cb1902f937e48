"""`dynsearch train`: summaries, JSON results, every dataset kind, and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dynsearch.cli import main
from dynsearch.data import dataset_names

FAST = ["--epochs", "2", "--hidden", "8", "--model", "mlp", "--batch-size", "64"]


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_real_entry_point_prints_a_summary(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "dynsearch", "train", "--dataset", "digits", "--strategy", "threshold",
         "--lower", "-0.5", "--upper", "0.5", "--base", "relu", "--scope", "layer", "--epochs", "3",
         "--seed", "0", "--json", str(result)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for fragment in ("dataset   digits", "strategy  threshold(", "val accuracy", "test accuracy", "switches", "time"):
        assert fragment in proc.stdout
    data = json.loads(result.read_text())
    assert data["status"] == "ok" and len(data["history"]) == 3
    assert {"r", "family", "alpha"} <= set(data["history"][0]["sites"][0])


@pytest.mark.parametrize("dataset", dataset_names())
def test_every_builtin_dataset_trains(capsys, dataset: str) -> None:
    code, out, err = run_main(capsys, "train", "--dataset", dataset, "--strategy", "linear", "--lam", "0.3", *FAST)
    assert code == 0, err
    assert f"dataset   {dataset}" in out


@pytest.mark.parametrize("strategy", ["fixed", "threshold", "linear", "learned"])
@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("signal", ["io", "target"])
def test_every_strategy_scope_signal(capsys, strategy: str, scope: str, signal: str) -> None:
    code, out, err = run_main(capsys, "train", "--dataset", "iris", "--strategy", strategy,
                              "--scope", scope, "--signal", signal, *FAST)
    assert code == 0, err
    assert f"scope={scope}" in out and f"signal={signal}" in out


@pytest.mark.parametrize(("strategy", "measured"), [("fixed", False), ("learned", False), ("threshold", True)])
def test_summary_says_not_measured_where_no_r_was_read(capsys, strategy: str, measured: bool) -> None:
    code, out, err = run_main(capsys, "train", "--dataset", "iris", "--strategy", strategy, *FAST)
    assert code == 0, err
    site_lines = out.split("sites at the end:\n", 1)[1].splitlines()
    assert site_lines, out
    for line in site_lines:
        if measured:
            assert re.search(r"r=[+-]\d\.\d{3}", line) and "not measured" not in line, line
        else:  # no measurement is not a measurement of zero
            assert line.endswith("r not measured") and "r=" not in line, line


def test_csv_dataset(capsys, tmp_path: Path) -> None:
    rows = ["a,b,color,label"] + [f"{i % 7},{(i * 3) % 5},{'red' if i % 2 else 'blue'},{i % 2}" for i in range(120)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    code, out, err = run_main(capsys, "train", "--dataset", f"csv:{path}", "--dataset-option", "target=label", *FAST)
    assert code == 0, err
    assert "(classification)" in out


BAD_ARGUMENTS = [
    (["--dataset", "iris", "--strategy", "magic"], "--strategy: unknown strategy 'magic'; registered strategies: fixed"),
    (["--dataset", "iris", "--strategy", "threshold", "--lower", "0.6", "--upper", "0.5"], "must be less than 'upper'"),
    (["--dataset", "iris", "--strategy", "threshold", "--upper", "1.5"], r"'upper' parameter of ThresholdSwitch must be a float in \[-1, 1\]"),
    (["--dataset", "iris", "--strategy", "linear", "--lower", "0.1"], "Unknown parameter 'lower' for strategy 'linear'"),
    (["--dataset", "iris", "--strategy", "linear", "--base", "gelu"], "'gelu' has none; families with α"),
    (["--dataset", "iris", "--base", "wobble"], "--base: unknown activation family 'wobble'"),
    (["--dataset", "iris", "--strategy", "treshold"], "unknown strategy 'treshold' \\(did you mean 'threshold'\\?\\)"),
    (["--dataset", "iris", "--below", "tanhh"], "--below: unknown activation family 'tanhh' \\(did you mean 'tanh'\\?\\)"),
    (["--dataset", "digts"], "Unknown dataset 'digts' \\(did you mean 'digits'\\?\\)"),
    (["--dataset", "iris", "--lowr", "-0.5"],
     "^dynsearch: error: train: unrecognized arguments: --lowr -0.5 \\(did you mean --lower\\?\\); "
     "see 'dynsearch train --help'$"),
    (["--dataset", "iris", "--config", "best.json", "--strategy", "fixed"],
     "--strategy cannot be combined with --config"),
    (["--dataset", "iris", "--scope", "network"], "'scope' parameter of FixedActivation must be one of layer, global"),
    (["--dataset", "iris", "--epochs", "0"], "epochs: expected an integer >= 1, got 0"),
    (["--dataset", "iris", "--optimizer", "rmsprop"], "optimizer: expected one of adam, adamw, sgd"),
    (["--dataset", "iris", "--hidden", "a,b"], "expected comma-separated integers"),
    (["--dataset", "iris", "--epochs", "three"], "invalid int value: 'three'"),
    (["--dataset", "nope"], "nope"),
    (["--dataset", "csv:/nonexistent/x.csv"], "/nonexistent/x.csv"),
    (["--dataset", "iris", "--dataset-option", "noise"], "--dataset-option: expected KEY=VALUE"),
    (["--dataset", "iris", "--device", "tpu9"], "--device: unknown torch device 'tpu9'"),
    ([], "--dataset is required"),
]


@pytest.mark.parametrize("args, message", BAD_ARGUMENTS, ids=[" ".join(a[2:]) or "no-dataset" for a, _ in BAD_ARGUMENTS])
def test_bad_arguments_give_one_line_and_exit_2(capsys, tmp_path: Path, monkeypatch, args: list[str], message: str) -> None:
    import re

    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, "train", *args, "--json", str(tmp_path / "out.json"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dynsearch: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


def test_target_flag_names_the_csv_target(capsys, tmp_path: Path) -> None:
    # The target is the first column here, so the default (the last column) would train on another task.
    rows = ["label,a,b"] + [f"{'yes' if i % 3 else 'no'},{i % 7},{(i * 3) % 5}" for i in range(90)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    out_json = tmp_path / "r.json"
    code, out, err = run_main(capsys, "train", "--dataset", f"csv:{path}", "--target", "label", *FAST,
                              "--json", str(out_json))
    assert code == 0, err
    assert json.loads(out_json.read_text())["task"] == "classification"
    code, _, err = run_main(capsys, "train", "--dataset", f"csv:{path}", "--target", "lable", *FAST)
    assert code == 2 and "'lable' not found" in err


def _export_file(tmp_path: Path, datasets: list[dict]) -> Path:
    from dynsearch.export import SCHEMA
    from dynsearch.strategies import make_strategy
    from dynsearch.train import TrainConfig

    train = TrainConfig(epochs=2, hidden=(8,), batch_size=64, model="mlp").to_dict()
    record = {"schema": SCHEMA, "strategy": make_strategy("linear", lam=0.2).to_config(), "train": train,
              "split_seed": 1, "datasets": datasets}
    path = tmp_path / "best.json"
    path.write_text(json.dumps(record))
    return path


def test_config_without_dataset_trains_every_dataset_of_the_export(capsys, tmp_path: Path) -> None:
    datasets = [{"name": "iris", "options": {}, "label": "iris"},
                {"name": "moons", "options": {"n_samples": 200}, "label": "moons(n_samples=200)"}]
    config = _export_file(tmp_path, datasets)
    out_json = tmp_path / "r.json"
    code, out, err = run_main(capsys, "train", "--config", str(config), "--json", str(out_json))
    assert code == 0, err
    assert "training on all 2 datasets" in out and "dataset   iris" in out and "dataset   moons" in out
    results = json.loads(out_json.read_text())
    assert [r["dataset"] for r in results] == ["iris", "moons"]
    # The export's dataset options, split seed, strategy and training apply: the same run in Python agrees.
    from dynsearch.data import load_dataset
    from dynsearch.export import read_export
    from dynsearch.train import train

    record = read_export(config)
    direct = train(load_dataset("moons", n_samples=200, split_seed=1), record.strategy_object(), record.train_config())
    assert results[1]["best_val_metric"] == direct.best_val_metric

    code, out, err = run_main(capsys, "train", "--config", str(config), "--dataset", "wine", "--json", str(out_json))
    assert code == 0, err
    assert json.loads(out_json.read_text())["dataset"] == "wine" and "training on all" not in out
    # Picking one of the export's datasets keeps its options: the same run as above.
    code, out, err = run_main(capsys, "train", "--config", str(config), "--dataset", "moons", "--json", str(out_json))
    assert code == 0, err
    assert json.loads(out_json.read_text())["best_val_metric"] == direct.best_val_metric


def test_unknown_command_suggests_the_nearest(capsys) -> None:
    code, out, err = run_main(capsys, "reprot", "quickstart")
    assert code == 2 and out == ""
    assert err.startswith("dynsearch: error: unknown command 'reprot' (did you mean 'report'?)") and err.count("\n") == 1


def test_errors_raised_inside_a_command_name_it_once_and_point_to_its_help(capsys, tmp_path: Path,
                                                                          monkeypatch) -> None:
    code, out, err = run_main(capsys, "train", "--dataset", "irs", *FAST)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("dynsearch: error: train: Unknown dataset 'irs' (did you mean 'iris'?)"), err
    assert err.rstrip().endswith("or 'parquet:PATH'; see 'dynsearch train --help'"), err
    assert err.count("dynsearch: error:") == 1 and err.count("train: ") == 1
    # A message that already names its command is not prefixed twice.
    code, out, err = run_main(capsys, "train", "--config", "x.json", "--strategy", "fixed")
    assert code == 2 and err.startswith("dynsearch: error: train: --strategy cannot be combined") and \
        err.count("train: ") == 1 and err.rstrip().endswith("see 'dynsearch train --help'"), err
    # A study file that does not exist: its absolute path, the nearest file beside it, no help pointer.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mystudy.toml").write_text("")
    code, out, err = run_main(capsys, "run", "mystudi.toml")
    assert code == 2
    assert err == (f"dynsearch: error: run: mystudi.toml: (file): no such file ({tmp_path / 'mystudi.toml'}) "
                   '(did you mean "mystudy.toml"?)\n'), err


def test_a_command_module_that_fails_to_import_is_named_not_dropped(capsys, monkeypatch) -> None:
    import dynsearch.cli as cli

    monkeypatch.setitem(cli._COMMAND_MODULES, "no_such_cmd", ("plan",))
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "plan" in capsys.readouterr().out
    code, out, err = run_main(capsys, "plan", "quickstart", "--seeds", "3")
    assert code == 1
    assert "'plan' cannot run" in err and "dynsearch.cli.no_such_cmd" in err and err.count("\n") == 1
    code, out, err = run_main(capsys, "train", "--dataset", "iris", *FAST)
    assert code == 0, err  # the other commands still work
