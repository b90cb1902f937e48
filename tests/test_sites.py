"""Activation sites: apply over any module tree, state in buffers, measuring, scopes, signals, learned α."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import tolerances as tol
import torch
import torch.nn.functional as F
from torch import nn

import dynsearch
from dynsearch.activations import ACTIVATION_MODULE_TYPES, family_from_module, get_family
from dynsearch.sites import ActivationSite, needs_target_signal, observe_output, parameter_groups
from dynsearch.strategies import FixedActivation, LearnedAlpha, LinearUpdate, ThresholdSwitch

pytestmark = pytest.mark.numerics

# Thresholds no r can cross: the rule never switches, so r can be read without side effects.
NEVER_SWITCH = {"lower": -1.0, "upper": 1.0}


def corr(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(np.corrcoef(x.detach().double().reshape(-1).numpy(), y.detach().double().reshape(-1).numpy())[0, 1])


def site_list(model: nn.Module) -> list[ActivationSite]:
    return [site for _, site in dynsearch.sites(model)]


def plain_activations(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if family_from_module(m) is not None]


# --- apply over module trees ------------------------------------------------------------------


class Block(nn.Module):
    """Activations held directly, in a ModuleList, in a ModuleDict, and nested deeper still."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Tanh()
        self.branches = nn.ModuleList([nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.GELU()])
        self.heads = nn.ModuleDict({"b": nn.SiLU(), "a": nn.Sequential(nn.ELU(alpha=0.5))})
        self.placeholder = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.fc(x))
        h = self.branches[1](self.branches[0](h))
        return self.placeholder(self.heads["b"](h) + self.heads["a"](h))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.inner = nn.Sequential(Block(), nn.LeakyReLU(0.2))
        self.out_act = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_act(self.inner(self.block(x)))


BLOCK_SITES = ["act", "branches.0.1", "branches.1", "heads.b", "heads.a.0"]
BLOCK_FAMILIES = [("tanh", 1.0), ("relu", 0.0), ("gelu", 1.0), ("silu", 1.0), ("elu", 0.5)]


def test_apply_on_nested_custom_modules() -> None:
    torch.manual_seed(0)
    model = Net()
    original = copy.deepcopy(model)
    x = torch.randn(16, 4)
    assert dynsearch.apply(model, FixedActivation()) is model
    expected = [f"block.{n}" for n in BLOCK_SITES] + [f"inner.0.{n}" for n in BLOCK_SITES] + ["inner.1", "out_act"]
    assert [name for name, _ in dynsearch.sites(model)] == expected
    assert plain_activations(model) == []
    families = [(s.family, s.alpha_value) for s in site_list(model)]
    assert families == BLOCK_FAMILIES + BLOCK_FAMILIES + [("leaky_relu", 0.2), ("sigmoid", 1.0)]
    # Container keys and order are kept, placeholders are left alone.
    assert list(model.block.heads.keys()) == ["b", "a"]
    assert isinstance(model.block.branches[1], ActivationSite)
    assert isinstance(model.block.placeholder, nn.Identity)
    # A fixed strategy does not change what the model computes.
    model.eval()
    original.eval()
    torch.testing.assert_close(model(x), original(x))


def test_apply_on_sequential_modulelist_moduledict() -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
    assert [n for n, _ in dynsearch.sites(dynsearch.apply(seq, ThresholdSwitch()))] == ["1", "3"]

    mlist = nn.ModuleList([nn.Sigmoid(), nn.Linear(2, 2), nn.SiLU()])
    dynsearch.apply(mlist, ThresholdSwitch())
    assert [n for n, _ in dynsearch.sites(mlist)] == ["0", "2"]
    assert [type(m) for m in mlist] == [ActivationSite, nn.Linear, ActivationSite]
    assert [s.family for s in site_list(mlist)] == ["sigmoid", "silu"]

    mdict = nn.ModuleDict({"z": nn.ELU(), "lin": nn.Linear(2, 2), "a": nn.Softplus(beta=2)})
    dynsearch.apply(mdict, ThresholdSwitch())
    assert list(mdict.keys()) == ["z", "lin", "a"]
    assert [n for n, _ in dynsearch.sites(mdict)] == ["z", "a"]
    assert [(s.family, s.alpha_value) for s in site_list(mdict)] == [("elu", 1.0), ("softplus", 2.0)]


@pytest.mark.parametrize("module_type", [t for t in ACTIVATION_MODULE_TYPES if t is not nn.Identity])
def test_every_activation_type_becomes_its_family(module_type: type[nn.Module]) -> None:
    kwargs = {nn.LeakyReLU: {"negative_slope": 0.2}, nn.ELU: {"alpha": 0.5}, nn.Softplus: {"beta": 2.0}}
    act = module_type(**kwargs.get(module_type, {}))
    expected_alpha = {nn.LeakyReLU: 0.2, nn.ELU: 0.5, nn.Softplus: 2.0}.get(module_type, get_family(ACTIVATION_MODULE_TYPES[module_type]).alpha_default)
    model = dynsearch.apply(nn.Sequential(nn.Linear(3, 3), act), FixedActivation())
    (site,) = site_list(model)
    assert site.family == ACTIVATION_MODULE_TYPES[module_type]
    assert site.alpha_value == pytest.approx(expected_alpha)
    z = torch.randn(50) * 3
    torch.testing.assert_close(site(z), act(z))


def test_apply_with_a_base_family_overrides_the_modules() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Tanh()), ThresholdSwitch(base="elu"))
    assert [(s.family, s.alpha_value, s.initial_family) for s in site_list(model)] == [("elu", 1.0, "elu")] * 2


def test_apply_accepts_a_config_and_reapplies() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.LeakyReLU(0.3))
    dynsearch.apply(model, {"name": "linear", "params": {"lam": 0.2, "alpha0": 0.5}})
    (site,) = site_list(model)
    assert site.strategy == LinearUpdate(lam=0.2, alpha0=0.5)
    assert (site.family, site.alpha_value, site.initial_alpha) == ("leaky_relu", 0.5, 0.5)
    # Applying again re-assigns the existing sites to the new strategy, keeping their starting family.
    dynsearch.apply(model, ThresholdSwitch(base="tanh"))
    (again,) = site_list(model)
    assert again is not site
    assert again.strategy == ThresholdSwitch(base="tanh")
    assert (again.family, again.alpha_value, again.initial_family) == ("tanh", 1.0, "tanh")
    dynsearch.apply(model, FixedActivation())
    assert [s.family for s in site_list(model)] == ["tanh"]


@pytest.mark.parametrize(
    "model",
    [nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1)), nn.Sequential(nn.Linear(2, 2), nn.Identity()), nn.Linear(3, 1)],
)
def test_model_without_activations(model: nn.Module) -> None:
    with pytest.raises(
        ValueError,
        match=rf"{type(model).__name__} has no activation module to make dynamic \(looked for nn\.ReLU, nn\.LeakyReLU, .*nn\.Softplus\)\.",
    ) as info:
        dynsearch.apply(model, ThresholdSwitch())
    assert "nn.Identity" not in str(info.value)


@pytest.mark.parametrize("bare", [nn.ReLU(), nn.Tanh(), ActivationSite("relu")])
def test_bare_activation_is_refused(bare: nn.Module) -> None:
    with pytest.raises(ValueError, match=rf"dynsearch.apply needs a model that contains activations; got a bare {type(bare).__name__}\."):
        dynsearch.apply(bare, ThresholdSwitch())


def test_bad_strategy_config_is_refused_before_changing_the_model() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with pytest.raises(ValueError, match="Unknown strategy 'nope'"):
        dynsearch.apply(model, {"name": "nope"})
    assert isinstance(model[1], nn.ReLU)


# --- the site module --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "alpha"),
    [("relu", 0.0), ("relu", 0.3), ("leaky_relu", 0.01), ("elu", 0.5), ("silu", 2.0), ("tanh", 0.5),
     ("sigmoid", 3.0), ("softplus", 2.0), ("gelu", 1.0), ("selu", 1.0), ("identity", 1.0)],
)
def test_site_forward_is_the_family_function(family: str, alpha: float) -> None:
    torch.manual_seed(0)
    z = torch.randn(64, 5) * 3
    site = ActivationSite(family, alpha)
    torch.testing.assert_close(site(z), get_family(family)(z, alpha))
    site.set_state("tanh", 2.0)
    torch.testing.assert_close(site(z), torch.tanh(2.0 * z))


def test_set_state_clips_and_updates_buffers() -> None:
    site = ActivationSite("relu")
    site.set_state("swish", 50.0)
    assert site.family == "silu" and site.alpha_value == 10.0
    assert int(site.family_code) == dynsearch.family_names().index("silu")
    assert float(site.alpha) == 10.0
    assert "family=silu, alpha=10" in repr(site)


def test_statistics_only_in_training_mode() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), ThresholdSwitch())
    (site,) = site_list(model)
    x = torch.randn(10, 3)
    model.eval()
    with torch.no_grad():
        model(x)
    assert site.stats.count == 0
    model.train()
    model(x)
    assert site.stats.count == 10 * 4
    site.measure = False
    model(x)
    assert site.stats.count == 10 * 4


def test_measure_every() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), ThresholdSwitch())
    (site,) = site_list(model)
    site.measure_every = 3
    x = torch.randn(5, 3)
    counts = []
    for _ in range(7):
        model(x)
        counts.append(site.stats.count)
    # Calls 1, 4 and 7 of the epoch are measured (the first batch always is).
    assert counts == [20, 20, 20, 40, 40, 40, 60]


def test_training_step_does_not_sync_to_host(monkeypatch: pytest.MonkeyPatch) -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)), ThresholdSwitch())
    x = torch.randn(32, 3)

    def forbidden(*_args, **_kwargs):
        raise AssertionError("host sync in a training step")

    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    for _ in range(3):
        model(x).pow(2).mean().backward()
    with pytest.raises(AssertionError, match="host sync"):
        dynsearch.adjust(model, 0)  # reading r is the one sync per epoch, by design
    monkeypatch.undo()
    assert [rec["n"] for rec in dynsearch.adjust(model, 0)] == [3 * 32 * 8] * 2


# --- state_dict and dtype -----------------------------------------------------------------------


def _tiny_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.LeakyReLU(0.1), nn.Linear(8, 1))


def test_state_dict_carries_family_and_alpha() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(_tiny_mlp(), ThresholdSwitch(**NEVER_SWITCH))
    sites = site_list(model)
    sites[0].set_state("sigmoid", 2.5)
    sites[1].set_state("elu", 0.7)
    assert {"1.family_code", "1.alpha", "3.family_code", "3.alpha"} <= set(model.state_dict())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)

    fresh = dynsearch.apply(_tiny_mlp(), ThresholdSwitch(**NEVER_SWITCH))
    assert [s.family for s in site_list(fresh)] == ["relu", "leaky_relu"]
    fresh.load_state_dict(torch.load(buffer))
    loaded = site_list(fresh)
    assert [s.family for s in loaded] == ["sigmoid", "elu"]
    assert [s.alpha_value for s in loaded] == pytest.approx([2.5, 0.7])
    # The Python mirror that drives the forward pass follows the loaded buffers.
    z = torch.randn(20)
    torch.testing.assert_close(loaded[0](z), torch.sigmoid(2.5 * z))
    torch.testing.assert_close(loaded[1](z), F.elu(z, 0.7))
    x = torch.randn(6, 3)
    model.eval()
    fresh.eval()
    torch.testing.assert_close(fresh(x), model(x))
    assert "family=sigmoid, alpha=2.5" in repr(fresh)


def test_learned_state_dict_loads_into_a_plain_site() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(_tiny_mlp(), LearnedAlpha())
    with torch.no_grad():
        site_list(model)[0].alpha_param.fill_(0.25)
    fresh = dynsearch.apply(_tiny_mlp(), FixedActivation())
    fresh.load_state_dict(model.state_dict())
    site = site_list(fresh)[0]
    assert isinstance(site.alpha_param, nn.Parameter)
    assert site.alpha_value == pytest.approx(0.25)
    z = torch.randn(20)
    torch.testing.assert_close(site(z), F.leaky_relu(z, 0.25))


def test_to_float64() -> None:
    torch.manual_seed(0)
    for strategy in (ThresholdSwitch(lower=-0.9, upper=0.1), LearnedAlpha()):
        model = dynsearch.apply(_tiny_mlp(), strategy).to(torch.float64)
        sites = site_list(model)
        assert sites[0].alpha.dtype == torch.float64
        assert sites[0].family_code.dtype == torch.long
        x = torch.randn(16, 3, dtype=torch.float64)
        out = model(x)
        assert out.dtype == torch.float64
        out.sum().backward()
        records = dynsearch.adjust(model, 0)
        # Only strategies that read the io signal measure it (LearnedAlpha ignores r: nothing measured).
        expected_n = 16 * 8 if strategy.uses_signal else 0
        assert len(records) == 2 and all(-1.0 <= rec["r"] <= 1.0 and rec["n"] == expected_n for rec in records)
        assert model(x).dtype == torch.float64


def test_half_precision_model_measures_r() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1)), ThresholdSwitch(**NEVER_SWITCH))
    model = model.half()
    x = torch.randn(8000, 3).half()
    model(x)
    h = model[0](x)
    (record,) = dynsearch.adjust(model, 0)
    assert not record["degenerate"] and record["n"] == 8000 * 16
    assert record["r"] == pytest.approx(corr(h.float(), torch.relu(h).float()), abs=tol.pearson(8000 * 16))


# --- scope ------------------------------------------------------------------------------------


def _records(model: nn.Module, x: torch.Tensor) -> list[dict]:
    model.train()
    model(x)
    return dynsearch.adjust(model, 0)


def test_one_site_global_r_equals_layer_r() -> None:
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    x = torch.randn(64, 3)
    layer = dynsearch.apply(copy.deepcopy(base), ThresholdSwitch(scope="layer", **NEVER_SWITCH))
    glob = dynsearch.apply(copy.deepcopy(base), ThresholdSwitch(scope="global", **NEVER_SWITCH))
    (r_layer,) = [rec["r"] for rec in _records(layer, x)]
    (r_global,) = [rec["r"] for rec in _records(glob, x)]
    h = base[0](x)
    assert r_layer == pytest.approx(corr(h, torch.relu(h)), abs=tol.pearson(64 * 8))
    assert r_global == pytest.approx(r_layer, abs=tol.pearson(64 * 8))


class TwoBranches(nn.Module):
    """Two sites that see different data: one only positive inputs (r = 1), one mostly negative ones."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.ReLU()
        self.neg = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pos(x[:, 0]) + self.neg(x[:, 1])


def _two_branch_data() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.stack([torch.rand(400) + 0.1, torch.randn(400) - 1.2], dim=1)


def test_multi_site_layer_and_global_r_differ() -> None:
    x = _two_branch_data()
    layer = dynsearch.apply(TwoBranches(), ThresholdSwitch(scope="layer", **NEVER_SWITCH))
    glob = dynsearch.apply(TwoBranches(), ThresholdSwitch(scope="global", **NEVER_SWITCH))
    r_pos = corr(x[:, 0], torch.relu(x[:, 0]))
    r_neg = corr(x[:, 1], torch.relu(x[:, 1]))
    r_all = corr(x.T.reshape(-1), torch.relu(x.T.reshape(-1)))
    assert r_pos == pytest.approx(1.0)
    assert r_neg < 0.7 and abs(r_all - r_neg) > 0.05 and abs(r_all - r_pos) > 0.05

    layer_r = [rec["r"] for rec in _records(layer, x)]
    global_r = [rec["r"] for rec in _records(glob, x)]
    assert layer_r == pytest.approx([r_pos, r_neg], abs=tol.pearson(400))
    assert global_r == pytest.approx([r_all, r_all], abs=tol.pearson(800))


def test_global_scope_gives_every_site_the_same_decision() -> None:
    x = _two_branch_data()
    r_neg = corr(x[:, 1], torch.relu(x[:, 1]))
    r_all = corr(x.T.reshape(-1), torch.relu(x.T.reshape(-1)))
    assert r_neg < r_all - 0.05
    upper = (r_neg + r_all) / 2  # between the second site's own r and the pooled one
    layer = dynsearch.apply(TwoBranches(), ThresholdSwitch(scope="layer", lower=-0.99, upper=upper))
    glob = dynsearch.apply(TwoBranches(), ThresholdSwitch(scope="global", lower=-0.99, upper=upper))
    assert [rec["family"] for rec in _records(layer, x)] == ["sigmoid", "relu"]
    assert [rec["family"] for rec in _records(glob, x)] == ["sigmoid", "sigmoid"]


# --- target signal ----------------------------------------------------------------------------


def test_target_signal_classification() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3)),
                            ThresholdSwitch(signal="target", **NEVER_SWITCH))
    assert needs_target_signal(model)
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    logits = []
    for xb, yb in zip(x.split(20), y.split(20)):
        out = model(xb)
        observe_output(model, out, yb)
        logits.append(out.detach())
    probs = torch.softmax(torch.cat(logits), dim=1)
    expected = corr(probs, F.one_hot(y, 3).float())
    records = dynsearch.adjust(model, 0)
    assert [rec["r"] for rec in records] == pytest.approx([expected, expected], abs=tol.pearson(40 * 3))
    assert [rec["n"] for rec in records] == [40 * 3, 40 * 3]
    # After the adjustment the target statistics start afresh.
    assert dynsearch.adjust(model, 1)[0]["n"] == 0


def test_target_signal_regression_drives_the_decision() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)),
                            ThresholdSwitch(signal="target", lower=-0.5, upper=0.5))
    pred = torch.linspace(-1, 1, 50).unsqueeze(1)
    observe_output(model, pred, 3 * pred.squeeze(1) + 0.01 * torch.randn(50))  # float targets: regression
    (record,) = dynsearch.adjust(model, 0)
    assert record["r"] == pytest.approx(1.0, abs=1e-3)  # not rounding: 0.01 noise on a slope of 3 keeps r above 0.999
    assert record["family"] == "sigmoid" and record["switched"]
    observe_output(model, pred, -pred.squeeze(1))
    (record,) = dynsearch.adjust(model, 1)
    assert record["r"] == pytest.approx(-1.0, abs=tol.pearson(50))
    assert record["family"] == "tanh"


def test_integer_targets_of_one_output_are_regression() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), ThresholdSwitch(signal="target", **NEVER_SWITCH))
    pred = torch.tensor([[0.1], [0.9], [0.2], [0.8]])
    observe_output(model, pred, torch.tensor([0, 1, 0, 1]))
    (record,) = dynsearch.adjust(model, 0)
    assert record["n"] == 4
    assert record["r"] == pytest.approx(corr(pred.squeeze(1), torch.tensor([0.0, 1.0, 0.0, 1.0])), abs=tol.pearson(4))


def test_observe_output_needs_an_applied_model() -> None:
    assert not needs_target_signal(dynsearch.apply(nn.Sequential(nn.ReLU()), ThresholdSwitch()))
    with pytest.raises(ValueError, match=r"observe_output needs a model prepared by dynsearch\.apply\."):
        observe_output(nn.Sequential(nn.Linear(2, 2)), torch.zeros(2, 2), torch.zeros(2, dtype=torch.long))


# --- learned α --------------------------------------------------------------------------------


def test_learned_alpha_is_a_trained_parameter_without_weight_decay() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.1), nn.Linear(8, 8), nn.SiLU(), nn.Linear(8, 1)),
                            LearnedAlpha())
    alphas = [s.alpha_param for s in site_list(model)]
    assert all(isinstance(a, nn.Parameter) and a.requires_grad for a in alphas)
    assert {id(p) for p in model.parameters()} >= {id(a) for a in alphas}
    assert "learned" in repr(model)

    groups = parameter_groups(model, weight_decay=0.05)
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    assert [id(p) for p in groups[1]["params"]] == [id(a) for a in alphas]
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))
    assert not {id(p) for p in groups[0]["params"]} & {id(a) for a in alphas}

    x = torch.randn(64, 3) - 1.0  # many negative inputs, so the leaky slope matters
    y = x.sum(dim=1, keepdim=True)
    optimizer = torch.optim.SGD(groups, lr=0.1)
    before = [float(a.detach()) for a in alphas]
    for _ in range(5):
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        assert all(a.grad is not None and torch.isfinite(a.grad) and a.grad != 0 for a in alphas)
        optimizer.step()
    after = [s.alpha_value for s in site_list(model)]
    assert all(abs(a - b) > 1e-6 for a, b in zip(after, before))
    records = dynsearch.adjust(model, 0)
    assert [rec["alpha"] for rec in records] == pytest.approx(after)


def test_adjust_keeps_a_learned_alpha_in_range() -> None:
    model = dynsearch.apply(nn.Sequential(nn.Linear(2, 2), nn.LeakyReLU(0.1)), LearnedAlpha())
    (site,) = site_list(model)
    with torch.no_grad():
        site.alpha_param.fill_(-0.4)  # outside [0, 1]
    (record,) = dynsearch.adjust(model, 0)
    assert record["alpha"] == 0.0
    assert site.alpha_value == 0.0 and float(site.alpha) == 0.0


def test_no_alpha_group_without_learned_sites() -> None:
    model = dynsearch.apply(_tiny_mlp(), ThresholdSwitch())
    groups = parameter_groups(model, 1e-3)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 1e-3
    assert len(groups[0]["params"]) == len(list(model.parameters()))


# --- linear and threshold rules in training ------------------------------------------------------


def _train_epochs(model: nn.Module, epochs: int) -> list[list[dict]]:
    torch.manual_seed(3)
    x = torch.randn(96, 3)
    y = (x[:, :1] * 2 - x[:, 1:2]).tanh()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in zip(x.split(32), y.split(32)):
            optimizer.zero_grad()
            F.mse_loss(model(xb), yb).backward()
            optimizer.step()
        history.append(dynsearch.adjust(model, epoch))
    return history


def test_threshold_switch_during_training_changes_the_forward() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1)), ThresholdSwitch(lower=-0.9, upper=0.2))
    (site,) = site_list(model)
    z = torch.randn(100)
    torch.testing.assert_close(site(z), torch.relu(z))
    history = _train_epochs(model, 2)
    (first,) = history[0]
    assert first["r"] > 0.2  # ReLU's input and output correlate positively
    assert (first["family"], first["alpha"], first["switched"]) == ("sigmoid", 1.0, True)
    assert (site.family, site.n_switches_, site.last_switch_epoch) == ("sigmoid", 1, 0)
    torch.testing.assert_close(site(z), torch.sigmoid(z))
    (second,) = history[1]
    assert second["family"] == "sigmoid" and not second["switched"]


def test_linear_rule_during_training_sets_alpha_from_r() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(nn.Sequential(nn.Linear(3, 16), nn.ELU(), nn.Linear(16, 1)), LinearUpdate(lam=0.5))
    (site,) = site_list(model)
    for (record,) in _train_epochs(model, 2):
        assert record["alpha"] == pytest.approx(get_family("elu").clip(1.0 + 0.5 * record["r"]))
        assert record["family"] == "elu" and not record["switched"]
    z = torch.randn(100)
    torch.testing.assert_close(site(z), F.elu(z, site.alpha_value))


def test_adjust_records() -> None:
    model = dynsearch.apply(_tiny_mlp(), FixedActivation())
    model(torch.randn(4, 3))
    records = dynsearch.adjust(model, 0)
    assert [set(rec) for rec in records] == [{"site", "r", "n", "degenerate", "family", "alpha", "switched"}] * 2
    assert [rec["site"] for rec in records] == ["1", "3"]
    assert [(rec["family"], rec["alpha"], rec["switched"]) for rec in records] == [("relu", 0.0, False), ("leaky_relu", 0.1, False)]


def test_only_io_strategies_pay_for_site_statistics() -> None:
    measured = {
        "fixed": False, "learned": False,
        "threshold-io": True, "threshold-target": False, "linear-io": True,
    }
    strategies = {
        "fixed": FixedActivation(), "learned": LearnedAlpha(),
        "threshold-io": ThresholdSwitch(), "threshold-target": ThresholdSwitch(signal="target"),
        "linear-io": LinearUpdate(lam=0.2),
    }
    for key, strategy in strategies.items():
        model = dynsearch.apply(_tiny_mlp(), strategy)
        model(torch.randn(8, 3))
        assert all((s.stats.count > 0) == measured[key] for s in site_list(model)), key


def test_measure_every_beyond_an_epoch_still_measures_each_epoch_and_never_acts_blind() -> None:
    torch.manual_seed(0)
    model = dynsearch.apply(_tiny_mlp(), LinearUpdate(lam=0.5, base="elu"))
    for _, site in dynsearch.sites(model):
        site.measure_every = 16  # more than the 3 batches of an epoch below
    alphas = []
    for epoch in range(3):
        for _ in range(3):
            model(torch.randn(8, 3))
        records = dynsearch.adjust(model, epoch)
        assert all(rec["n"] > 0 for rec in records), "the first batch of every epoch is measured"
        alphas.append([rec["alpha"] for rec in records])
    # With nothing measured, a strategy must keep the site as it is rather than decide on r = 0.
    site = site_list(model)[0]
    before = site.alpha_value
    dynsearch.adjust(model, 3)
    assert site.alpha_value == before
