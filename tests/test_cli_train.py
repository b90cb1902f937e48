"""`dynsearch train`: summaries, JSON results, every dataset kind, and one-line errors."""

from __future__ import annotations

import json
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


def test_csv_dataset(capsys, tmp_path: Path) -> None:
    rows = ["a,b,color,label"] + [f"{i % 7},{(i * 3) % 5},{'red' if i % 2 else 'blue'},{i % 2}" for i in range(120)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    code, out, err = run_main(capsys, "train", "--dataset", f"csv:{path}", "--dataset-option", "target=label", *FAST)
    assert code == 0, err
    assert "(classification)" in out


BAD_ARGUMENTS = [
    (["--dataset", "iris", "--strategy", "magic"], "Unknown strategy 'magic'; registered strategies: fixed"),
    (["--dataset", "iris", "--strategy", "threshold", "--lower", "0.6", "--upper", "0.5"], "must be less than 'upper'"),
    (["--dataset", "iris", "--strategy", "threshold", "--upper", "1.5"], r"'upper' parameter of ThresholdSwitch must be a float in \[-1, 1\]"),
    (["--dataset", "iris", "--strategy", "linear", "--lower", "0.1"], "Unknown parameter 'lower' for strategy 'linear'"),
    (["--dataset", "iris", "--strategy", "linear", "--base", "gelu"], "'gelu' has none; families with α"),
    (["--dataset", "iris", "--base", "wobble"], "Unknown activation family 'wobble'"),
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
