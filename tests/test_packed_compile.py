"""The compiled packed step gives the eager step's results; a failed compilation falls back."""

from __future__ import annotations

import pytest
import torch
from study_helpers import THRESHOLD, assert_same

from dynsearch.data import load_dataset
from dynsearch.packed import PackMember, train_packed
from dynsearch.packed._run import train_engine
from dynsearch.packed._step import compile_available, parse_compile
from dynsearch.strategies import strategy_from_config
from dynsearch.train import TrainConfig

MEMBERS = [
    PackMember({"name": "threshold", "params": THRESHOLD}, TrainConfig(epochs=4, seed=0, lr=0.02, hidden=(8,), batch_size=32, patience=0)),
    PackMember({"name": "linear", "params": {"lam": 0.5, "signal": "target"}}, TrainConfig(epochs=4, seed=1, lr=1e-5, hidden=(8,), batch_size=32, patience=1)),
    PackMember({"name": "learned", "params": {}}, TrainConfig(epochs=4, seed=2, lr=0.02, hidden=(8,), batch_size=32, patience=0)),
]


def _run(splits, compile_step):
    strategies = [strategy_from_config(m.strategy) for m in MEMBERS]
    return train_engine(splits, strategies, [m.config for m in MEMBERS], on_epoch=None, should_stop=None,
                        evaluate_test=True, compile_step=compile_step)


@pytest.mark.slow
@pytest.mark.skipif(not compile_available(torch.device("cpu")), reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_step_equals_eager(capsys: pytest.CaptureFixture[str]) -> None:
    iris = load_dataset("iris")  # 90 training rows in batches of 32: the last batch (26) is kept, not dropped
    eager = _run(iris, False)
    compiled = _run(iris, True)
    assert "failed" not in capsys.readouterr().err
    for e, c in zip(eager, compiled, strict=True):
        assert_same(c, e)
    assert eager[1].epochs_run < 4 == eager[0].epochs_run  # a member left while the others went on
    assert eager[0].n_switches > 0


def test_compile_setting_is_validated() -> None:
    assert [parse_compile(v) for v in ("auto", "TRUE", "false", True, False)] == ["auto", True, False, True, False]
    with pytest.raises(ValueError, match=r"compile: expected auto, true or false, got 'fast'\."):
        parse_compile("fast")
    with pytest.raises(ValueError, match="compile: expected"):
        train_packed(load_dataset("iris"), MEMBERS, compile="yes")


def test_a_failed_compilation_prints_one_line_and_trains_eagerly(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from dynsearch.packed import _step

    def broken(fn, **_kwargs):
        def fail(*_args, **_kw):
            raise RuntimeError("no C++ compiler found\nsecond line")
        return fail

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(_step, "_COMPILED", {})
    monkeypatch.setattr(_step, "_FAILED", [])
    monkeypatch.setattr(_step, "compile_available", lambda device: True)
    from dynsearch.packed import _run as run_module
    monkeypatch.setattr(run_module, "compile_available", lambda device: True)
    iris = load_dataset("iris")
    results = _run(iris, True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torch.compile failed (RuntimeError: no C++ compiler found); training eagerly." in err
    for got, want in zip(results, _run(iris, False)):
        assert_same(got, want)
