"""What the end-to-end search tests share: tiny study files and checks of how a study ended."""

from __future__ import annotations

from collections import Counter

from optuna.trial import FrozenTrial, TrialState

from dynsearch.search.space import ARM_PARAM

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
