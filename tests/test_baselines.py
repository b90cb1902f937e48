"""Fixed gelu, silu, elu and leaky_relu arms come from `bases`, each tuning its own learning rate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from dynsearch.config import parse_study

BASES = ["gelu", "silu", "elu", "leaky_relu"]


def test_bases_give_fixed_and_learned_arms_for_the_families_reviewers_ask_for() -> None:
    spec = parse_study({"datasets": ["iris"], "n_trials": 7, "search": {"strategies": ["fixed", "learned"], "bases": BASES}},
                       "x.toml")  # fmt: skip
    # gelu has no α: no learned-gelu arm; learned-silu is the trainable Swish-β baseline.
    assert spec.arms == [f"fixed-{b}" for b in BASES] + ["learned-silu", "learned-elu", "learned-leaky_relu"]


@pytest.mark.slow
def test_fixed_arms_of_the_new_bases_run_with_their_own_learning_rate(tmp_path: Path) -> None:
    study = tmp_path / "bases.toml"
    study.write_text(
        'name = "bases"\ndatasets = [{ name = "moons", n_samples = 200 }]\nn_trials = 4\n'
        '[model]\nkind = "mlp"\nhidden = [16]\n[training]\nepochs = 2\nbatch_size = 16\npatience = 0\n'
        f'[search]\nstrategies = ["fixed"]\nbases = {BASES!r}\nlr = [1e-3, 1e-2]\n'.replace("'", '"')
        + '[sampler]\nname = "random"\nseed = 0\n[pruner]\nname = "none"\n'
    )
    journal = tmp_path / "bases.journal"
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    proc = subprocess.run([sys.executable, "-m", "dynsearch", "run", str(study), "--storage", f"journal:{journal}",
                           "--workers", "1", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    trials = optuna.load_study(study_name="bases", storage=JournalStorage(JournalFileBackend(str(journal)))).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    by_arm = {t.params["arm"]: t for t in trials}
    assert sorted(by_arm) == sorted(f"fixed-{b}" for b in BASES)
    for base in BASES:
        trial = by_arm[f"fixed-{base}"]
        assert trial.user_attrs["strategy"]["params"]["base"] == base
        (history,) = trial.user_attrs["history"].values()
        assert {site[1] for _, _, sites in history["epochs"] for site in sites} == {base}  # trained as that family
    assert len({t.params["lr"] for t in trials}) == 4  # each arm samples its own learning rate
