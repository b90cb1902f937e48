"""Study files: a valid round trip, defaults, arms, and one-line errors for bad inputs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from dynsearch.config import (
    ConfigError,
    DatasetSpec,
    PrunerSpec,
    SamplerSpec,
    SearchSpace,
    StudySpec,
    arm_strategy,
    load_study_file,
    parse_study,
)
from dynsearch.data import dataset_names
from dynsearch.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]

FULL = """
name = "full-study_1.0"
description = "every key set"
datasets = ["iris", {name = "moons", n_samples = 500, noise = 0.2}, "csv:data/my table.csv", "Breast-Cancer"]
n_trials = 40
timeout = 3600
seeds = 3
split_seed = 7
storage = "postgresql://user@db/dynsearch"
workers = 4

[model]
kind = "mlp"
hidden = [32, 16]
channels = [8, 16]
dropout = 0.1
activation = "swish"

[training]
epochs = 15
batch_size = 32
patience = 3
optimizer = "sgd"
lr = 0.05
weight_decay = 1e-4
momentum = 0.8
measure_every = 2

[search]
strategies = ["threshold", "fixed", "linear", "learned"]
scopes = ["global", "layer"]
signals = ["io", "target"]
bases = ["relu", "gelu", "swish"]
lambda = [-0.5, 2]
alpha0 = [0.0, 1.0]
lower = [-1, -0.2]
upper = [0.2, 1]
below = ["tanh", "elu"]
above = ["sigmoid"]
every = [1, 3]
warmup = [0, 2]
cooldown = [1, 1]
lr = [1e-4, 1e-2]
width = [16, 128]

[sampler]
name = "tpe"
seed = 11
objectives = ["metric", "time"]

[pruner]
name = "none"
n_startup_trials = 2
n_warmup_steps = 0
"""


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- valid files ---------------------------------------------------------------------------


def test_full_study_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    spec = load_study_file(path)
    assert spec.name == "full-study_1.0"
    assert spec.path == str(path)
    assert spec.description == "every key set"
    assert spec.datasets == (
        DatasetSpec("iris", {}),
        DatasetSpec("moons", {"n_samples": 500, "noise": 0.2}),
        DatasetSpec("csv:data/my table.csv", {}),
        DatasetSpec("breast_cancer", {}),
    )
    assert spec.datasets[1].label == "moons(n_samples=500, noise=0.2)"
    assert spec.train == TrainConfig(
        epochs=15, batch_size=32, patience=3, optimizer="sgd", lr=0.05, weight_decay=1e-4, momentum=0.8,
        measure_every=2, model="mlp", hidden=(32, 16), channels=(8, 16), dropout=0.1, activation="silu",
    )  # fmt: skip
    assert spec.train.seed == 0
    assert spec.search == SearchSpace(
        strategies=("threshold", "fixed", "linear", "learned"), scopes=("global", "layer"), signals=("io", "target"),
        bases=("relu", "gelu", "silu"), lam=(-0.5, 2.0), alpha0=(0.0, 1.0), lower=(-1.0, -0.2), upper=(0.2, 1.0),
        below=("tanh", "elu"), above=("sigmoid",), every=(1, 3), warmup=(0, 2), cooldown=(1, 1), lr=(1e-4, 1e-2),
        width=(16, 128),
    )  # fmt: skip
    assert spec.sampler == SamplerSpec("tpe", 11, ("metric", "time"))
    assert spec.sampler.directions == ["maximize", "minimize"]
    assert spec.pruner == PrunerSpec("none", 2, 0)
    assert (spec.n_trials, spec.timeout, spec.seeds, spec.split_seed) == (40, 3600.0, 3, 7)
    assert spec.storage == "postgresql://user@db/dynsearch"
    assert spec.workers == 4

    data = spec.to_dict()
    text = json.dumps(data)  # JSON-safe, as stored in the Optuna study's user attrs
    again = StudySpec.from_dict(json.loads(text))
    assert again == spec
    assert again.to_dict() == data
    assert hash(again) == hash(spec)
    assert data["search"]["lambda"] == [-0.5, 2.0]
    assert isinstance(data["search"]["every"][0], int)


def test_defaults_when_sections_missing() -> None:
    spec = parse_study({"datasets": ["iris"]}, "studies/tiny-one.toml")
    assert spec.name == "tiny-one"
    assert spec.description == ""
    assert spec.train == TrainConfig()
    assert spec.search == SearchSpace()
    assert spec.search.strategies == ("fixed", "threshold", "linear", "learned")
    assert spec.search.scopes == ("layer", "global")
    assert spec.search.signals == ("io",)
    assert spec.search.bases == ("relu", "tanh")
    assert spec.search.lam == (-1.0, 1.0)
    assert spec.search.alpha0 is None and spec.search.lr is None and spec.search.width is None
    assert (spec.search.lower, spec.search.upper) == ((-0.9, 0.0), (0.0, 0.9))
    assert (spec.search.below, spec.search.above) == (("tanh",), ("sigmoid",))
    assert (spec.search.every, spec.search.warmup, spec.search.cooldown) == ((1, 1), (0, 0), (0, 0))
    assert spec.sampler == SamplerSpec("tpe", 0, ("metric",))
    assert spec.pruner == PrunerSpec("median", 5, 3)
    assert (spec.n_trials, spec.timeout, spec.seeds, spec.split_seed) == (24, None, 1, 0)
    assert spec.storage is None and spec.workers == "auto"
    assert StudySpec.from_dict(spec.to_dict()) == spec


def test_empty_sections_are_defaults(tmp_path: Path) -> None:
    text = 'datasets = ["wine"]\n[model]\n[training]\n[search]\n[sampler]\n[pruner]\n'
    spec = load_study_file(write(tmp_path, text))
    assert spec == parse_study({"datasets": ["wine"]}, str(tmp_path / "study.toml"))


def test_multi_objective_defaults_to_no_pruner() -> None:
    spec = parse_study({"datasets": ["iris"], "sampler": {"objectives": ["time", "metric"]}}, "x.toml")
    assert spec.sampler.objectives == ("metric", "time")  # metric first, whatever the order written
    assert spec.pruner.name == "none"
    nsga = parse_study({"datasets": ["iris"], "sampler": {"name": "nsga2", "objectives": ["metric", "time"]}}, "x.toml")
    assert nsga.sampler.name == "nsga2"


def test_sampler_seed_none() -> None:
    spec = parse_study({"datasets": ["iris"], "sampler": {"seed": "none"}}, "x.toml")
    assert spec.sampler.seed is None
    assert StudySpec.from_dict(spec.to_dict()).sampler.seed is None


def test_default_name_from_odd_stem() -> None:
    assert parse_study({"datasets": ["iris"]}, "my study (2).toml").name == "my_study_2"
    assert parse_study({"datasets": ["iris"]}, "<string>").name == "string"


# --- arms ----------------------------------------------------------------------------------


def test_arms_order() -> None:
    spec = parse_study(
        {
            "datasets": ["iris"],
            "n_trials": 100,
            "search": {
                "strategies": ["linear", "threshold", "learned", "fixed"],
                "scopes": ["global", "layer"],
                "bases": ["tanh", "gelu", "relu"],
                "signals": ["target", "io"],
            },
        },
        "x.toml",
    )
    assert spec.arms == [
        "fixed-tanh", "fixed-gelu", "fixed-relu",
        "learned-tanh", "learned-relu",  # gelu has no α
        "threshold-global", "threshold-layer",
        "linear-global", "linear-layer",
    ]  # fmt: skip
    assert spec.search.bases_with_alpha == ("tanh", "relu")


def test_arms_independent_of_signals() -> None:
    a = parse_study({"datasets": ["iris"], "search": {"signals": ["io"]}}, "x.toml")
    b = parse_study({"datasets": ["iris"], "search": {"signals": ["target", "io"]}}, "x.toml")
    assert a.arms == b.arms and len(a.arms) == 8


def test_arms_subset_of_strategies() -> None:
    spec = parse_study({"datasets": ["iris"], "n_trials": 3, "search": {"strategies": ["threshold"], "scopes": ["layer"]}},
                       "x.toml")  # fmt: skip
    assert spec.arms == ["threshold-layer"]


@pytest.mark.parametrize(
    ("arm", "expected"),
    [
        ("threshold-layer", ("threshold", "layer", None)),
        ("linear-global", ("linear", "global", None)),
        ("fixed-relu", ("fixed", None, "relu")),
        ("learned-silu", ("learned", None, "silu")),
        ("fixed-leaky_relu", ("fixed", None, "leaky_relu")),
        ("my-rule-global", ("my-rule", "global", None)),
    ],
)
def test_arm_strategy(arm: str, expected: tuple) -> None:
    assert arm_strategy(arm) == expected


@pytest.mark.parametrize("arm", ["threshold", "threshold-everywhere", "fixed-nope", "-layer", 3])
def test_arm_strategy_rejects(arm: object) -> None:
    with pytest.raises(ValueError):
        arm_strategy(arm)  # type: ignore[arg-type]


def test_every_arm_round_trips_through_arm_strategy() -> None:
    spec = parse_study({"datasets": ["iris"]}, "x.toml")
    for arm in spec.arms:
        name, scope, base = arm_strategy(arm)
        assert name in spec.search.strategies
        assert (scope in spec.search.scopes) if scope else (base in spec.search.bases)


# --- the shipped study files ---------------------------------------------------------------


def test_quickstart_study_loads() -> None:
    spec = load_study_file(ROOT / "studies" / "quickstart.toml")
    assert spec.name == "quickstart"
    assert [d.label for d in spec.datasets] == ["digits", "iris", "moons(n_samples=600, noise=0.25)"]
    assert spec.train.model == "mlp" and spec.train.hidden == (64, 64)
    assert len(spec.arms) == 8
    # Equal budgets: a whole number of trials per arm, and every arm (the fixed ones too) tunes lr.
    assert spec.n_trials % len(spec.arms) == 0
    assert spec.search.lr is not None
    assert spec.pruner.name == "median" and spec.sampler == SamplerSpec("tpe", 0, ("metric",))
    assert spec.seeds == 1


def test_benchmark_study_loads() -> None:
    spec = load_study_file(ROOT / "studies" / "benchmark.toml")
    assert [d.name for d in spec.datasets] == dataset_names()
    assert spec.n_trials % len(spec.arms) == 0 and spec.n_trials // len(spec.arms) >= 6
    assert spec.search.lr is not None


# --- errors --------------------------------------------------------------------------------

D = 'datasets = ["iris"]\n'

BAD = [
    # (TOML text, key path, message fragment)
    ("datasets = [\n  \"iris\",\n  oops\n]\n", "(file)", "line 3"),
    ("n_trials = 24\n", "datasets", "missing"),
    ("datasets = []\n", "datasets", "at least one dataset"),
    ('datasets = "iris"\n', "datasets", "expected an array"),
    ('datasets = ["irs"]\n', "datasets[0]", 'did you mean "iris"'),
    ('datasets = ["csv:"]\n', "datasets[0]", "no path after csv:"),
    ('datasets = [{noise = 0.1}]\n', "datasets[0]", "needs a name"),
    ('datasets = [{name = "moons", noise = [0.1]}]\n', "datasets[0].noise", "must be a string, number or boolean"),
    ('datasets = ["iris", "IRIS"]\n', "datasets[1]", "listed twice"),
    ('datasets = [3]\n', "datasets[0]", "got 3 (an integer)"),
    (D + "serach = {}\n", "serach", 'did you mean "search"'),
    (D + "epochs = 3\n", "epochs", '"training.epochs"'),
    (D + "[training]\nepoch = 3\n", "training.epoch", 'did you mean "epochs"'),
    (D + "[training]\nseed = 3\n", "training.seed", "top-level \"seeds\""),
    (D + "[search]\nn_trials = 16\n", "search.n_trials", "before the first [section]"),
    (D + "[model]\nkind = \"transformer\"\n", "model.kind", "allowed: auto, mlp, cnn"),
    (D + "[model]\nhidden = [64, 0]\n", "model.hidden[1]", "integer >= 1"),
    (D + "[model]\nhidden = []\n", "model.hidden", "at least one"),
    (D + "[model]\nactivation = \"rleu\"\n", "model.activation", 'did you mean "relu"'),
    (D + "[model]\ndropout = 1.0\n", "model.dropout", "[0.0, 1.0)"),
    (D + "model = \"mlp\"\n", "model", "expected a table"),
    (D + "[training]\nepochs = \"ten\"\n", "training.epochs", 'got "ten" (a string)'),
    (D + "[training]\nepochs = 0\n", "training.epochs", "integer >= 1"),
    (D + "[training]\nepochs = 10.0\n", "training.epochs", "without the decimal point"),
    (D + "[training]\nbatch_size = true\n", "training.batch_size", "got true (a boolean)"),
    (D + "[training]\noptimizer = \"adamm\"\n", "training.optimizer", 'did you mean "adam"'),
    (D + "[training]\nlr = 0\n", "training.lr", "number > 0"),
    (D + "[training]\nlr = nan\n", "training.lr", "finite"),
    (D + "[search]\nlamda = [0, 1]\n", "search.lamda", 'did you mean "lambda"'),
    (D + "[search]\nlambda = [1.0, -1.0]\n", "search.lambda", "expected [low, high] with low < high, got [1.0, -1.0]"),
    (D + "[search]\nlambda = [1.0]\n", "search.lambda", "expected [low, high]"),
    (D + "[search]\nlambda = [\"a\", 1]\n", "search.lambda", "finite numbers"),
    (D + "[search]\nlower = [-1.5, 0]\n", "search.lower", "in [-1, 1]"),
    (D + "[search]\nupper = [0.2, 1.2]\n", "search.upper", "in [-1, 1]"),
    (D + "[search]\nlower = [0.5, 0.9]\nupper = [0.1, 0.4]\n", "search.upper", "lower must be < upper"),
    (D + "[search]\nstrategies = [\"threshhold\"]\n", "search.strategies[0]", 'did you mean "threshold"'),
    (D + "[search]\nstrategies = []\n", "search.strategies", "at least one strategy"),
    (D + "[search]\nstrategies = \"fixed\"\n", "search.strategies", "expected an array"),
    (D + "[search]\nscopes = [\"layers\"]\n", "search.scopes[0]", 'did you mean "layer"'),
    (D + "[search]\nsignals = [\"output\"]\n", "search.signals[0]", "allowed: io, target"),
    (D + "[search]\nbases = [\"relu\", \"tanhh\"]\n", "search.bases[1]", 'did you mean "tanh"'),
    (D + "[search]\nbases = [\"swish\", \"silu\"]\n", "search.bases[1]", "listed twice"),
    (D + "[search]\nbases = [\"gelu\"]\n", "search.strategies", "none of search.bases"),
    (D + "[search]\nbelow = [\"tan\"]\n", "search.below[0]", "unknown activation family"),
    (D + "[search]\nevery = [0, 2]\n", "search.every", "integers >= 1"),
    (D + "[search]\nwarmup = [3, 1]\n", "search.warmup", "low <= high"),
    (D + "[search]\ncooldown = [0.5, 1]\n", "search.cooldown", "a float"),
    (D + "[search]\nlr = [0, 0.1]\n", "search.lr", "both > 0"),
    (D + "[search]\nwidth = [0, 64]\n", "search.width", "integers >= 1"),
    (D + "[sampler]\nname = \"bayes\"\n", "sampler.name", "allowed: tpe, random, cmaes, gp, qmc, nsga2"),
    (D + "[sampler]\nname = \"nsga2\"\n", "sampler.name", 'use "tpe"'),
    (D + "[sampler]\nname = \"cmaes\"\nobjectives = [\"metric\", \"time\"]\n", "sampler.name", "allowed: tpe, nsga2"),
    (D + "[sampler]\nobjectives = [\"time\"]\n", "sampler.objectives", "metric must be an objective"),
    (D + "[sampler]\nobjectives = [\"loss\"]\n", "sampler.objectives[0]", "allowed: metric, time"),
    (D + "[sampler]\nseed = -1\n", "sampler.seed", "integer >= 0"),
    (D + "[sampler]\nobjectives = [\"metric\", \"time\"]\n[pruner]\nname = \"median\"\n", "pruner.name",
     "cannot prune multi-objective"),
    (D + "[pruner]\nname = \"asha\"\n", "pruner.name", "allowed: median, hyperband, successive_halving, none"),
    (D + "[pruner]\nn_warmup_steps = -1\n", "pruner.n_warmup_steps", "integer >= 0"),
    (D + "n_trials = 0\n", "n_trials", "integer >= 1"),
    (D + "n_trials = 5\n", "n_trials", "at least one trial per arm"),
    (D + "seeds = 0\n", "seeds", "integer >= 1"),
    (D + "split_seed = -2\n", "split_seed", "integer >= 0"),
    (D + "timeout = 0\n", "timeout", "number > 0"),
    (D + "timeout = \"1h\"\n", "timeout", "expected a number"),
    (D + "workers = \"many\"\n", "workers", '"auto" or an integer >= 1'),
    (D + "workers = 0\n", "workers", '"auto" or an integer >= 1'),
    (D + "storage = 5\n", "storage", "expected a string"),
    (D + "name = \"my study\"\n", "name", "letters, digits"),
    (D + "description = 3\n", "description", "expected a string"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), BAD, ids=[f"{i:02d}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_study_file(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError) as info:
        load_study_file(path)
    err = info.value
    message = str(err)
    assert message.startswith(f"{path}: {key}: "), message
    assert fragment in message, message
    assert "\n" not in message and "\r" not in message
    assert (err.path, err.key) == (str(path), key)
    assert isinstance(err, ValueError)


def test_unknown_key_lists_allowed_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_study_file(write(tmp_path, D + "[pruner]\nwarmup = 2\n"))
    assert "allowed: name, n_startup_trials, n_warmup_steps" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_study_file(path)
    assert str(info.value) == f"{path}: (file): no such file"


def test_directory_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\(file\): is a directory"):
        load_study_file(tmp_path)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ConfigError, match=r"\(file\): not valid UTF-8"):
        load_study_file(binary)


def test_csv_files_are_not_checked_here() -> None:
    spec = parse_study({"datasets": ["csv:/does/not/exist.csv", "PARQUET: x.pq"]}, "x.toml")
    assert [d.name for d in spec.datasets] == ["csv:/does/not/exist.csv", "parquet:x.pq"]


def test_parse_study_rejects_non_table() -> None:
    with pytest.raises(ConfigError, match=r"^x: \(file\): expected a table"):
        parse_study(["iris"], "x")  # type: ignore[arg-type]


def test_config_error_format_and_pickle() -> None:
    err = ConfigError("studies/x.toml", "search.lambda", "expected [low, high]\nwith low < high")
    assert str(err) == "studies/x.toml: search.lambda: expected [low, high] with low < high"
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.key == "search.lambda"


def test_from_dict_validates() -> None:
    data = parse_study({"datasets": ["iris"]}, "x.toml").to_dict()
    data["search"]["lambda"] = [1.0, -1.0]
    with pytest.raises(ConfigError) as info:
        StudySpec.from_dict(data)
    assert str(info.value) == "x.toml: search.lambda: expected [low, high] with low < high, got [1.0, -1.0]"


def test_datasets_as_array_of_tables(tmp_path: Path) -> None:
    text = '[[datasets]]\nname = "iris"\n\n[[datasets]]\nname = "spirals"\nn_classes = 3\nnoise = 0.1\n'
    spec = load_study_file(write(tmp_path, text))
    assert [d.label for d in spec.datasets] == ["iris", "spirals(n_classes=3, noise=0.1)"]


def test_equivalence_margin_defaults_round_trips_and_rejects_non_positive() -> None:
    base = {"datasets": ["iris"], "n_trials": 8}
    assert parse_study(base, "s.toml").equivalence_margin == 0.01
    spec = parse_study({**base, "equivalence_margin": 0.02}, "s.toml")
    assert spec.equivalence_margin == 0.02 and StudySpec.from_dict(spec.to_dict()) == spec
    for bad, message in ((0, "expected a number > 0, got 0"), ("1%", "expected a number")):
        with pytest.raises(ConfigError, match=rf"^s.toml: equivalence_margin: {message}"):
            parse_study({**base, "equivalence_margin": bad}, "s.toml")
