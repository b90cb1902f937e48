"""Where each signal lies, and how far it moves, while fixed activations train.

Trains an MLP (two hidden layers of 64, Adam lr 3e-3, batch 64, seed 0) with one fixed family on
each dataset and records every built-in signal per site and epoch with ``SignalRecorder``. Prints,
per dataset, family, site and signal, the value after the first epoch, after the last, and the
range over all epochs. Run from the repository root:

    .venv/bin/python benchmarks/signal_spread.py --datasets digits breast_cancer --families relu tanh --epochs 15
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynsearch.activations import activation_module  # noqa: E402
from dynsearch.data import describe_dataset, iter_batches, load_dataset  # noqa: E402
from dynsearch.signals import NETWORK, SignalRecorder  # noqa: E402

SIGNALS = ["io", "dead", "saturation", "gradient", "target", "data"]


def run(dataset: str, family: str, epochs: int) -> dict[tuple[str, str], list[float]]:
    splits = load_dataset(dataset)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(splits.n_features, 64), activation_module(family), nn.Linear(64, 64),
                          activation_module(family), nn.Linear(64, splits.n_outputs))  # fmt: skip
    series: dict[tuple[str, str], list[float]] = {}
    # Two recorders: one records each signal name once, and io is wanted with both reductions.
    recorder = SignalRecorder(model, SIGNALS)
    unit = SignalRecorder(model, [{"name": "io", "params": {"reduction": "unit_mean"}}])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    classify = splits.task == "classification"
    for _ in range(epochs):
        model.train()
        for xb, yb in iter_batches(splits.x_train, splits.y_train, 64, generator=generator):
            optimizer.zero_grad()
            out = model(xb)
            loss = nn.functional.cross_entropy(out, yb) if classify else nn.functional.mse_loss(out[:, 0], yb)
            loss.backward()
            optimizer.step()
            recorder.observe_output(out, yb)
            recorder.observe_input(xb, yb)
        values = recorder.epoch_values()
        for site, signals in values.items():
            for name, (value, _, _) in signals.items():
                series.setdefault((site, name), []).append(value)
        for site, signals in unit.epoch_values().items():
            series.setdefault((site, "io/unit_mean"), []).append(signals["io"][0])
    recorder.close()
    unit.close()
    print(f"# {describe_dataset(splits)}; fixed {family}, {epochs} epochs", file=sys.stderr)
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "breast_cancer"])
    parser.add_argument("--families", nargs="+", default=["relu", "tanh"])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    print("| dataset | family | site | signal | epoch 1 | last epoch | min .. max over epochs |")
    print("|---|---|---|---|---|---|---|")
    for dataset in args.datasets:
        for family in args.families:
            series = run(dataset, family, args.epochs)
            for (site, name), values in sorted(series.items(), key=lambda kv: (kv[0][0] != NETWORK, kv[0])):
                print(f"| {dataset} | {family} | {site} | {name} | {values[0]:.3f} | {values[-1]:.3f} | "
                      f"{min(values):.3f} .. {max(values):.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
