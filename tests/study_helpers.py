"""What the tests share: tiny study files and checks of how a study ended, and the packed-equals-alone
comparison (datasets cut to a few rows, packs of seeded members, every member's result checked)."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import pytest
from optuna.trial import FrozenTrial, TrialState
from tolerances import PACKED, training_drift

from dynsearch.data import DatasetSplits
from dynsearch.packed import PackMember
from dynsearch.packed._run import engine_unsupported, train_engine
from dynsearch.search.space import ARM_PARAM
from dynsearch.signals import signal_from_config
from dynsearch.strategies import strategy_from_config
from dynsearch.train import TrainConfig, TrainResult, train

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def study_toml(
    name: str,
    *,
    datasets: str,
    n_trials: int,
    epochs: int,
    strategies: tuple[str, ...],
    sampler: str = "random",
    pruner: str = "none",
) -> str:
    """A study file of tiny trials: MLP [16], batch 16, lr 0.01, no early stopping, layer scope, relu base."""
    return f"""\
name = "{name}"
datasets = {datasets}
n_trials = {n_trials}
[model]
kind = "mlp"
hidden = [16]
[training]
epochs = {epochs}
batch_size = 16
lr = 0.01
patience = 0
[search]
strategies = [{", ".join(f'"{s}"' for s in strategies)}]
scopes = ["layer"]
bases = ["relu"]
[sampler]
name = "{sampler}"
seed = 0
[pruner]
name = "{pruner}"
"""


def trial_states(trials: list[FrozenTrial]) -> Counter:
    return Counter(t.state for t in trials)


def trial_arm(t: FrozenTrial) -> str:
    """The arm of a trial, also while it is still queued (its arm is then a fixed parameter)."""
    return t.params.get(ARM_PARAM) or t.system_attrs.get("fixed_params", {}).get(ARM_PARAM)


def assert_study_done(trials: list[FrozenTrial], n: int, n_arms: int) -> None:
    """Exactly ``n`` finished trials, equal per arm, unique numbers, nothing RUNNING or WAITING."""
    states = trial_states(trials)
    assert states[TrialState.RUNNING] == 0, states
    assert states[TrialState.WAITING] == 0, states
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == n, states
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), numbers
    per_arm = Counter(trial_arm(t) for t in trials if t.state in FINISHED)
    assert len(per_arm) == n_arms and set(per_arm.values()) == {n // n_arms}, per_arm


# Packed members equal train() up to the order their float32 products add terms (tolerances.training_drift).
def drift(splits: DatasetSplits, config: TrainConfig) -> float:
    """``tolerances.training_drift`` of one run: its optimizer steps and its widest sum of terms (the batch,
    the input features or a width for an MLP; for a CNN, the batch times the pixels a weight gradient sums)."""
    rows = splits.x_train.shape[0]
    steps = config.epochs * math.ceil(rows / config.batch_size)
    features = splits.x_train[0].numel()
    inner = config.batch_size * features if config.model == "cnn" else max(config.batch_size, features, *config.hidden)
    return training_drift(steps, inner)

# Thresholds that fire on these tiny models: relu's io r sits near 0.85, the target r starts low.
THRESHOLD = {"lower": 0.3, "upper": 0.8}


def first_rows(splits: DatasetSplits, n_train: int, n_val: int, n_test: int | None = None) -> DatasetSplits:
    """The splits cut to their first rows (the test split whole when ``n_test`` is None)."""
    test = {} if n_test is None else {"x_test": splits.x_test[:n_test], "y_test": splits.y_test[:n_test]}
    return dataclasses.replace(splits, x_train=splits.x_train[:n_train], y_train=splits.y_train[:n_train],
                               x_val=splits.x_val[:n_val], y_val=splits.y_val[:n_val], **test)  # fmt: skip


def seeded_members(strategies: list[dict], config: TrainConfig, first_seed: int = 0) -> list[PackMember]:
    """One member per strategy config, each with ``config`` and its own seed (``first_seed``, then on)."""
    return [PackMember(s, dataclasses.replace(config, seed=first_seed + i)) for i, s in enumerate(strategies)]


def _close(a: float, b: float, tol: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=tol, rel=tol)


def assert_same(packed: TrainResult, alone: TrainResult, label: str = "", *, tol: float = PACKED) -> None:
    """Status, best epoch, epochs run, switches, per-epoch families exactly; α, r and metrics within ``tol``."""
    where = f"{label}: " if label else ""
    assert packed.status == alone.status, f"{where}status {packed.status} != {alone.status} ({packed.message})"
    assert packed.best_epoch == alone.best_epoch, where + "best epoch"
    assert packed.epochs_run == alone.epochs_run, where + "epochs run"
    assert packed.n_switches == alone.n_switches, where + "switches"
    assert packed.diverged_epoch == alone.diverged_epoch, where + "diverged epoch"
    assert _close(packed.best_val_metric, alone.best_val_metric, tol), where + "best validation metric"
    assert packed.strategy == alone.strategy
    if alone.test_metric is not None:
        assert packed.test_metric == pytest.approx(alone.test_metric, abs=tol), where + "test metric"
    for p, a in zip(packed.history, alone.history, strict=True):
        assert _close(p.val_metric, a.val_metric, tol), f"{where}epoch {a.epoch} val metric {p.val_metric} != {a.val_metric}"
        assert _close(p.train_loss, a.train_loss, tol), f"{where}epoch {a.epoch} train loss"
        for ps, as_ in zip(p.sites, a.sites, strict=True):
            assert (ps["site"], ps["family"], ps["switched"], ps["n"]) == (as_["site"], as_["family"], as_["switched"], as_["n"]), (
                f"{where}epoch {a.epoch} site {as_['site']}: {ps} != {as_}"
            )
            assert _close(ps["alpha"], as_["alpha"], tol) and _close(ps["r"], as_["r"], tol), f"{where}epoch {a.epoch}: {ps} != {as_}"
            _assert_clear_of_thresholds(alone.strategy, as_["r"], tol, f"{where}epoch {a.epoch} site {as_['site']}")
        # Recorded signals (train(record_signals=...)): the same sites and signals, values within the bound.
        assert p.signals.keys() == a.signals.keys(), f"{where}epoch {a.epoch} recorded at {sorted(p.signals)} != {sorted(a.signals)}"
        for site, values in a.signals.items():
            assert p.signals[site].keys() == values.keys(), f"{where}epoch {a.epoch} site {site} recorded signals"
            for name, value in values.items():
                assert _close(p.signals[site][name], value, tol), f"{where}epoch {a.epoch} site {site} {name}"


def _assert_clear_of_thresholds(strategy: dict, r: float, tol: float, where: str) -> None:
    """The one place packed and alone may legitimately decide differently is an r within ``tol`` of a threshold,
    so the equivalence tests choose thresholds away from the r they measure, and this says when one is not."""
    params = strategy.get("params", {})
    for name in ("lower", "upper"):
        if isinstance(params.get(name), (int, float)) and not math.isnan(r):
            assert abs(r - params[name]) > tol, f"{where}: r = {r} lies within {tol:.1e} of {name} = {params[name]}; move the threshold"


def run_both(splits: DatasetSplits, members: list[PackMember], **kwargs) -> list[tuple[TrainResult, TrainResult]]:
    """Each member's result from one packed run and from ``train()`` alone, in member order."""
    strategies = [strategy_from_config(m.strategy) for m in members]
    configs = [m.config for m in members]
    assert engine_unsupported(strategies, configs) == ""
    record = [[signal_from_config(s) for s in m.record_signals] for m in members]
    packed = train_engine(splits, strategies, configs, on_epoch=None, should_stop=None, record=record, **kwargs)
    assert not isinstance(packed, str), packed
    alone = [train(splits, m.strategy, m.config, evaluate_test=kwargs.get("evaluate_test", False),
                   record_signals=m.record_signals) for m in members]  # fmt: skip
    return list(zip(packed, alone))


def assert_packed_equals_alone(splits: DatasetSplits, members: list[PackMember], **kwargs) -> list[tuple[TrainResult, TrainResult]]:
    """``run_both``, then ``assert_same`` on every member (labelled by its strategy); returns the pairs."""
    pairs = run_both(splits, members, **kwargs)
    for member, (packed, alone) in zip(members, pairs):
        assert_same(packed, alone, str(member.strategy), tol=drift(splits, member.config))
    return pairs
