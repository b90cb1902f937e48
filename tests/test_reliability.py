"""Trials that go wrong must not take the study down: NaN/inf losses, α pushed out of its range, a
dataset that stops loading between ``run``'s check and the worker, and a (simulated) out-of-memory.

Each case runs a small study in-process with ``run_worker`` on a journal storage under ``tmp_path``.
The trial ends PRUNED (diverged) or FAIL with the reason in the user attr ``fail_reason``, the other
trials of the study carry on, and the counts show how many went wrong.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.trial import FrozenTrial, TrialState

from dynsearch.activations import get_family
from dynsearch.config import load_study_file
from dynsearch.search import count_trials, list_studies, open_storage, prepare_study, run_worker
from dynsearch.search.space import ARM_PARAM
from dynsearch.search.study import REASON_ATTR
from dynsearch.search.worker import StopFlag
from dynsearch.strategies import SiteState, Strategy, register_strategy
from dynsearch.strategies.registry import _REGISTRY

optuna.logging.set_verbosity(optuna.logging.ERROR)


# --- strategies that misbehave on purpose ------------------------------------------------------------


class NanAlpha(Strategy):
    """Sets α to NaN at the first adjustment."""

    def decide(self, r: float, state: SiteState) -> SiteState:
        return state.replace(alpha=math.nan)


class RunawayAlpha(Strategy):
    """Asks for α far outside every family's range, alternating sides."""

    def decide(self, r: float, state: SiteState) -> SiteState:
        return state.replace(alpha=1e9 if state.epoch % 2 == 0 else -1e9)


class OutOfMemory(Strategy):
    """Raises what PyTorch raises when a device runs out of memory."""

    def decide(self, r: float, state: SiteState) -> SiteState:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")


MISBEHAVING = {"test_nan_alpha": NanAlpha, "test_runaway_alpha": RunawayAlpha, "test_oom": OutOfMemory}


@pytest.fixture(autouse=True, scope="module")
def misbehaving_strategies():
    """Registered for this module's tests only: other modules (the conformance suite) iterate over
    every registered strategy and must not meet these."""
    for name, cls in MISBEHAVING.items():
        register_strategy(name)(cls)
    yield
    for name in MISBEHAVING:
        _REGISTRY.pop(name, None)


# --- helpers ---------------------------------------------------------------------------------------


def _study(tmp_path: Path, name: str, body: str, n_trials: int) -> tuple[str, str]:
    """Write ``name.toml``, queue its budget on a journal under ``tmp_path``; ``(name, storage_url)``."""
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nn_trials = {n_trials}\n' + body)
    url = f"journal:{tmp_path / (name + '.journal')}"
    prepare_study(load_study_file(path), open_storage(url), url, n_trials)
    return name, url


def _run(name: str, url: str):
    # stop=...: no signal handlers installed in pytest; threads=None: torch's setting stays as it is.
    return run_worker(name, url, stop=StopFlag())


def _trials(name: str, url: str) -> list[FrozenTrial]:
    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)


def _by_arm(trials: list[FrozenTrial], prefix: str) -> list[FrozenTrial]:
    return [t for t in trials if str(t.params.get(ARM_PARAM, "")).startswith(prefix)]


def _assert_nothing_left(trials: list[FrozenTrial]) -> None:
    counts = count_trials(trials)
    assert counts.running == counts.waiting == 0, counts


TWO_ARMS = """\
datasets = [{{ name = "moons", n_samples = 200 }}]
[model]
hidden = [16]
[training]
epochs = 4
patience = 0
[search]
strategies = ["fixed", "{other}"]
scopes = ["layer"]
bases = ["relu"]
[sampler]
name = "random"
[pruner]
name = "none"
"""


# --- NaN / inf ---------------------------------------------------------------------------------------


def test_nan_alpha_prunes_its_trials_with_the_reason_and_the_study_goes_on(tmp_path: Path) -> None:
    name, url = _study(tmp_path, "nan_alpha", TWO_ARMS.format(other="test_nan_alpha"), n_trials=4)
    result = _run(name, url)
    assert (result.ran, result.complete, result.pruned, result.failed) == (4, 2, 2, 0)
    trials = _trials(name, url)
    _assert_nothing_left(trials)
    for t in _by_arm(trials, "fixed-"):
        assert t.state == TrialState.COMPLETE and REASON_ATTR not in t.user_attrs
    bad = _by_arm(trials, "test_nan_alpha-")
    assert len(bad) == 2
    for t in bad:
        assert t.state == TrialState.PRUNED
        assert "diverged" in t.user_attrs[REASON_ATTR], t.user_attrs
        assert t.user_attrs[REASON_ATTR].startswith("moons(n_samples=200), seed 0: diverged")
    counts = count_trials(trials)
    assert (counts.complete, counts.pruned, counts.failed) == (2, 2, 0)


def test_exploding_sgd_on_regression_is_pruned_as_diverged(tmp_path: Path) -> None:
    """lr = 1e6 with plain SGD on a regression dataset: the loss overflows to inf/NaN in epoch 0."""
    body = """\
datasets = ["diabetes"]
[model]
hidden = [16]
[training]
epochs = 3
optimizer = "sgd"
lr = 1e6
momentum = 0.0
patience = 0
[search]
strategies = ["fixed", "threshold"]
scopes = ["layer"]
bases = ["relu"]
[sampler]
name = "random"
[pruner]
name = "none"
"""
    name, url = _study(tmp_path, "exploding", body, n_trials=4)
    result = _run(name, url)
    assert (result.ran, result.pruned) == (4, 4)
    trials = _trials(name, url)
    _assert_nothing_left(trials)
    for t in trials:
        assert t.state == TrialState.PRUNED
        reason = t.user_attrs[REASON_ATTR]
        assert "diverged" in reason and ("nan" in reason or "inf" in reason), reason
        assert t.user_attrs["datasets"] == {}  # nothing finished, nothing scored
        assert not t.values  # no metric is reported for a diverged trial


def test_alpha_pushed_out_of_range_is_clipped_and_the_trial_completes(tmp_path: Path) -> None:
    body = TWO_ARMS.format(other="test_runaway_alpha").replace('bases = ["relu"]', 'bases = ["relu", "tanh"]')
    # arms: fixed-relu, fixed-tanh, test_runaway_alpha-layer
    name, url = _study(tmp_path, "runaway", body, n_trials=6)
    result = _run(name, url)
    assert (result.ran, result.complete) == (6, 6)
    trials = _trials(name, url)
    runaway = _by_arm(trials, "test_runaway_alpha-")
    assert len(runaway) == 2
    seen = set()
    for t in runaway:
        assert t.state == TrialState.COMPLETE and math.isfinite(t.values[0])
        for history in t.user_attrs["history"].values():
            for _, _, sites in history["epochs"]:
                for _, family, alpha in sites:
                    low, high = get_family(family).alpha_range
                    assert low <= alpha <= high, (family, alpha)
                    seen.add(alpha)
    assert {0.0, 1.0} <= seen or {0.1, 10.0} & seen, seen  # it really was pushed to the bounds


# --- a dataset that stops loading after run's check ----------------------------------------------------


def _csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": (x[:, 0] + x[:, 1] > 0).astype(int)}).to_csv(
        path, index=False
    )
    return path


def _delete(path: Path) -> None:
    path.unlink()


def _drop_target(path: Path) -> None:
    pd.read_csv(path).drop(columns=["y"]).to_csv(path, index=False)


def _truncate(path: Path) -> None:
    path.write_text("")


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (_delete, "not found"),
        (_drop_target, "Target column 'y' not found"),
        (_truncate, "is empty"),
    ],
    ids=["csv-deleted", "target-column-gone", "csv-emptied"],
)
def test_dataset_that_fails_at_worker_time_fails_the_trials_with_the_reason(
    tmp_path: Path, break_it, expected: str
) -> None:
    csv = _csv(tmp_path / "data.csv")
    body = f"""\
datasets = ["iris", {{ name = "csv:{csv}", target = "y" }}]
[model]
hidden = [8]
[training]
epochs = 2
[search]
strategies = ["fixed"]
bases = ["relu", "tanh"]
[sampler]
name = "random"
[pruner]
name = "none"
"""
    name, url = _study(tmp_path, "vanishing", body, n_trials=4)  # prepare_study's own check passed
    break_it(csv)
    result = _run(name, url)
    # Every trial was tried, and replaced once by a fresh draw of its arm (which failed too: the cap of
    # one replacement per slot stops there); the worker did not crash.
    assert (result.ran, result.failed) == (8, 8)
    trials = _trials(name, url)
    _assert_nothing_left(trials)
    for t in trials:
        assert t.state == TrialState.FAIL
        reason = t.user_attrs[REASON_ATTR]
        assert reason.startswith("DatasetError: ") and expected in reason, reason
        assert "\n" not in reason
    rows = {row[0]: row for row in list_studies(url)}
    assert rows[name][1:6] == (0, 0, 8, 0, 0)  # complete, pruned, failed, running, waiting


# --- out of memory -----------------------------------------------------------------------------------


def test_out_of_memory_fails_the_trial_with_the_reason_and_the_study_goes_on(tmp_path: Path) -> None:
    name, url = _study(tmp_path, "oom", TWO_ARMS.format(other="test_oom"), n_trials=4)
    result = _run(name, url)
    # Each failed slot is replaced once by a fresh draw (which fails too), then stays failed.
    assert (result.ran, result.complete, result.failed) == (6, 2, 4)
    trials = _trials(name, url)
    _assert_nothing_left(trials)
    for t in _by_arm(trials, "fixed-"):
        assert t.state == TrialState.COMPLETE
    oom = _by_arm(trials, "test_oom-")
    assert len(oom) == 4
    for t in oom:
        assert t.state == TrialState.FAIL
        assert t.user_attrs[REASON_ATTR] == "out of memory on cpu"
    # A rerun queues nothing more: an arm that always fails is not tried forever.
    spec = load_study_file(tmp_path / "oom.toml")
    prepare_study(spec, open_storage(url), url, 4)
    assert len(_trials(name, url)) == 6
    counts = count_trials(_trials(name, url))
    assert (counts.complete, counts.failed, counts.finished) == (2, 4, 2)
