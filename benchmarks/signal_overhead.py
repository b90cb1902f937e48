"""Cost of measuring each signal while training, and what packing saves on trials that read them.

(a) ``train()``: whole runs (digits, MLP 64-64, batch 128, Adam) under a threshold rule whose
thresholds sit at the ends of the signal's range, so the rule reads the signal every epoch but
never switches and every run trains the same weights; each run's wall time is divided by a
``fixed`` run of the same repetition (ratios side by side, interleaved, in one process).
(b) packing: K members reading one signal each (io, dead, saturation, gradient, data, target per
unit, cycling), trained as one pack (eager) against the same members one by one with ``train()``.

Run:  python benchmarks/signal_overhead.py [--reps N] [--epochs E] [--pack-k K] [--threads T]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time

import torch

from dynsearch.data import load_dataset
from dynsearch.packed import PackMember, train_packed, train_sequential
from dynsearch.signals import get_signal_class
from dynsearch.train import TrainConfig, train

SIGNALS = [("io", "pooled"), ("io", "unit_mean"), ("target", "unit_mean"), ("dead", "pooled"),
           ("saturation", "pooled"), ("gradient", "pooled"), ("data", "pooled")]  # fmt: skip


def never_fires(signal: str, reduction: str) -> dict:
    low, high = get_signal_class(signal).value_range
    return {"name": "threshold", "params": {"signal": signal, "reduction": reduction, "lower": low, "upper": high}}


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--pack-k", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = load_dataset("digits")
    config = TrainConfig(epochs=args.epochs, patience=0)
    train(splits, {"name": "fixed", "params": {}}, config)  # warm-up

    ratios: dict[str, list[float]] = {f"{s}/{r}": [] for s, r in SIGNALS}
    rng = random.Random(0)
    for _ in range(args.reps):
        base = timed(lambda: train(splits, {"name": "fixed", "params": {}}, config))
        for signal, reduction in rng.sample(SIGNALS, len(SIGNALS)):
            strategy = never_fires(signal, reduction)
            ratios[f"{signal}/{reduction}"].append(timed(lambda s=strategy: train(splits, s, config)) / base)
    print(f"(a) train(), {args.epochs} epochs, time / fixed (median of {args.reps}, min-max):")
    for name, values in ratios.items():
        print(f"  {name:20s} {statistics.median(values):.2f}  ({min(values):.2f}-{max(values):.2f})")

    members = [PackMember(never_fires(*SIGNALS[i % len(SIGNALS)]), dataclasses.replace(config, seed=i, lr=1e-3 * (1 + i % 3)))
               for i in range(args.pack_k)]  # fmt: skip
    packed = timed(lambda: train_packed(splits, members, compile=False))
    alone = timed(lambda: train_sequential(splits, members))
    print(f"(b) {args.pack_k} members, one signal each: packed {packed:.2f}s, one by one {alone:.2f}s, "
          f"speed-up {alone / packed:.2f}x")


if __name__ == "__main__":
    main()
