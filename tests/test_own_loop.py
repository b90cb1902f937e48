"""dynsearch in a user's own training loop: which activation a site starts from, and misuse that says so."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import dynsearch
from dynsearch.data import iter_batches, load_dataset


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))


def _families(model: nn.Module) -> list[str]:
    return [site.family for _, site in dynsearch.sites(model)]


def test_a_config_base_replaces_every_activation_unless_kept() -> None:
    strategy = dynsearch.ThresholdSwitch(base="sigmoid", lower=-0.5, upper=0.5)
    assert _families(dynsearch.apply(_model(), strategy)) == ["sigmoid", "sigmoid"]
    kept = dynsearch.apply(_model(), strategy, keep_activations=True)
    assert _families(kept) == ["tanh", "relu"]
    # Only the base is dropped: the rule is the config's.
    assert dynsearch.sites(kept)[0][1].strategy.upper == 0.5
    assert strategy.base == "sigmoid"  # the caller's strategy object is left as it was


def _epoch(model: nn.Module, optimizer: torch.optim.Optimizer, splits, *, observe: bool) -> None:
    for xb, yb in iter_batches(splits.x_train, splits.y_train, 32, generator=torch.Generator().manual_seed(0)):
        optimizer.zero_grad()
        output = model(xb)
        nn.functional.cross_entropy(output, yb).backward()
        optimizer.step()
        if observe:
            dynsearch.observe_output(model, output, yb)


def test_a_target_signal_never_observed_warns_once() -> None:
    splits = load_dataset("iris")
    model = dynsearch.apply(_model(), dynsearch.LinearUpdate(signal="target", lam=0.5, base="relu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with pytest.warns(UserWarning, match="observe_output") as caught:
        for epoch in range(3):
            _epoch(model, optimizer, splits, observe=False)
            dynsearch.adjust(model, epoch)
    assert sum("observe_output" in str(w.message) for w in caught) == 1
    assert {site.alpha_value for _, site in dynsearch.sites(model)} == {0.0}  # it never acted


def test_an_observed_target_signal_acts_without_warning() -> None:
    splits = load_dataset("iris")
    model = dynsearch.apply(_model(), dynsearch.LinearUpdate(signal="target", lam=0.5, base="leaky_relu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _epoch(model, optimizer, splits, observe=True)
        records = dynsearch.adjust(model, 0)
    assert records[0]["n"] > 0 and records[0]["alpha"] != dynsearch.get_family("leaky_relu").alpha_default
