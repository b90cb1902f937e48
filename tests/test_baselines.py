"""The baselines a reviewer asks for: fixed gelu, silu, elu and leaky_relu arms from `bases`, each tuning its own
learning rate; learned Swish-β, per-channel PReLU and ACON-C through the learned strategy."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import tolerances as tol
import torch
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from study_helpers import assert_same, run_both
from torch import nn

import dynsearch
from dynsearch.config import ConfigError, parse_study
from dynsearch.data import load_dataset
from dynsearch.packed import PackMember, pack_key, train_packed
from dynsearch.packed._run import engine_unsupported
from dynsearch.sites import parameter_groups
from dynsearch.strategies import (
    FixedActivation,
    LearnedAlpha,
    LinearUpdate,
    ScheduledSwitch,
    ThresholdSwitch,
    strategy_from_config,
)
from dynsearch.train import TrainConfig, build, train

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


# --- learned baselines: Swish-β, per-channel PReLU, ACON-C ------------------------------------------------------


LEARNED_BASELINES = {
    "swish_beta": {"base": "silu"},
    "prelu_per_channel": {"base": "relu", "per_channel": True},
    "acon_c": {"base": "acon_c"},
    "acon_c_per_channel": {"base": "acon_c", "per_channel": True},
}


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def _cfg(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": 6, "hidden": (8, 6), "lr": 0.03, "batch_size": 16, "patience": 0, **changes})


def test_the_learned_baselines_are_arms_of_their_own_with_the_baseline_role() -> None:
    spec = parse_study({"datasets": ["iris"], "n_trials": 9, "search": {
        "strategies": ["fixed", "learned", "threshold"], "bases": ["relu", "acon_c"],
        "learned": {"base": ["relu", "silu", "acon_c"], "per_channel": [False, True]}}}, "x.toml")  # fmt: skip
    learned = ["learned-relu", "learned-relu-per_channel", "learned-silu", "learned-silu-per_channel", "learned-acon_c",
               "learned-acon_c-per_channel"]  # fmt: skip
    # acon_c is learned only: no fixed-acon_c arm, and the threshold rule's base leaves it out.
    assert spec.arms == ["fixed-relu", *learned, "threshold-layer", "threshold-global"]
    assert [spec.arm(a).role for a in spec.arms] == ["baseline"] * 7 + ["candidate"] * 2
    assert spec.arm("learned-acon_c-per_channel").params == {"base": "acon_c", "per_channel": True}
    assert spec.arm("learned-silu").params == {"base": "silu", "per_channel": False}
    assert spec.search.strategy("threshold").as_dict()["base"] == ("relu",)
    # Without per_channel in the study file, nothing changes: one learned arm per base, one α per site.
    plain = parse_study({"datasets": ["iris"], "n_trials": 2, "search": {"strategies": ["learned"],
                                                                          "bases": ["silu", "acon_c"]}}, "x.toml")
    assert plain.arms == ["learned-silu", "learned-acon_c"] and plain.arm("learned-silu").params == {"base": "silu"}


def test_swish_beta_trains_beta_inside_its_range(iris) -> None:
    result = train(iris, {"name": "learned", "params": {"base": "silu"}}, _cfg(lr=0.05))
    betas = [[site["alpha"] for site in rec.sites] for rec in result.history]
    assert result.status == "ok" and {site["family"] for rec in result.history for site in rec.sites} == {"silu"}
    assert all(0.0 <= b <= 10.0 for epoch in betas for b in epoch)
    assert all(abs(b - 1.0) > 0.02 for b in betas[-1]), betas  # β moved away from its start, 1
    assert betas[0] != betas[-1]  # and kept moving


def test_swish_beta_is_clipped_into_its_range_after_an_epoch() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 3), nn.SiLU()), LearnedAlpha(base="silu"))
    (site,) = [s for _, s in dynsearch.sites(model)]
    with torch.no_grad():
        site.alpha_param.fill_(12.5)
    assert dynsearch.adjust(model, 0)[0]["alpha"] == 10.0 and float(site.alpha_param) == 10.0


def test_swish_beta_in_a_pack_equals_training_alone(iris) -> None:
    members = [PackMember({"name": "learned", "params": {"base": "silu"}}, _cfg(seed=s, lr=lr))
               for s, lr in ((0, 0.03), (1, 0.08))] + [PackMember({"name": "fixed", "params": {"base": "silu"}}, _cfg(seed=2))]
    pairs = run_both(iris, members)
    for member, (packed, alone) in zip(members, pairs):
        assert_same(packed, alone, str(member.strategy))
    assert pairs[1][0].history[-1].sites[0]["alpha"] != pytest.approx(1.0, abs=0.01)  # not rounding: the packed β did train


def _numpy_prelu(x: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)  # the channels on axis 1, as nn.PReLU
    return np.where(x >= 0, x, slopes.reshape(shape) * x)


def test_per_channel_prelu_has_one_slope_per_unit_and_channel() -> None:
    torch.manual_seed(0)
    cnn = dynsearch.apply(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5), nn.LeakyReLU(),
                                        nn.Linear(5, 2)), LearnedAlpha(per_channel=True))  # fmt: skip
    conv_site, unit_site = [s for _, s in dynsearch.sites(cnn)]
    assert conv_site.alpha_param.shape == (4,) and unit_site.alpha_param.shape == (5,)
    assert unit_site.alpha_param.tolist() == pytest.approx([0.01] * 5)  # every channel starts at the module's slope
    with torch.no_grad():
        conv_site.alpha_param.copy_(torch.tensor([0.0, 0.1, 0.5, 0.9]))
    x = torch.randn(3, 4, 6, 6)
    np.testing.assert_allclose(conv_site(x).detach().numpy(), _numpy_prelu(x.numpy(), np.array([0.0, 0.1, 0.5, 0.9])),
                               rtol=tol.closed_form(2, torch.float32))  # fmt: skip
    # Never weight-decayed, and each channel gets its own gradient.
    groups = parameter_groups(cnn, weight_decay=0.1)
    assert [id(p) for p in groups[1]["params"]] == [id(conv_site.alpha_param), id(unit_site.alpha_param)]
    assert groups[1]["weight_decay"] == 0.0
    cnn(torch.randn(8, 1, 6, 6) - 0.5).sum().backward()
    assert len(set(conv_site.alpha_param.grad.tolist())) == 4


def test_per_channel_slopes_are_clipped_one_by_one_and_reported_as_their_mean() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), LearnedAlpha(per_channel=True))
    (site,) = [s for _, s in dynsearch.sites(model)]
    with torch.no_grad():
        site.alpha_param.copy_(torch.tensor([-0.5, 0.25, 1.5]))
    (record,) = dynsearch.adjust(model, 0)
    assert site.alpha_param.tolist() == [0.0, 0.25, 1.0]
    assert record["alpha"] == pytest.approx(1.25 / 3)


def test_per_channel_needs_to_know_the_channels() -> None:
    with pytest.raises(ValueError, match="per-channel learned α needs the site's channel count, but no linear"):
        dynsearch.apply(nn.Sequential(nn.ReLU(), nn.Linear(2, 2)), LearnedAlpha(per_channel=True))
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), LearnedAlpha(per_channel=True))
    with pytest.raises(ValueError, match=r"has 3 channels, but its input has shape \(4, 5, 3\); per-channel .* axis 1"):
        model(torch.randn(4, 5, 2))
    with pytest.raises(ValueError, match="The 'per_channel' parameter of LearnedAlpha must be true or false. Got 1"):
        LearnedAlpha(per_channel=1)


@pytest.mark.parametrize("name", list(LEARNED_BASELINES))
def test_learned_state_dicts_load_into_a_fresh_model(iris, name: str) -> None:
    strategy = {"name": "learned", "params": LEARNED_BASELINES[name]}
    config = _cfg(epochs=2)
    trained, fresh = build(iris, strategy, config), build(iris, strategy, dataclasses.replace(config, seed=5))
    with torch.no_grad():
        for _, site in dynsearch.sites(trained):
            site.alpha_param.add_(torch.rand_like(site.alpha_param))
    plain = build(iris, {"name": "fixed", "params": {}}, config)  # plain sites take the learned shapes on
    for model in (fresh, plain):
        model.load_state_dict(trained.state_dict())
        torch.testing.assert_close(model(iris.x_val), trained(iris.x_val))


def test_acon_c_learns_beta_p1_and_p2_in_train(iris) -> None:
    model = build(iris, {"name": "learned", "params": {"base": "acon_c"}}, _cfg())
    site = dynsearch.sites(model)[0][1]
    assert site.family == "acon_c" and site.alpha_param.tolist() == [1.0, 1.0, 0.0]  # (β, p1, p2): Swish at the start
    x = iris.x_train[:32]
    model.train()
    torch.nn.functional.cross_entropy(model(x), iris.y_train[:32]).backward()
    assert all(g != 0 for g in site.alpha_param.grad.tolist())  # every parameter gets a gradient
    result = train(iris, {"name": "learned", "params": {"base": "acon_c"}}, _cfg())
    assert result.status == "ok" and result.best_val_metric > 0.6
    assert all(site["family"] == "acon_c" for rec in result.history for site in rec.sites)
    assert result.history[-1].sites[0]["alpha"] != result.history[0].sites[0]["alpha"]  # β trains


def test_acon_c_clips_beta_only() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), LearnedAlpha(base="acon_c", per_channel=True))
    (site,) = [s for _, s in dynsearch.sites(model)]
    assert site.alpha_param.shape == (3, 3)
    with torch.no_grad():
        site.alpha_param.copy_(torch.tensor([[12.0, -11.0, 2.0], [20.0, 1.0, 1.0], [-30.0, 0.0, 0.5]]))
    dynsearch.adjust(model, 0)
    assert site.alpha_param.tolist() == [[10.0, -10.0, 2.0], [20.0, 1.0, 1.0], [-30.0, 0.0, 0.5]]  # p1, p2 stay free


@pytest.mark.parametrize("make", [
    lambda: FixedActivation(base="acon_c"), lambda: LinearUpdate(base="acon_c"),
    lambda: ThresholdSwitch(below="acon_c"), lambda: ScheduledSwitch(at=2, to="acon_c"),
    lambda: TrainConfig(activation="acon_c"),
], ids=["fixed", "linear", "threshold", "schedule", "activation"])  # fmt: skip
def test_acon_c_without_learning_is_refused_with_one_clear_line(make) -> None:
    with pytest.raises(ValueError, match=r"acon_c.*learned") as info:
        make()
    assert "\n" not in str(info.value)


def test_a_study_file_refuses_fixed_acon_c() -> None:
    with pytest.raises(ConfigError, match=r'search\.fixed\.base\[0\].*"acon_c" is not a family that works without'):
        parse_study({"datasets": ["iris"], "n_trials": 2, "search": {"strategies": ["fixed"],
                                                                      "fixed": {"base": ["acon_c"]}}}, "x.toml")


@pytest.mark.parametrize("name", ["prelu_per_channel", "acon_c", "acon_c_per_channel"])
def test_packs_keep_per_channel_and_acon_c_apart_and_train_them_alone(iris, name: str) -> None:
    special = {"name": "learned", "params": LEARNED_BASELINES[name]}
    config = _cfg(epochs=3)
    assert pack_key(config, special) != pack_key(config, {"name": "learned", "params": {}}) == pack_key(config)
    assert pack_key(config, special) == pack_key(config, {"name": "learned", "params": {"base": "acon_c"}})
    members = [PackMember(special, config), PackMember(special, dataclasses.replace(config, seed=1, lr=0.01))]
    assert engine_unsupported([strategy_from_config(m.strategy) for m in members], [config] * 2) != ""
    for member, packed in zip(members, train_packed(iris, members)):
        alone = train(iris, member.strategy, member.config)
        assert_same(packed, alone, name)
        assert packed.history[-1].sites == alone.history[-1].sites


LEARNED_STUDY = """\
name = "learned"
datasets = [{ name = "moons", n_samples = 240, noise = 0.2 }]
n_trials = 8
split_seed = 2
[model]
kind = "mlp"
hidden = [12]
[training]
epochs = 3
batch_size = 32
patience = 0
lr = 0.02
[search]
strategies = ["fixed", "learned", "threshold"]
scopes = ["layer"]
bases = ["relu", "acon_c"]
[search.learned]
base = ["silu", "acon_c", "relu"]
per_channel = [false, true]
[search.threshold]
lower = [-0.9, 0.6]
upper = [0.6, 0.99]
[sampler]
name = "random"
seed = 0
[pruner]
name = "none"
"""


@pytest.mark.slow
def test_learned_baselines_run_export_retrain_and_report_as_baselines(tmp_path: Path) -> None:
    """A real study: the learned arms finish, an export re-trains to the same validation metric, and the
    report lists them with the baseline role."""
    from dynsearch.cli import main
    from dynsearch.export import read_export

    (tmp_path / "learned.toml").write_text(LEARNED_STUDY)
    journal = tmp_path / "learned.journal"
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    proc = subprocess.run([sys.executable, "-m", "dynsearch", "run", "learned.toml", "--storage", f"journal:{journal}",
                           "--workers", "1", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    storage = JournalStorage(JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="learned", storage=storage).get_trials()
    arms = ["fixed-relu", "learned-silu", "learned-silu-per_channel", "learned-acon_c", "learned-acon_c-per_channel",
            "learned-relu", "learned-relu-per_channel", "threshold-layer"]  # fmt: skip
    assert sorted(t.params["arm"] for t in trials) == sorted(arms)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    label = "moons(n_samples=240, noise=0.2)"
    for arm in ("learned-acon_c-per_channel", "learned-relu-per_channel"):
        out = tmp_path / f"{arm}.json"
        assert main(["export", "learned", "--storage", f"journal:{journal}", "--arm", arm, "-o", str(out)]) == 0
        record = read_export(out)
        assert record.strategy["params"]["per_channel"] is True
        result = tmp_path / f"{arm}-result.json"
        assert main(["train", "--config", str(out), "--json", str(result), "--quiet"]) == 0
        trained = json.loads(result.read_text())
        stored = next(t for t in trials if t.number == record.trial)
        assert trained["best_val_metric"] == stored.user_attrs["datasets"][label]["val_metrics"][0], arm
        assert [s[2] for s in stored.user_attrs["history"][label]["epochs"][-1][2]] == \
            [round(s["alpha"], 5) for s in trained["history"][-1]["sites"]]  # fmt: skip
    report = tmp_path / "report"
    assert main(["report", "learned", "--storage", f"journal:{journal}", "--out", str(report), "--seeds", "2",
                 "--quiet"]) == 0  # fmt: skip
    text = (report / "report.md").read_text()
    for arm in arms[:-1]:
        assert re.search(rf"^\| {re.escape(arm)} \| baseline \|", text, flags=re.M), arm
    assert re.search(r"^\| threshold-layer \| candidate \|", text, flags=re.M)


def test_signals_read_a_per_channel_and_an_acon_c_site_as_it_computes() -> None:
    from dynsearch.signals import SignalRecorder

    torch.manual_seed(0)
    model = dynsearch.apply(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3), nn.ReLU()),
                            LearnedAlpha(per_channel=True))  # fmt: skip
    conv_site = dynsearch.sites(model)[0][1]
    with torch.no_grad():
        conv_site.alpha_param.copy_(torch.tensor([0.0, 0.2, 0.0, 0.7]))
    recorder = SignalRecorder(model, ["dead"])
    model.train()
    x = torch.randn(16, 1, 6, 6)
    z = model[0](x).detach().numpy()
    model(x)
    (value, n, _) = recorder.epoch_values()["1"]["dead"]
    # Dead: z < 0 in the channels whose slope is 0 (channels 0 and 2), never in the others.
    expected = ((z < 0) & np.array([True, False, True, False]).reshape(1, 4, 1, 1)).mean()
    assert (value, n) == (pytest.approx(expected), z.size) and 0 < expected < 0.5
    acon = dynsearch.apply(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), LearnedAlpha(base="acon_c"))
    recorder = SignalRecorder(acon, [{"name": "saturation", "params": {"eps": 0.3}}])
    acon.train()
    beta, p1, p2 = 1.0, 2.0, 0.1
    with torch.no_grad():
        dynsearch.sites(acon)[0][1].alpha_param.copy_(torch.tensor([beta, p1, p2]))
    z = torch.linspace(-6, 6, 121).view(-1, 1).expand(-1, 3)
    acon[1](z)
    (share, _, _) = recorder.epoch_values()["1"]["saturation"]
    u = beta * (p1 - p2) * z.numpy()
    sig = 1 / (1 + np.exp(-u))
    slope = (p1 - p2) * (sig + u * sig * (1 - sig)) + p2  # ACON-C's f′, by hand
    assert share == pytest.approx((np.abs(slope) < 0.3).mean()) and 0 < share < 1


def test_train_command_takes_per_channel_and_acon_c(tmp_path: Path, capsys) -> None:
    from dynsearch.cli import main

    out = tmp_path / "r.json"
    assert main(["train", "--dataset", "iris", "--strategy", "learned", "--base", "acon_c", "--per-channel",
                 "--epochs", "2", "--hidden", "6", "--json", str(out), "--quiet"]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert result["strategy"]["params"]["per_channel"] is True and result["strategy"]["params"]["base"] == "acon_c"
    assert {s["family"] for s in result["history"][-1]["sites"]} == {"acon_c"}
    # A config stored before per_channel existed loads as one α per site.
    assert strategy_from_config({"name": "learned", "params": {"base": "silu"}}).per_channel is False
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", "iris", "--strategy", "linear", "--base", "acon_c", "--json", str(tmp_path / "x")])
    assert exit_info.value.code == 2 and "needs the learned strategy" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
