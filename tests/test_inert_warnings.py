"""Study validation warns, before anything trains, about arms whose declared space mostly cannot adjust:
one line per arm naming it and the share that cannot act, from the declared ranges and, for thresholds,
the range of r the study's calibration measured. The run goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dynsearch.config import INERT_WARN_SHARE, inert_warnings, parse_study
from dynsearch.strategies import LinearUpdate, ThresholdSwitch
from dynsearch.strategies.inert import _pinned_share

HEADER = """\
name = "{name}"
datasets = [{{ name = "moons", n_samples = 120 }}]
n_trials = {n_trials}
[model]
hidden = [4]
[training]
epochs = 2
batch_size = 32
patience = 0
[sampler]
name = "random"
seed = 0
[pruner]
name = "none"
"""

# Base relu starts at α₀ = 0, the bottom of its range; io r is never negative, so λ ≤ 0 keeps α at 0.
INERT = '[search]\nstrategies = ["linear"]\nscopes = ["layer"]\n[search.linear]\nbase = ["relu"]\nlam = [-1.0, 0.0]\n'
# The same rule on families whose α₀ lies inside their α range, with λ of both signs.
HEALTHY = ('[search]\nstrategies = ["fixed", "threshold", "linear"]\nscopes = ["layer"]\nbases = ["relu"]\n'
           '[search.threshold]\nlower = [0.5, 0.9]\nupper = [0.9, 0.99]\nbetween = ["keep"]\n'
           '[search.linear]\nbase = ["leaky_relu", "elu", "tanh"]\nlam = [-1.0, 1.0]\nalpha0 = [0.0, 3.0]\n')


def _spec(search: dict, name: str = "inert") -> object:
    return parse_study({"datasets": ["iris"], "search": search}, f"studies/{name}.toml")


def test_an_inert_linear_arm_is_named_with_its_share() -> None:
    lines = inert_warnings(_spec({"strategies": ["linear"], "scopes": ["layer"], "linear": {"base": ["relu"],
                                                                                            "lam": [-1.0, 0.0]}}))
    assert lines == ["warning: arm linear-layer: 100% of its declared space cannot adjust (base relu: α₀ = 0 is the "
                     "bottom of its α range and λ ≤ 0 keeps it there for r in [0, 1]); it still runs, see "
                     "docs/study-file.md#arms-that-cannot-adjust"]


def test_the_benchmarks_linear_space_is_a_quarter_inert() -> None:
    # Bases relu and tanh, λ in [-1, 1], α₀ at each family's default: half of relu's draws, a quarter of the arm.
    share, why = LinearUpdate.inert_share({"base": ("relu", "tanh"), "lam": (-1.0, 1.0)}, (0.78, 0.999))  # type: ignore[misc]
    assert share == INERT_WARN_SHARE and "base relu" in why and "tanh" not in why
    lines = inert_warnings(_spec({"strategies": ["linear"], "scopes": ["global"], "bases": ["relu", "tanh"]}))
    assert len(lines) == 1 and lines[0].startswith("warning: arm linear-global: 25% of its declared space")


def test_an_alpha0_range_or_a_movable_family_is_not_inert() -> None:
    assert LinearUpdate.inert_share({"base": ("relu",), "lam": (-1.0, 0.0), "alpha0": (0.0, 0.5)}, (0.0, 1.0)) is None
    assert LinearUpdate.inert_share({"base": ("leaky_relu", "elu"), "lam": (-1.0, 1.0)}, (0.0, 1.0)) is None
    # r of both signs moves α from a bound with either sign of λ; at the top of the range λ ≥ 0 pins it.
    assert LinearUpdate.inert_share({"base": ("relu",), "lam": (-1.0, 1.0)}, (-0.5, 0.5)) is None
    share, why = _pinned_share(1.0, (0.0, 1.0), (-1.0, 3.0), (0.2, 0.9))
    assert share == 0.75 and "top of its α range and λ ≥ 0" in why


def test_thresholds_outside_the_calibrated_range_of_r(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every pair lies below the r calibration saw: r never falls below lower, and always rises above upper.
    settings = {"base": ("relu",), "below": ("tanh",), "above": ("sigmoid",), "lower": (0.1, 0.3), "upper": (0.4, 0.6)}
    assert ThresholdSwitch.inert_share(settings, (0.8, 0.99)) is None  # above fires on every draw
    assert ThresholdSwitch.inert_share({**settings, "above": ("relu",)}, (0.8, 0.99))[0] == 1.0  # type: ignore[index]
    # Half the upper draws lie above every r: the above side is inert there.
    share = ThresholdSwitch.inert_share({**settings, "lower": (0.0, 0.25), "upper": (0.5, 1.0)}, (0.5, 0.75))
    assert share is not None and share[0] == 0.5  # binary fractions throughout: exact
    monkeypatch.chdir(tmp_path)
    search = {"strategies": ["threshold"], "scopes": ["layer"], "bases": ["relu"],
              "threshold": {"lower": [0.1, 0.2], "upper": [0.95, 0.99]}}
    assert inert_warnings(_spec(search, "cal")) == []  # no calibration: io r may lie anywhere in [0, 1]
    out = tmp_path / "reports" / "cal" / "calibration"
    out.mkdir(parents=True)
    (out / "calibration.json").write_text(json.dumps({
        "schema": "dynsearch.calibration/1", "study": "cal", "epochs": 3, "seeds": [0], "arms": [], "datasets": [],
        "signals": {"io": {"measures": "", "range": [-1, 1], "n": 10, "quantiles": {"0": 0.8, "0.5": 0.9, "1": 0.93},
                           "suggested": [0.82, 0.92]}}, "values": []}))
    lines = inert_warnings(_spec(search, "cal"))
    assert len(lines) == 1 and lines[0].startswith("warning: arm threshold-layer: 100% of its declared space cannot")
    assert "r lies in [0.8, 0.93]" in lines[0]


def _run(tmp_path: Path, name: str, search: str, n_trials: int) -> subprocess.CompletedProcess:
    (tmp_path / f"{name}.toml").write_text(HEADER.format(name=name, n_trials=n_trials) + search)
    return subprocess.run([sys.executable, "-m", "dynsearch", "run", f"{name}.toml", "--workers", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip


def test_dynsearch_run_warns_before_training_and_runs_on(tmp_path: Path) -> None:
    result = _run(tmp_path, "inert", INERT, n_trials=1)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [line for line in result.stderr.splitlines() if "cannot adjust" in line]
    assert len(warnings) == 1 and "arm linear-layer: 100% of its declared space cannot adjust" in warnings[0]
    assert result.stderr.index(warnings[0]) < result.stderr.index("pack:")  # before the workers start
    assert "1 finished" in result.stdout  # the warning does not stop the run


def test_dynsearch_run_says_nothing_about_a_healthy_study(tmp_path: Path) -> None:
    result = _run(tmp_path, "healthy", HEALTHY, n_trials=3)
    assert result.returncode == 0, result.stderr
    assert "cannot adjust" not in result.stderr and "warning:" not in result.stderr, result.stderr
    assert "3 finished" in result.stdout
