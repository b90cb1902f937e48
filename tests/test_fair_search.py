"""A fair search: arms interleaved in the queue, each (replicate, arm) learning and pruning only on its
own trials, replicates marked on every trial and trained on their own split, equal finished budgets."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import optuna
import pytest
import tolerances as tol
from optuna.trial import FrozenTrial, TrialState
from study_helpers import FINISHED, trial_arm

from dynsearch.config import load_study_file
from dynsearch.data import load_dataset
from dynsearch.search import open_storage, prepare_study, run_worker
from dynsearch.search.samplers import PerArmPruner, PerArmSampler, make_sampler, trial_stream
from dynsearch.search.space import ARM_PARAM
from dynsearch.search.study import REASON_ATTR
from dynsearch.search.worker import StopFlag
from dynsearch.strategies import SiteState, Strategy, register_strategy
from dynsearch.strategies.registry import _REGISTRY
from dynsearch.train import TrainConfig, train

optuna.logging.set_verbosity(optuna.logging.ERROR)

BODY = """\
datasets = [{{ name = "moons", n_samples = 160 }}]
{extra}
[model]
hidden = [8]
[training]
epochs = 2
patience = 0
[search]
strategies = [{strategies}]
scopes = ["layer"]
bases = ["relu"]
lr = [0.001, 0.05]
[sampler]
name = "{sampler}"
[pruner]
name = "none"
"""


def _study(tmp_path: Path, name: str, n_trials: int, *, strategies: str = '"fixed", "threshold", "linear"',
           extra: str = "", sampler: str = "random") -> tuple[optuna.Study, str]:  # fmt: skip
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nn_trials = {n_trials}\n' + BODY.format(extra=extra, strategies=strategies,
                                                                           sampler=sampler))  # fmt: skip
    url = f"journal:{tmp_path / (name + '.journal')}"
    return prepare_study(load_study_file(path), open_storage(url), url, n_trials), url


def _stored(study: optuna.Study, url: str) -> list[FrozenTrial]:
    return optuna.load_study(study_name=study.study_name, storage=open_storage(url)).get_trials(deepcopy=False)


# --- the queue -----------------------------------------------------------------------------------


def test_queue_interleaves_arms_and_replicates_round_robin(tmp_path: Path) -> None:
    study, _ = _study(tmp_path, "order", 6, extra="replicates = 2\nsplit_seeds = [3, 7, 11]")
    queued = [(t.user_attrs["replicate"], trial_arm(t), t.user_attrs["split_seed"]) for t in study.get_trials()]
    arms = ["fixed-relu", "threshold-layer", "linear-layer"]
    one_round = [(r, arm, (3, 7)[r]) for r in (0, 1) for arm in arms]
    assert queued == one_round * 2  # never a block of one arm


def test_top_up_adds_only_the_missing_slots_of_each_replicate_and_arm(tmp_path: Path) -> None:
    study, url = _study(tmp_path, "topup", 3, extra="replicates = 2")
    spec = load_study_file(tmp_path / "topup.toml")
    prepare_study(spec, open_storage(url), url, 6)  # --n-trials 6 on the same study
    streams = Counter(trial_stream(t) for t in _stored(study, url))
    assert streams == {(r, arm): 2 for r in (0, 1) for arm in ("fixed-relu", "threshold-layer", "linear-layer")}
    added = [(t.user_attrs["replicate"], trial_arm(t)) for t in _stored(study, url)][6:]
    assert added == [(r, arm) for r in (0, 1) for arm in ("fixed-relu", "threshold-layer", "linear-layer")]


# --- samplers and pruners see only their own stream ------------------------------------------------


class RecordingSampler(optuna.samplers.RandomSampler):
    """Records the streams of every trial the study shows it, by both of Optuna's access paths."""

    def __init__(self, seen: list) -> None:
        super().__init__(seed=0)
        self.seen = seen

    def sample_independent(self, study, trial, param_name, param_distribution):
        shown = study.get_trials(deepcopy=False) + study._get_trials(deepcopy=False, use_cache=True)
        self.seen.append((trial_stream(trial), {trial_stream(t) for t in shown}, len(shown)))
        return super().sample_independent(study, trial, param_name, param_distribution)


def _queued_study(arms: list[str], replicates: int, per_stream: int) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for _ in range(per_stream):
        for r in range(replicates):
            for arm in arms:
                study.enqueue_trial({ARM_PARAM: arm}, user_attrs={"replicate": r})
    return study


def test_a_sampler_never_sees_another_streams_trials() -> None:
    seen: list = []
    arms = ["fixed-relu", "threshold-layer"]
    study = _queued_study(arms, replicates=2, per_stream=3)
    study.sampler = PerArmSampler(lambda stream: RecordingSampler(seen))

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_categorical(ARM_PARAM, arms)
        return trial.suggest_float("x", 0, 1)

    study.optimize(objective, n_trials=12)
    assert len(seen) == 12
    for stream, shown, _count in seen:
        assert shown == {stream}, (stream, shown)  # only its own (and the running trial itself)
    # and the history grows: the third trial of a stream sees its two earlier ones (+ itself) twice
    assert max(count for _, _, count in seen) == 6


def test_each_stream_has_its_own_seeded_sampler_and_replicates_draw_differently() -> None:
    from dynsearch.config import SamplerSpec

    def first_draw(inner: optuna.samplers.BaseSampler) -> float:
        return optuna.create_study(sampler=inner).ask().suggest_float("x", 0, 1)

    sampler = make_sampler(SamplerSpec(name="tpe", seed=0))
    a, b = sampler.inner((0, "fixed-relu")), sampler.inner((1, "fixed-relu"))
    assert a is not b and sampler.inner((0, "fixed-relu")) is a
    c = sampler.inner((0, "linear-layer"))
    draws = [first_draw(s) for s in (a, b, c)]
    assert len(set(draws)) == 3  # replicates and arms draw differently
    again = make_sampler(SamplerSpec(name="tpe", seed=0)).inner((0, "fixed-relu"))
    assert first_draw(again) == draws[0]  # the same stream, the same seed


@pytest.mark.parametrize(
    "inner",
    [
        optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
        optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=4, reduction_factor=2),
    ],
    ids=["median", "successive_halving", "hyperband"],
)
def test_pruning_compares_a_trial_only_with_its_own_arm(inner: optuna.pruners.BasePruner) -> None:
    """A slow arm (values near 0) among a fast one (near 1): pruned across arms, never within its own."""
    arms = ["fast-layer", "slow-layer"]
    study = _queued_study(arms, replicates=1, per_stream=6)
    study.pruner = PerArmPruner(inner)
    study.sampler = optuna.samplers.RandomSampler(seed=0)
    pruned: Counter = Counter()

    def objective(trial: optuna.Trial) -> float:
        arm = trial.suggest_categorical(ARM_PARAM, arms)
        level = 1.0 if arm == "fast-layer" else 0.0
        for step in range(4):
            # Every trial of an arm reports the same curve: within the arm nothing is worse than the median.
            trial.report(level + 0.01 * step, step)
            if trial.should_prune():
                pruned[arm] += 1
                raise optuna.TrialPruned()
        return level

    study.optimize(objective, n_trials=12)
    assert pruned["slow-layer"] == 0, pruned
    # Without the per-arm view the same pruner does stop the slow arm: the test can fail.
    study2 = _queued_study(arms, replicates=1, per_stream=6)
    study2.pruner, study2.sampler = type(inner)(**_pruner_args(inner)), optuna.samplers.RandomSampler(seed=0)
    pruned.clear()
    study2.optimize(objective, n_trials=12)
    assert pruned["slow-layer"] > 0, pruned


def _pruner_args(inner: optuna.pruners.BasePruner) -> dict:
    if isinstance(inner, optuna.pruners.MedianPruner):
        return {"n_startup_trials": 1, "n_warmup_steps": 0}
    if isinstance(inner, optuna.pruners.HyperbandPruner):
        return {"min_resource": 1, "max_resource": 4, "reduction_factor": 2}
    return {"min_resource": 1, "reduction_factor": 2}


# --- replicates end to end -----------------------------------------------------------------------


def test_replicates_are_marked_and_train_on_their_own_split(tmp_path: Path) -> None:
    study, url = _study(tmp_path, "reps", 2, strategies='"fixed"', extra="replicates = 2\nsplit_seeds = [0, 9]")
    run_worker("reps", url, stop=StopFlag(), pack=1)
    trials = _stored(study, url)
    assert Counter((t.state, t.user_attrs["replicate"], t.user_attrs["split_seed"]) for t in trials) == {
        (TrialState.COMPLETE, 0, 0): 2,
        (TrialState.COMPLETE, 1, 9): 2,
    }
    for t in trials:
        # The value is what train() gives on that replicate's split: the objective used the trial's split seed.
        splits = load_dataset("moons", split_seed=t.user_attrs["split_seed"], n_samples=160)
        config = TrainConfig(**{**t.user_attrs["train"], "seed": 0})
        expected = train(splits, t.user_attrs["strategy"], config).best_val_metric
        assert math.isclose(t.values[0], expected, abs_tol=tol.PACKED), (t.number, t.values, expected)


# --- equal finished budgets ------------------------------------------------------------------------


class FailsTwice(Strategy):
    """Raises at the first two adjustments of the process, then behaves (a transient fault)."""

    failures_left = 2

    def decide(self, r: float, state: SiteState) -> SiteState:
        if FailsTwice.failures_left > 0:
            FailsTwice.failures_left -= 1
            raise RuntimeError("flaky strategy")
        return state


class AlwaysFails(Strategy):
    def decide(self, r: float, state: SiteState) -> SiteState:
        raise RuntimeError("broken strategy")


@pytest.fixture()
def failing_strategies():
    register_strategy("test_fails_twice")(FailsTwice)
    register_strategy("test_always_fails")(AlwaysFails)
    yield
    for name in ("test_fails_twice", "test_always_fails"):
        _REGISTRY.pop(name, None)


@pytest.mark.parametrize("pack", [1, 4])
def test_failed_trials_are_replaced_so_every_arm_finishes_its_budget(tmp_path: Path, failing_strategies, pack) -> None:
    FailsTwice.failures_left = 2
    study, url = _study(tmp_path, "flaky", 6, strategies='"fixed", "test_fails_twice"')
    run_worker("flaky", url, stop=StopFlag(), pack=pack)
    trials = _stored(study, url)
    finished = Counter(trial_arm(t) for t in trials if t.state in FINISHED)
    assert finished == {"fixed-relu": 3, "test_fails_twice-layer": 3}
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all(t.user_attrs[REASON_ATTR] == "RuntimeError: flaky strategy" for t in failed)
    replaced = {t.system_attrs.get("replaces_trial") for t in trials} - {None}
    assert replaced == {t.number for t in failed}  # each failure has exactly its one replacement
    # A rerun of the same budget queues nothing: the replacements hold the failed slots.
    prepare_study(load_study_file(tmp_path / "flaky.toml"), open_storage(url), url, 6)
    assert len(_stored(study, url)) == len(trials)


def test_an_arm_that_always_fails_is_replaced_at_most_its_budget(tmp_path: Path, failing_strategies) -> None:
    study, url = _study(tmp_path, "broken", 4, strategies='"fixed", "test_always_fails"')
    result = run_worker("broken", url, stop=StopFlag(), pack=1)
    trials = _stored(study, url)
    states = Counter((trial_arm(t), t.state) for t in trials)
    assert states == {("fixed-relu", TrialState.COMPLETE): 2, ("test_always_fails-layer", TrialState.FAIL): 4}
    assert (result.ran, result.failed) == (6, 4)
    prepare_study(load_study_file(tmp_path / "broken.toml"), open_storage(url), url, 4)
    assert len(_stored(study, url)) == 6  # a broken arm is not tried forever


# --- the study keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("replicates = 0", "s.toml: replicates: expected an integer >= 1, got 0"),
        ("replicates = 1.5", "s.toml: replicates: expected an integer >= 1, got 1.5 (a float)"),
        ('split_seeds = ["a"]', 's.toml: split_seeds[0]: expected an integer >= 0, got "a" (a string)'),
        ("split_seeds = 3", "s.toml: split_seeds: expected an array of integers >= 0 like [1, 2]"),
        ("pack = 0", 's.toml: pack: expected "auto" or an integer >= 1 (trials a worker trains together), got 0'),
        ('pack = "big"', 's.toml: pack: expected "auto" or an integer >= 1'),
    ],
)
def test_bad_fair_search_keys_are_one_line_errors(tmp_path: Path, line: str, message: str) -> None:
    from dynsearch.config import ConfigError

    path = tmp_path / "s.toml"
    path.write_text(f"n_trials = 3\n{line}\n" + BODY.format(extra="", strategies='"fixed"', sampler="random"))
    with pytest.raises(ConfigError) as info:
        load_study_file(path)
    text = str(info.value)
    assert "\n" not in text and message in text, text


def test_fair_search_keys_round_trip() -> None:
    from dynsearch.config import StudySpec

    spec = StudySpec.from_dict({"name": "x", "datasets": ["iris"], "replicates": 3, "split_seeds": [4, 5], "pack": 8})
    assert (spec.replicates, spec.split_seeds, spec.pack) == (3, (4, 5), 8)
    assert [spec.replicate_split_seed(r) for r in range(3)] == [4, 5, 4]
    assert StudySpec.from_dict(spec.to_dict()) == spec
    assert StudySpec.from_dict({"datasets": ["iris"], "split_seed": 2}).replicate_split_seed(1) == 2
