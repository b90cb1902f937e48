"""The plug points in-process: model factories, dataset loaders, the fit contract and functional activations."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import dynsearch
from dynsearch.data import load_dataset
from dynsearch.factories import FactoryError, build_factory_model, check_params, model_factory
from dynsearch.fit import FitError
from dynsearch.loaders import LoaderError
from dynsearch.models import build_model
from dynsearch.train import TrainConfig, train

FIXED = {"name": "fixed", "params": {}}


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fc(x), 0.2)
        return self.out(torch.tanh(h) + F.gelu(h))


class Untraceable(Functional):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return self.out(F.relu(self.fc(x)))
        return self.out(self.fc(x).sigmoid())


def test_functional_activations_become_sites_and_keep_parameter_names() -> None:
    model = Functional()
    names = set(model.state_dict())
    x = torch.randn(5, 4)
    expected = model(x)
    converted = dynsearch.apply(model, FIXED, keep_activations=True)
    found = [(name, site.family) for name, site in dynsearch.sites(converted)]
    assert found == [("leaky_relu_act", "leaky_relu"), ("tanh_act", "tanh"), ("gelu_act", "gelu")]
    assert dynsearch.sites(converted)[0][1].alpha_value == pytest.approx(0.2)  # the call's own slope
    assert names <= set(converted.state_dict())
    torch.testing.assert_close(converted(x), expected)  # the same function, now through sites


def test_an_untraceable_model_warns_once_naming_each_fixed_activation_and_strict_raises() -> None:
    model = nn.Sequential(Untraceable(), nn.ReLU())
    with pytest.warns(UserWarning) as caught:
        dynsearch.apply(model, FIXED)
    messages = [str(w.message) for w in caught if "stay fixed" in str(w.message)]
    assert len(messages) == 1
    assert "0: F.relu(self.fc(x))" in messages[0] and "0: self.fc(x).sigmoid()" in messages[0]
    with pytest.raises(ValueError, match="does not trace"):
        dynsearch.apply(nn.Sequential(Untraceable(), nn.ReLU()), FIXED, strict=True)


def test_a_model_without_any_activation_is_an_error() -> None:
    with pytest.raises(ValueError, match="no activation module"):
        dynsearch.apply(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1)), FIXED)


def test_a_plain_module_model_is_left_as_it_is() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = dynsearch.apply(build_model("cnn", input_shape=(1, 8, 8), n_outputs=10), FIXED)
    assert type(model).__name__ == "SmallCNN"  # never traced: it calls no activation function


def test_builtin_models_are_registered_factories_behind_the_same_call() -> None:
    torch.manual_seed(0)
    direct = build_model("mlp", input_shape=(4,), n_outputs=3, hidden=(8,))
    torch.manual_seed(0)
    via = model_factory("mlp")((4,), 3, hidden=(8,))
    assert str(direct) == str(via)
    assert all(torch.equal(a, b) for a, b in zip(direct.state_dict().values(), via.state_dict().values()))


def test_register_model_and_its_parameters_are_checked_before_training() -> None:
    @dynsearch.register_model("tiny_test_net")
    def tiny(input_shape: tuple[int, ...], n_outputs: int, width: int = 4) -> nn.Module:
        return nn.Sequential(nn.Linear(input_shape[0], width), nn.ReLU(), nn.Linear(width, n_outputs))

    splits = load_dataset("iris")
    result = train(splits, FIXED, TrainConfig(epochs=2, factory="tiny_test_net", model_params={"width": 6}))
    assert result.status == "ok" and len(result.history) == 2 and result.history[0].sites[0]["site"] == "1"
    with pytest.raises(FactoryError, match="does not accept 'depth'; it accepts: width"):
        check_params("tiny_test_net", ["depth"])
    dynsearch.register_model("own_test_int")(lambda input_shape, n_outputs: 3)
    with pytest.raises(FactoryError, match="returned int, not a torch nn.Module"):
        build_factory_model("own_test_int", (2,), 2, {})


def test_a_loader_returns_tensors_or_datasets_and_the_task_is_told_from_y() -> None:
    x = torch.randn(30, 2, 3)

    @dynsearch.register_loader("own_test_loader")
    def loader(n: int = 30) -> dynsearch.LoadedData:
        y = torch.arange(n) % 3
        return dynsearch.LoadedData(x[:20], y[:20], TensorDataset(x[20:25], y[20:25]), None, x[25:], y[25:])

    splits = load_dataset("own_test_loader")
    assert (splits.task, splits.n_outputs, splits.input_shape, splits.n_features) == ("classification", 3, (2, 3), 6)
    assert tuple(splits.x_val.shape) == (5, 6) and splits.y_val.dtype == torch.int64
    torch.testing.assert_close(splits.x_train, x[:20].reshape(20, 6))

    @dynsearch.register_loader("own_test_regression")
    def regression() -> dict:
        xs, ys = torch.randn(12, 2), torch.randn(12)
        return {"x_train": xs[:8], "y_train": ys[:8], "x_val": xs[8:10], "y_val": ys[8:10], "x_test": xs[10:],
                "y_test": ys[10:]}  # fmt: skip

    assert load_dataset("own_test_regression").task == "regression"
    with pytest.raises(LoaderError, match="does not accept 'm'"):
        load_dataset("own_test_loader", m=3)


def _user_fit(model: nn.Module, data, strategy, ctx: dynsearch.FitContext) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=ctx.config.lr)
    for epoch in range(ctx.config.epochs):
        for xb, yb in ctx.batches():
            optimizer.zero_grad()
            ctx.loss(model(xb), yb).backward()
            optimizer.step()
        ctx.adjust(epoch)
        if ctx.report(epoch, ctx.evaluate()[1]):
            return


def test_a_user_fit_gives_the_same_result_shape_and_the_pruner_stops_it() -> None:
    import tests_own_fit_module  # noqa: F401 - registered below

    splits = load_dataset("iris")
    config = TrainConfig(epochs=3, hidden=(8,), fit="tests_own_fit_module:fit")
    result = train(splits, {"name": "threshold", "params": {"lower": -0.5, "upper": 0.5}}, config, evaluate_test=True)
    assert result.status == "ok" and [r.epoch for r in result.history] == [0, 1, 2]
    assert result.best_epoch in (0, 1, 2) and result.test_metric is not None and math.isfinite(result.test_metric)
    assert all(len(r.sites) == 1 for r in result.history)  # the strategy's records, from ctx.adjust

    class Pruned(Exception):
        pass

    seen: list[int] = []

    def prune(epoch: int, value: float) -> None:
        seen.append(epoch)
        raise Pruned

    with pytest.raises(Pruned):  # raised once fit has returned, as the search expects
        train(splits, FIXED, config, on_epoch=prune)
    assert seen == [0]


def test_a_fit_that_never_reports_is_an_error() -> None:
    import tests_own_fit_module  # noqa: F401

    with pytest.raises(FitError, match="without calling ctx.report"):
        train(load_dataset("iris"), FIXED, TrainConfig(epochs=1, fit="tests_own_fit_module:silent"))


@pytest.fixture(autouse=True)
def _fit_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module of fit functions importable by name, as a plugin would be."""
    import sys
    import types

    module = types.ModuleType("tests_own_fit_module")
    module.fit = _user_fit  # type: ignore[attr-defined]
    module.silent = lambda model, data, strategy, ctx: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tests_own_fit_module", module)
