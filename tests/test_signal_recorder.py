"""SignalRecorder: every signal measured through hooks during real training, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import tolerances as tol
import torch
from torch import nn

import dynsearch
from dynsearch.data import iter_batches, load_dataset
from dynsearch.signals import NETWORK, SignalRecorder, get_signal_class

ALL = ["io", "target", "dead", "saturation", "gradient", "data"]


def np_r(x, y) -> float:
    return float(np.corrcoef(np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel())[0, 1])


def _train(model, splits, recorder, epochs: int, capture=None) -> list[dict]:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    per_epoch = []
    for _ in range(epochs):
        model.train()
        for xb, yb in iter_batches(splits.x_train, splits.y_train, 32, generator=generator):
            optimizer.zero_grad()
            out = model(xb)
            nn.functional.cross_entropy(out, yb).backward()
            optimizer.step()
            recorder.observe_output(out, yb)
            recorder.observe_input(xb, yb)
        per_epoch.append(recorder.epoch_values())
    return per_epoch


@pytest.fixture(scope="module")
def cancer():
    return load_dataset("breast_cancer")


def test_recorder_measures_every_signal_during_training(cancer) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    recorder = SignalRecorder(model, ALL)
    epochs = _train(model, cancer, recorder, 4)
    assert set(epochs[0]) == {"1", "3", NETWORK}
    assert set(epochs[0]["1"]) == {"io", "dead", "saturation", "gradient"} and set(epochs[0][NETWORK]) == {"target", "data"}
    n_train = len(cancer.y_train)
    for values in epochs:
        for site, signals in values.items():
            for name, (value, _n, degenerate) in signals.items():
                low, high = get_signal_class(name).value_range
                assert low <= value <= high and not degenerate, (site, name, value)
        assert values["1"]["io"][1] == n_train * 16  # every element of the epoch
    # data: the literal r(x, y) over the train split, the same every epoch.
    x, y = cancer.x_train.double().numpy(), cancer.y_train.double().numpy()
    literal = np_r(x, np.repeat(y[:, None], 30, axis=1))
    assert [e[NETWORK]["data"][0] for e in epochs] == pytest.approx([literal] * 4, abs=tol.pearson(n_train * 30))
    # target: a progress measure, it rises as the network fits.
    assert epochs[-1][NETWORK]["target"][0] > epochs[0][NETWORK]["target"][0] + 0.2
    # Family-aware signals: tanh is dead only where 1 - tanh²(z) rounds to 0 in float32 (|z| > 9), a
    # subset of its saturated elements; relu's dead share is its share of z <= 0.
    tanh_site = epochs[-1]["1"]
    assert tanh_site["dead"][0] < 0.05 and tanh_site["dead"][0] <= tanh_site["saturation"][0]
    assert 0.05 < epochs[-1]["3"]["dead"][0] < 0.95
    assert epochs[-1]["3"]["dead"][0] == epochs[-1]["3"]["saturation"][0]  # relu's slope is 0 or 1
    recorder.close()


def test_recorder_site_values_equal_numpy_on_the_captured_epoch(cancer) -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 2))
    seen = []
    model[1].register_forward_hook(lambda m, i, o: seen.append((i[0].detach().clone(), o.detach().clone())))
    recorder = SignalRecorder(model, ["io", "dead"])
    (values,) = _train(model, cancer, recorder, 1)
    z = torch.cat([s[0] for s in seen]).numpy()
    fz = torch.cat([s[1] for s in seen]).numpy()
    assert values["1"]["io"][0] == pytest.approx(np_r(z, fz), abs=tol.pearson(z.size))
    assert values["1"]["dead"][0] == pytest.approx(float((z <= 0).mean()))


def test_recorder_reads_sites_and_global_values_and_leaves_the_model_as_it_was(cancer) -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    dynsearch.apply(model, dynsearch.make_strategy("fixed", base="sigmoid"))
    recorder = SignalRecorder(model, ["io", {"name": "saturation", "params": {"eps": 0.2}}])
    model.train()
    out = model(cancer.x_train[:64])
    global_io = recorder.global_values()["io"][0]
    per_site = recorder.epoch_values(reset=False)
    assert set(per_site) == {"1", "3"}
    assert min(v["io"][0] for v in per_site.values()) <= global_io <= 1.0
    assert per_site["1"]["saturation"][0] > 0.0  # sigmoid slopes are at most 0.25: some are below 0.2
    model.eval()
    model(cancer.x_val)  # not recorded: evaluation
    assert recorder.epoch_values()["1"]["io"][1] == 64 * 8
    recorder.close()
    model.train()
    model(cancer.x_train[:64])
    assert recorder.epoch_values() == {}
    assert out.shape == (64, 2)


def test_recorder_errors() -> None:
    with pytest.raises(ValueError, match="has no activation module"):
        SignalRecorder(nn.Sequential(nn.Linear(2, 2)), ["io"])
    with pytest.raises(ValueError, match="records each signal once"):
        SignalRecorder(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), ["io", "io"])
