"""A site's runtime state (Pearson sums, counters, the network's target statistics) follows the
state_dict and the device, so nothing is silently dropped."""

from __future__ import annotations

import io

import pytest
import tolerances as tol
import torch
from torch import nn

import dynsearch
from dynsearch.sites import observe_output, target_stats


def _model(strategy: dynsearch.Strategy) -> nn.Module:
    torch.manual_seed(0)
    return dynsearch.apply(nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2)), strategy)


def _train_batches(model: nn.Module, n: int) -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(n):
        x = torch.randn(16, 3, generator=gen)
        y = torch.randint(0, 2, (16,), generator=gen)
        out = model(x)
        observe_output(model, out, y)


def _round_trip(model: nn.Module) -> dict:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def test_state_dict_round_trip_carries_sums_counters_and_target_statistics() -> None:
    model = _model(dynsearch.ThresholdSwitch(lower=-0.99, upper=0.99))
    _train_batches(model, 3)
    model[1].n_switches_, model[1].last_switch_epoch = 2, 5
    expected = [(site.stats.compute(), site.stats.count, site._forward_calls) for _, site in dynsearch.sites(model)]
    expected_target = target_stats(model).compute()
    assert {"1.stats.gram", "1.stats.shift", "1.target_stats.gram", "3.stats.gram", "1._extra_state"} <= set(model.state_dict())

    fresh = _model(dynsearch.ThresholdSwitch(lower=-0.99, upper=0.99))
    assert all(site.stats.count == 0 for _, site in dynsearch.sites(fresh))
    fresh.load_state_dict(_round_trip(model))
    got = [(site.stats.compute(), site.stats.count, site._forward_calls) for _, site in dynsearch.sites(fresh)]
    assert got == expected and expected[0][1] == 3 * 16 * 6
    assert target_stats(fresh).compute() == expected_target and expected_target.n == 3 * 16 * 2
    assert (fresh[1].n_switches_, fresh[1].last_switch_epoch) == (2, 5)
    # Statistics restored mid-epoch go on accumulating exactly as the original's do.
    _train_batches(model, 2)
    _train_batches(fresh, 2)
    assert [s.stats.compute() for _, s in dynsearch.sites(fresh)] == [s.stats.compute() for _, s in dynsearch.sites(model)]


def test_an_old_state_dict_without_statistics_still_loads() -> None:
    model = _model(dynsearch.ThresholdSwitch())
    old = {k: v for k, v in model.state_dict().items() if "stats" not in k and not k.endswith("_extra_state")}
    fresh = _model(dynsearch.ThresholdSwitch())
    fresh.load_state_dict(old)  # strict: the statistics simply start afresh
    assert all(site.stats.count == 0 for _, site in dynsearch.sites(fresh))


def test_casting_keeps_the_sums_in_float64() -> None:
    model = _model(dynsearch.ThresholdSwitch()).half()
    assert model[1].stats.gram.dtype == torch.float64
    assert model[1].target_stats.gram.dtype == torch.float64


def _second_device() -> str | None:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return None


@pytest.mark.skipif(_second_device() is None, reason="needs a second device (CUDA or MPS); this machine has only the CPU")
def test_moving_a_site_between_devices_mid_epoch_keeps_its_statistics() -> None:
    device = _second_device()
    model = _model(dynsearch.ThresholdSwitch())
    reference = _model(dynsearch.ThresholdSwitch())
    _train_batches(model, 2)
    _train_batches(reference, 2)
    model.to(device)
    assert model[1].stats.gram.device.type == device
    gen = torch.Generator().manual_seed(1)
    for _ in range(2):
        x = torch.randn(16, 3, generator=gen)
        model(x.to(device))
        reference(x)
    for (_, moved), (_, kept) in zip(dynsearch.sites(model), dynsearch.sites(reference)):
        assert moved.stats.count == kept.stats.count
        assert moved.stats.compute().r == pytest.approx(kept.stats.compute().r, abs=tol.pearson(kept.stats.count))
