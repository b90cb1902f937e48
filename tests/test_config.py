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
    StudySpec,
    load_study_file,
    parse_study,
)
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


def settings(spec: StudySpec, strategy: str) -> dict:
    return spec.search.strategy(strategy).as_dict()


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
        DatasetSpec(f"csv:{tmp_path / 'data' / 'my table.csv'}", {}),  # relative to the study file
        DatasetSpec("breast_cancer", {}),
    )
    assert spec.datasets[1].label == "moons(n_samples=500, noise=0.2)"
    assert spec.train == TrainConfig(
        epochs=15, batch_size=32, patience=3, optimizer="sgd", lr=0.05, weight_decay=1e-4, momentum=0.8,
        measure_every=2, model="mlp", hidden=(32, 16), channels=(8, 16), dropout=0.1, activation="silu",
    )  # fmt: skip
    assert spec.train.seed == 0
    assert spec.search.names == ("threshold", "fixed", "linear", "learned")
    assert settings(spec, "threshold") == {
        "base": ("relu", "gelu", "silu"), "scope": ("global", "layer"), "signal": ("io", "target"),
        "reduction": ("pooled",), "every": (1, 3), "warmup": (0, 2), "lower": (-1.0, -0.2), "upper": (0.2, 1.0), "below": ("tanh", "elu"), "above": ("sigmoid",),
        "cooldown": (1, 1),
    }  # fmt: skip
    # linear and learned adjust α: the bases without one (gelu) are left out for them only.
    assert settings(spec, "linear") == {
        "base": ("relu", "silu"), "scope": ("global", "layer"), "signal": ("io", "target"), "reduction": ("pooled",),
        "every": (1, 3), "warmup": (0, 2), "lam": (-0.5, 2.0), "alpha0": (0.0, 1.0),
    }  # fmt: skip
    assert settings(spec, "fixed") == {"base": ("relu", "gelu", "silu")}
    assert settings(spec, "learned") == {"base": ("relu", "silu")}
    assert (spec.search.lr, spec.search.width) == ((1e-4, 1e-2), (16, 128))
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
    assert data["search"]["linear"]["lam"] == [-0.5, 2.0]
    assert isinstance(data["search"]["threshold"]["every"][0], int)


def test_defaults_when_sections_missing() -> None:
    spec = parse_study({"datasets": ["iris"]}, "studies/tiny-one.toml")
    assert spec.name == "tiny-one"
    assert spec.description == ""
    assert spec.train == TrainConfig()
    assert spec.search.names == ("fixed", "threshold", "linear", "learned")
    common = {"base": ("relu", "tanh"), "scope": ("layer", "global"), "signal": ("io",), "reduction": ("pooled",),
              "every": (1, 1), "warmup": (0, 0)}
    assert settings(spec, "threshold") == {**common, "lower": (-0.9, 0.0), "upper": (0.0, 0.9), "below": ("tanh",),
                                           "above": ("sigmoid",), "cooldown": (0, 0)}  # fmt: skip
    assert settings(spec, "linear") == {**common, "lam": (-1.0, 1.0)}  # alpha0 and cumulative: not searched
    assert settings(spec, "fixed") == settings(spec, "learned") == {"base": ("relu", "tanh")}
    assert spec.search.lr is None and spec.search.width is None
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
    # Baselines first, then candidates, each in the listed order; a per-network signal is an arm
    # of its own and forces global scope.
    assert spec.arms == [
        "learned-tanh", "learned-relu",  # gelu has no α
        "fixed-tanh", "fixed-gelu", "fixed-relu",
        "linear-global-io", "linear-layer-io", "linear-target",
        "threshold-global-io", "threshold-layer-io", "threshold-target",
    ]  # fmt: skip


def test_single_signal_keeps_short_labels() -> None:
    spec = parse_study({"datasets": ["iris"], "search": {"signals": ["io"]}}, "x.toml")
    assert spec.arms == ["fixed-relu", "fixed-tanh", "learned-relu", "learned-tanh", "threshold-layer",
                         "threshold-global", "linear-layer", "linear-global"]  # fmt: skip
    assert spec.arm("threshold-layer").params == {"scope": "layer", "signal": "io"}


def test_arms_say_what_their_trials_do() -> None:
    spec = parse_study({"datasets": ["iris"], "n_trials": 10, "search": {"signals": ["io", "target"]}}, "x.toml")
    assert len(spec.arms) == 10
    for label in spec.arms:
        arm = spec.arm(label)
        if arm.get("signal") == "target":
            assert arm.get("scope") == "global" and label.endswith("-target")
        if "layer" in label:
            assert arm.params == {"scope": "layer", "signal": "io"}
    only_target = parse_study({"datasets": ["iris"], "search": {"strategies": ["threshold"], "signals": ["target"]}},
                              "x.toml")  # fmt: skip
    assert only_target.arms == ["threshold-target"]


def test_arm_objects_carry_strategy_role_and_values() -> None:
    spec = parse_study({"datasets": ["iris"]}, "x.toml")
    fixed, learned, threshold = spec.arm("fixed-relu"), spec.arm("learned-tanh"), spec.arm("threshold-global")
    assert (fixed.strategy, fixed.params, fixed.role, fixed.adjusts) == ("fixed", {"base": "relu"}, "baseline", False)
    assert (learned.role, learned.adjusts) == ("baseline", True)
    assert (threshold.strategy, threshold.role, threshold.label) == ("threshold", "candidate", "threshold-global")
    assert [a.label for a in spec.search.arms] == spec.arms
    with pytest.raises(KeyError, match="not an arm"):
        spec.arm("threshold-everywhere")


def test_arms_subset_of_strategies() -> None:
    spec = parse_study({"datasets": ["iris"], "n_trials": 3, "search": {"strategies": ["threshold"], "scopes": ["layer"]}},
                       "x.toml")  # fmt: skip
    assert spec.arms == ["threshold-layer"]


def test_strategy_tables_override_shared_keys() -> None:
    spec = parse_study({"datasets": ["iris"], "search": {
        "bases": ["relu", "tanh"], "every": [1, 2],
        "threshold": {"base": ["elu"], "lower": [-0.5, 0.0], "every": [3, 3], "signal": ["io", "target"]},
        "linear": {"lambda": [-0.2, 0.2], "cumulative": [False, True]},
    }}, "x.toml")  # fmt: skip
    t, lin = settings(spec, "threshold"), settings(spec, "linear")
    assert (t["base"], t["lower"], t["every"], t["signal"]) == (("elu",), (-0.5, 0.0), (3, 3), ("io", "target"))
    assert (lin["base"], lin["lam"], lin["every"], lin["signal"]) == (("relu", "tanh"), (-0.2, 0.2), (1, 2), ("io",))
    assert lin["cumulative"] == (False, True)
    assert "threshold-target" in spec.arms and "linear-target" not in spec.arms
    assert StudySpec.from_dict(spec.to_dict()) == spec


def test_legacy_stored_spec_keeps_its_arm_labels() -> None:
    """A spec stored before strategies declared arms (flat keys, signal sampled inside the arm)."""
    stored = parse_study({"datasets": ["iris"], "search": {"signals": ["io", "target"]}}, "x.toml").to_dict()
    stored["search"] = {"strategies": ["fixed", "threshold"], "scopes": ["layer", "global"],
                        "signals": ["io", "target"], "bases": ["relu"], "lambda": [-1.0, 1.0], "alpha0": None,
                        "lower": [-0.9, 0.0], "upper": [0.0, 0.9], "below": ["tanh"], "above": ["sigmoid"],
                        "every": [1, 1], "warmup": [0, 0], "cooldown": [0, 0], "lr": None, "width": None}  # fmt: skip
    stored["n_trials"] = 3
    spec = StudySpec.from_dict(stored)
    assert spec.arms == ["fixed-relu", "threshold-layer", "threshold-global"]
    assert settings(spec, "threshold")["signal"] == ("io", "target")
    assert StudySpec.from_dict(spec.to_dict()) == spec


# --- the shipped study files ---------------------------------------------------------------


def test_quickstart_study_loads() -> None:
    spec = load_study_file(ROOT / "studies" / "quickstart.toml")
    assert spec.name == "quickstart"
    assert [d.label for d in spec.datasets] == ["digits", "iris", "moons(n_samples=600, noise=0.25)"]
    assert spec.train.model == "mlp" and spec.train.hidden == (64, 64)
    assert len(spec.arms) == 12 and spec.arm("schedule-relu").role == spec.arm("shuffled-threshold").role == "control"
    # Threshold arms draw their thresholds where calibration found each signal (io, target).
    lower = spec.search.strategy("threshold").as_dict()["lower"]
    assert lower.for_signal("io")[0] > 0.8 and lower.for_signal("target")[0] > 0.5
    # Equal budgets: a whole number of trials per arm, and every arm (the fixed ones too) tunes lr.
    assert spec.n_trials % len(spec.arms) == 0
    assert spec.search.lr is not None
    assert spec.pruner.name == "median" and spec.sampler == SamplerSpec("tpe", 0, ("metric",))
    assert spec.seeds == 1


def test_benchmark_study_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # its "calibrated" ranges are read from reports/benchmark/calibration/
    spec = load_study_file(ROOT / "studies" / "benchmark.toml")
    # Every real table first, the 7 real sets, then 60 synthetic ones; the committed report and journal are of
    # exactly these.
    names = [d.name for d in spec.datasets]
    assert len(names) == 293 and all(n.startswith("rdata_") for n in names[:226])
    assert "gapminder" in names[226:233] and names[233:] == [f"synthetic_{i:02d}" for i in range(60)]
    assert len(spec.arms) == 17 and spec.n_trials == 6 * len(spec.arms)
    assert {"fixed-gelu", "learned-acon_c", "schedule-relu", "shuffled-threshold", "threshold-target-keep",
            "linear-layer-io"} <= set(spec.arms)
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
    # [search.<strategy>] tables, checked against each strategy's own declarations
    (D + "[search.threshold]\nlowr = [0, 0.5]\n", "search.threshold.lowr", 'did you mean "lower"'),
    (D + "[search.threshold]\nupper = [0.2, 1.5]\n", "search.threshold.upper", "in [-1, 1]"),
    (D + "[search.threshold]\nlower = [0.5, 0.9]\nupper = [0.1, 0.4]\n", "search.threshold.upper",
     "lower must be < upper"),
    (D + "[search.linear]\nbase = [\"gelu\"]\n", "search.linear.base[0]", "not a family with an α"),
    (D + "[search.linear]\ncumulative = [\"yes\"]\n", "search.linear.cumulative[0]", "expected one of false, true"),
    (D + "[search.fixed]\nscope = [\"layer\"]\n", "search.fixed.scope", "allowed: base"),
    (D + "[search.threshold]\nevery = [0, 1]\n", "search.threshold.every", "integers >= 1"),
    (D + "[search]\nstrategies = [\"fixed\"]\n[search.threshold]\nlower = [0, 0.5]\n", "search.threshold",
     "does not search"),
    (D + "[search]\nthreshold = 3\n", "search.threshold", "expected a table"),
    # plugins: imported before anything else is checked
    (D + "plugins = [\"no_such_plugin_module_x\"]\n", "plugins[0]",
     "plugin 'no_such_plugin_module_x' cannot be imported: ModuleNotFoundError: No module named"),
    (D + "plugins = [\"not a module\"]\n", "plugins[0]", "not a module name"),
    (D + "plugins = \"mod\"\n", "plugins", "expected an array"),
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
    assert str(info.value) == f"{path}: (file): no such file ({path})"
    # A close name beside it is suggested.
    (tmp_path / "nape.toml").write_text("")
    with pytest.raises(ConfigError) as info:
        load_study_file(path)
    assert str(info.value) == f'{path}: (file): no such file ({path}) (did you mean "{tmp_path / "nape.toml"}"?)'


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
    data["search"]["linear"]["lam"] = [1.0, -1.0]
    with pytest.raises(ConfigError) as info:
        StudySpec.from_dict(data)
    assert str(info.value) == "x.toml: search.linear.lam: expected [low, high] with low < high, got [1.0, -1.0]"


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
