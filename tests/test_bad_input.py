"""Bad input, table-driven: study files, command-line arguments and exported configs.

Every case runs ``python -m dynsearch ...`` as a subprocess in its own empty directory and must
end with exit code 2, exactly one line on stderr naming the problem (and, where there is a list,
what is allowed), no traceback, nothing on stdout, and nothing written: no ``runs/``, no journal,
no report folder, not even a lock file.

The subprocesses are independent, so the selected cases run a few at a time in one module fixture;
each test then checks its own outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# A valid study: two arms (fixed-relu, threshold-layer). Cases break one thing at a time.
GOOD = """\
name = "bad"
datasets = ["iris"]
n_trials = 4
[model]
hidden = [8]
[training]
epochs = 2
[search]
strategies = ["fixed", "threshold"]
scopes = ["layer"]
bases = ["relu"]
"""

UNREACHABLE = "postgresql://u:pw-unreachable@127.0.0.1:1/x"

GOOD_EXPORT = {
    "schema": "dynsearch.export/1",
    "strategy": {"name": "threshold", "params": {"lower": -0.5, "upper": 0.5}},
    "train": {"epochs": 2, "hidden": [8]},
    "split_seed": 0,
    "datasets": [{"name": "iris", "options": {}}],
}


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]  # substrings of the one stderr line
    files: dict[str, str | bytes] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()


def _study(*replace: tuple[str, str], append: str = "", prepend: str = "") -> str:
    text = GOOD
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    return prepend + text + append


def _export(**changes: object) -> str:
    data = {**GOOD_EXPORT, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not None})


def run_case(study: str, *extra: str, expect: tuple[str, ...], id: str, files: dict | None = None) -> Case:
    return Case(id, ("run", "s.toml", *extra), expect, {"s.toml": study, **(files or {})})


CSV_OK = "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n9,1,x\n2,3,y\n4,5,x\n6,7,y\n8,9,x\n1,1,y\n"

CASES = [
    # --- study files: syntax and types -----------------------------------------------------------
    run_case('datasets = ["iris"\nn_trials = 4\n', expect=("s.toml", "malformed TOML"), id="file-malformed-toml"),
    run_case(b"name = \"caf\xe9\"\n", expect=("s.toml", "not valid UTF-8"), id="file-not-utf8"),
    run_case(_study(('datasets = ["iris"]', 'datasets = "iris"')),
             expect=("s.toml: datasets", "expected an array"), id="datasets-not-an-array"),
    run_case(_study(('datasets = ["iris"]', "datasets = []")),
             expect=("datasets", "at least one dataset"), id="datasets-empty"),
    run_case(_study(('datasets = ["iris"]', 'datasets = ["irs"]')),
             expect=("datasets[0]", 'unknown dataset "irs"', 'did you mean "iris"', "allowed:"), id="dataset-unknown"),
    run_case(_study(('datasets = ["iris"]', 'datasets = [{ name = "iris", noise = 0.1 }]')),
             expect=("datasets", "Unknown option 'noise'", "allowed"), id="dataset-option-unknown"),
    run_case(_study(("n_trials = 4", "n_trails = 4")),
             expect=("n_trails", 'did you mean "n_trials"'), id="top-key-unknown-did-you-mean"),
    run_case(_study(("epochs = 2", "epoch = 2")),
             expect=("training.epoch", 'did you mean "epochs"'), id="training-key-unknown-did-you-mean"),
    run_case(_study(("epochs = 2", "epochs = 2\nhidden = [8, 8]")),
             expect=("training.hidden", "model"), id="key-in-the-wrong-section"),
    run_case(_study(("epochs = 2", 'epochs = 2\nlr = "fast"')),
             expect=("training.lr", '"fast"', "a string"), id="lr-wrong-type"),
    run_case(_study(("epochs = 2", "epochs = -3")), expect=("training.epochs", "-3"), id="epochs-negative"),
    run_case(_study(("n_trials = 4", "n_trials = 1")), expect=("n_trials", "2 arms"), id="n-trials-below-arms"),
    run_case(_study(append='lower = [0.5, 0.9]\nupper = [-0.9, 0.4]\n'),
             expect=("search.upper", "lower must be < upper"), id="thresholds-lower-above-upper"),
    run_case(_study(append="lambda = [1.0, -1.0]\n"), expect=("search.lambda", "[1.0, -1.0]"), id="range-reversed"),
    run_case(_study(append='[search.threshold]\nlowr = [-0.5, 0.0]\n'),
             expect=("search.threshold.lowr", 'did you mean "lower"', "allowed:"), id="strategy-table-key-unknown"),
    run_case(_study(append='[search.threshold]\nupper = [0.5, 1.5]\n'),
             expect=("search.threshold.upper", "in [-1, 1]", "[0.5, 1.5]"), id="strategy-table-range-outside"),
    run_case(_study(append='[search.threshold]\nbetween = ["base", "kept"]\n'),
             expect=("search.threshold.between[1]", '"kept"', "base, keep"), id="threshold-between-unknown"),
    run_case(_study(('"threshold"]', '"linear"]'), append='[search.linear]\nbase = ["relu"]\nalpha0 = [2.0, 3.0]\n'),
             expect=("search.linear.alpha0", "[2, 3] lies outside relu's α range [0, 1]"), id="linear-alpha0-outside-range"),
    Case("train-between-unknown", ("train", "--dataset", "iris", "--strategy", "threshold", "--between", "kept"),
         ("between", "base, keep", "kept")),
    Case("train-alpha0-outside-range", ("train", "--dataset", "iris", "--strategy", "linear", "--base", "tanh",
                                        "--alpha0", "20"), ("'alpha0'", "tanh's α range [0.1, 10.0]", "20.0")),
    run_case(_study(prepend='plugins = ["no_such_plugin_pkg.strategies"]\n'),
             expect=("plugins[0]", "'no_such_plugin_pkg.strategies' cannot be imported", "No module named"),
             id="plugin-not-importable"),
    run_case(_study(('strategies = ["fixed", "threshold"]', 'strategies = ["fixed", "treshold"]')),
             expect=("search.strategies", '"treshold"', 'did you mean "threshold"'), id="strategy-unknown"),
    run_case(_study(('scopes = ["layer"]', 'scopes = ["lyer"]')),
             expect=("search.scopes", '"lyer"', "layer"), id="scope-unknown"),
    run_case(_study(('hidden = [8]', 'hidden = [8]\nactivation = "rleu"')),
             expect=("model.activation", '"rleu"', 'did you mean "relu"', "allowed:"), id="family-unknown"),
    run_case(_study(append='[sampler]\nname = "tpee"\n'),
             expect=("sampler.name", '"tpee"', 'did you mean "tpe"', "allowed:"), id="sampler-unknown"),
    run_case(_study(prepend='storage = "redis://localhost/0"\n'),
             expect=("storage", "unsupported URL", "postgresql://"), id="storage-unsupported-in-file"),
    # --- study files: data files ----------------------------------------------------------------------
    run_case(_study(('datasets = ["iris"]', 'datasets = ["csv:nope.csv"]')),
             expect=("nope.csv", "not found"), id="csv-missing"),
    run_case(_study(('datasets = ["iris"]', 'datasets = [{ name = "csv:d.csv", target = "y" }]')),
             expect=("Target column 'y' not found", "columns:"), id="csv-without-target-column",
             files={"d.csv": CSV_OK}),
    run_case(_study(('datasets = ["iris"]', 'datasets = [{ name = "csv:d.csv", task = "regression" }]')),
             expect=("Target column 'label'", "not numeric"), id="csv-text-target-for-regression",
             files={"d.csv": CSV_OK}),
    run_case(_study(('datasets = ["iris"]', 'datasets = ["csv:d.csv"]')),
             expect=("no feature columns",), id="csv-target-only", files={"d.csv": "label\n1\n2\n1\n2\n"}),
    run_case(_study(('datasets = ["iris"]', 'datasets = ["csv:d.csv"]')),
             expect=("d.csv", "is empty"), id="csv-empty", files={"d.csv": ""}),
    Case("study-file-missing", ("run", "nothere.toml"), ("nothere.toml", "no such file")),
    Case("study-file-is-a-directory", ("run", "adir"), ("adir", "is a directory"), dirs=("adir",)),
    # --- command-line arguments ----------------------------------------------------------------------
    run_case(GOOD, "--workers", "0", expect=("--workers", "'0'", "auto"), id="run-workers-zero"),
    run_case(GOOD, "--n-trials", "1", expect=("--n-trials", "1", "fixed-relu, threshold-layer"),
             id="run-n-trials-below-arms"),
    run_case(GOOD, "--devices", "3", expect=("--devices", "GPU 3 does not exist"), id="run-gpu-that-does-not-exist"),
    run_case(GOOD, "--storage", "foo://x", expect=("unsupported URL", "journal:PATH"), id="run-storage-unsupported"),
    run_case(GOOD, "--storage", UNREACHABLE, expect=("cannot open", "u:***@127.0.0.1:1", "unreachable"),
             id="run-database-unreachable"),
    run_case(GOOD, "--frobnicate", expect=("unrecognized arguments: --frobnicate",), id="run-unknown-option"),
    run_case(GOOD, "--n-trails", "8", expect=("run: unrecognized arguments: --n-trails 8", "did you mean --n-trials?",
                                              "see 'dynsearch run --help'"), id="run-option-misspelled"),
    Case("command-unknown", ("frobnicate",), ("unknown command 'frobnicate'", "run")),
    Case("command-misspelled", ("reprot", "x"), ("unknown command 'reprot'", "did you mean 'report'?")),
    Case("train-config-and-strategy", ("train", "--config", "c.json", "--strategy", "linear"),
         ("--strategy cannot be combined with --config",), {"c.json": _export()}),
    Case("report-study-misspelled", ("report", "mystudi"),
         ("no study 'mystudi'", "did you mean 'mystudy'?", "mystudi.journal does not exist"),
         {"runs/mystudy.journal": ""}),
    Case("dashboard-study-misspelled", ("dashboard", "mystudi"), ("no study 'mystudi'", "did you mean 'mystudy'?"),
         {"runs/mystudy.journal": ""}),
    Case("worker-study-not-found", ("worker", "--study", "nosuch"), ("no study 'nosuch'", "does not exist")),
    Case("worker-database-unreachable", ("worker", "--study", "x", "--storage", UNREACHABLE),
         ("cannot open", "unreachable")),
    Case("studies-storage-unsupported", ("studies", "--storage", "redis://x"), ("unsupported URL",)),
    Case("train-activation-unknown", ("train", "--dataset", "iris", "--activation", "rleu"),
         ("activation", "'rleu'", "relu")),
    Case("train-thresholds-reversed", ("train", "--dataset", "iris", "--strategy", "threshold", "--lower", "0.5",
                                       "--upper", "0.2"), ("'lower'", "less than 'upper'")),
    # --- exported configs (dynsearch train --config) ----------------------------------------------------
    Case("export-schema-unknown", ("train", "--config", "c.json"), ("c.json", "unknown format", "dynsearch.export/1"),
         {"c.json": _export(schema="dynsearch.export/99")}),
    Case("export-truncated", ("train", "--config", "c.json"), ("c.json", "not valid JSON"),
         {"c.json": _export()[:40]}),
    Case("export-missing", ("train", "--config", "gone.json"), ("gone.json", "no such file")),
    Case("export-strategy-unknown", ("train", "--config", "c.json"), ("c.json", "strategy", "nosuch"),
         {"c.json": _export(strategy={"name": "nosuch", "params": {}})}),
    Case("export-train-setting-bad", ("train", "--config", "c.json"), ("c.json", "train", "epochs"),
         {"c.json": _export(train={"epochs": -1})}),
    # --- commands on a study that does not exist ---------------------------------------------------------
    Case("export-study-not-found", ("export", "nosuch"), ("nosuch",)),
    Case("export-family-misspelled", ("export", "x", "--family", "treshold"),
         ("--family: unknown strategy 'treshold' (did you mean 'threshold'?)",)),
    Case("plan-study-file-missing", ("plan", "gone.toml", "--effect", "0.01"), ("gone.toml", "no such file")),
    # --- calibration ---------------------------------------------------------------------------------------
    Case("calibrate-study-file-missing", ("calibrate", "gone.toml"), ("gone.toml", "no such file")),
    Case("calibrate-study-invalid", ("calibrate", "s.toml"), ("s.toml", "training.epochs", "-3"),
         {"s.toml": _study(("epochs = 2", "epochs = -3"))}),
    Case("calibrate-epochs-zero", ("calibrate", "s.toml", "--epochs", "0"), ("calibrate", "--epochs", "positive"),
         {"s.toml": GOOD}),
    Case("calibrate-csv-missing", ("calibrate", "s.toml"), ("s.toml", "datasets", "gone.csv"),
         {"s.toml": _study(('datasets = ["iris"]', 'datasets = ["csv:gone.csv"]'))}),
    run_case(_study(append='[search.threshold]\nlower = "calibrated"\n'),
             expect=("search.threshold.lower", '"calibrated" needs the study\'s calibration',
                     "reports/bad/calibration/calibration.json", "run 'dynsearch calibrate s.toml' first"),
             id="calibrated-without-calibration"),
    run_case(_study(append='[search.threshold]\ncooldown = "calibrated"\n'),
             expect=("search.threshold.cooldown", 'only a float range can be "calibrated"'),
             id="calibrated-on-an-integer"),

]


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    before: set[str]
    after: set[str]


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _run(case: Case, root: Path) -> Outcome:
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    for name in case.dirs:
        (root / name).mkdir()
    before = _listing(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNSEARCH_")}
    env.update(CUDA_VISIBLE_DEVICES="", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "dynsearch", *case.args], cwd=root, env=env, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return Outcome(proc.returncode, proc.stdout, proc.stderr, before, _listing(root))


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Run the selected cases, a few at a time (each is an independent subprocess)."""
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "case" in item.callspec.params
    ]
    roots = {case.id: tmp_path_factory.mktemp(case.id) for case in selected}
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        futures = {case.id: pool.submit(_run, case, roots[case.id]) for case in selected}
        return {case_id: future.result() for case_id, future in futures.items()}


def test_every_command_has_bad_input_cases() -> None:
    from dynsearch.cli import _COMMAND_MODULES

    commands = {name for names in _COMMAND_MODULES.values() for name in names}
    covered = {case.args[0] for case in CASES}
    assert commands <= covered, f"commands without a bad-input case: {sorted(commands - covered)}"
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case: Case, outcomes: dict[str, Outcome]) -> None:
    out = outcomes[case.id]
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert line.startswith("dynsearch: error: "), line
    for expected in case.expect:
        assert expected in line, f"{expected!r} not in {line!r}"
    assert out.stdout == "", out.stdout
    assert out.after == out.before, f"written: {sorted(out.after - out.before)}"
    assert "pw-unreachable" not in line  # a password in a URL is never echoed
