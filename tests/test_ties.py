"""Tied and saturated best values: detected from real trials, and reported by run, export and report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from dynsearch.cli import main
from dynsearch.search.ties import TIE_BREAK, find_tie, find_ties_per_arm

ARMS = CategoricalDistribution(["fixed-relu", "linear-layer"])


def _trial(number: int, value: float | None, arm: str = "fixed-relu", state: TrialState = TrialState.COMPLETE):
    trial = create_trial(state=state, value=value if state == TrialState.COMPLETE else None,
                         params={"arm": arm}, distributions={"arm": ARMS})
    trial.number = number
    return trial


def test_a_clear_best_is_no_tie() -> None:
    assert find_tie([_trial(0, 0.8), _trial(1, 0.9), _trial(2, 0.85)]) is None


def test_equal_best_values_tie_and_the_earliest_wins() -> None:
    trials = [_trial(3, 0.9, "linear-layer"), _trial(0, 0.7), _trial(1, 0.9), _trial(2, 0.9 + 1e-13)]
    tie = find_tie(trials)
    assert tie is not None and tie.trials == (1, 2, 3) and not tie.saturated
    assert tie.arms == ("fixed-relu", "linear-layer")
    message = tie.message()
    assert message.startswith("warning: 3 trials tie at the best mean validation metric 0.9000")
    assert message.endswith(f"the tie goes to {TIE_BREAK}: trial 1")


def test_a_single_best_at_the_ceiling_is_saturated() -> None:
    tie = find_tie([_trial(0, 0.5), _trial(1, 1.0)])
    assert tie is not None and tie.trials == (1,) and tie.saturated
    assert "maximum the metric can reach" in tie.message()
    assert find_tie([_trial(0, 0.5), _trial(1, 1.0)], ceiling=None) is None


def test_unfinished_trials_do_not_count() -> None:
    trials = [_trial(0, 0.9), _trial(1, None, state=TrialState.FAIL), _trial(2, None, state=TrialState.PRUNED)]
    assert find_tie(trials) is None
    assert find_tie([]) is None


def test_minimized_objectives_tie_at_the_lowest_value() -> None:
    tie = find_tie([_trial(0, 2.0), _trial(1, 1.0), _trial(2, 1.0)], maximize=False)
    assert tie is not None and tie.trials == (1, 2) and not tie.saturated


def test_ties_per_arm() -> None:
    trials = [_trial(0, 0.9), _trial(1, 0.9), _trial(2, 0.8, "linear-layer"), _trial(3, 0.7, "linear-layer")]
    ties = find_ties_per_arm(trials)
    assert list(ties) == ["fixed-relu"] and ties["fixed-relu"].trials == (0, 1)


# --- the commands, on a real study whose fixed arm has nothing to search -----------------------------

STUDY = """\
name = "tie"
datasets = [{{ name = "csv:sep.csv", target = "label" }}]
n_trials = 4
[model]
hidden = [8]
[training]
epochs = {epochs}
lr = 0.05
patience = 0
[search]
strategies = ["fixed", "threshold"]
scopes = ["layer"]
bases = ["relu"]
[sampler]
name = "random"
seed = 0
[pruner]
name = "none"
"""


@pytest.fixture(scope="module")
def tie_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("tie")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-3, -1, 100), rng.uniform(1, 3, 100)])
    rows = [f"{a:.4f},{b:.4f},{int(a > 0)}" for a, b in zip(x, rng.normal(size=200))]
    (folder / "sep.csv").write_text("x,z,label\n" + "\n".join(rows) + "\n")
    (folder / "tie.toml").write_text(STUDY.format(epochs=3))
    return folder, f"journal:{folder / 'tie.journal'}"


def test_run_and_export_warn_about_the_tie(tie_study: tuple[Path, str], capsys) -> None:
    folder, url = tie_study
    assert main(["run", str(folder / "tie.toml"), "--storage", url, "--workers", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    study = optuna.load_study(study_name="tie", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "tie.journal"))))
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    # Independent oracle: the fixed-relu arm has no parameter to search, so its trials are the same run.
    fixed = sorted(t.number for t in trials if t.params["arm"] == "fixed-relu")
    assert len(fixed) == 2 and len({study.trials[n].values[0] for n in fixed}) == 1
    assert f"fixed-relu (2 trials at {study.trials[fixed[0]].values[0]:.4f}" in err

    out = folder / "best.json"
    assert main(["export", "tie", "--storage", url, "--family", "fixed", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"exported trial {fixed[0]} " in captured.out
    assert captured.err.startswith(f"warning: 2 trials tie at the best mean validation metric "
                                   f"{study.trials[fixed[0]].values[0]:.4f} (trials {fixed[0]}, {fixed[1]}; "
                                   f"arm fixed-relu)")
    assert captured.err.rstrip().endswith(f"trial {fixed[0]}") and captured.err.count("\n") == 1

    # The report re-trains each arm's best trial: it names the arms where validation could not pick one.
    report_dir = folder / "report"
    assert main(["report", "tie", "--storage", url, "--seeds", "1", "--jobs", "1", "--out", str(report_dir),
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: within") and "fixed-relu (2 trials at" in err and TIE_BREAK in err
    # The report file itself says so, and how the tie was broken, not only the console.
    for name in ("report.md", "index.html"):
        text = (report_dir / name).read_text()
        assert "Ties and saturation." in text, name
        assert f"fixed-relu (2 trials at {study.trials[fixed[0]].values[0]:.4f}" in text, name
        assert f"each arm&#x27;s best is {TIE_BREAK}" in text or f"each arm's best is {TIE_BREAK}" in text, name


def test_report_says_when_nothing_ties() -> None:
    from types import SimpleNamespace

    from dynsearch.report.render import Para
    from dynsearch.report.render._sections import _ties

    data = SimpleNamespace(name="s", trials=[_trial(0, 0.8), _trial(1, 0.9, "linear-layer"), _trial(2, 0.85)])
    (block,) = _ties(data)  # type: ignore[arg-type]
    assert isinstance(block, Para) and block.text.startswith("Ties: no best validation value is tied")
    tied = SimpleNamespace(name="s", trials=[_trial(0, 0.9), _trial(1, 0.9, "linear-layer"), _trial(2, 0.8)])
    (block,) = _ties(tied)  # type: ignore[arg-type]
    assert "2 trials tie at the best mean validation metric 0.9000 (trials 0, 1" in block.text
    assert "`dynsearch export s` without `--family` takes trial 0" in block.text
