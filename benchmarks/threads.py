"""One process with 1 torch thread against one with every core: what ``dynsearch train`` and ``report --jobs 1`` get.

Several processes (``run``, ``calibrate``, ``report`` with more than one job) each take cores / processes
threads, so they never oversubscribe the cores. A single process keeps torch's default (one thread per
core); this measures whether one thread would be faster there. It trains, in one process, the same run
alone with ``train()`` and a pack of 16 members (half fixed, half a threshold rule on io, as a report's
packs mix them) on digits, MLP [64, 64], 20 epochs, batch 64, alternating the thread counts ``--reps``
times, and prints the medians with the load average before and after.

Run:  python benchmarks/threads.py [--reps 3] [--epochs 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dynsearch.data import load_dataset  # noqa: E402
from dynsearch.packed import PackMember, train_packed  # noqa: E402
from dynsearch.train import TrainConfig, train  # noqa: E402

_FIXED = {"name": "fixed", "params": {}}
_THRESHOLD = {"name": "threshold", "params": {"signal": "io", "lower": 0.3, "upper": 0.8}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    splits = load_dataset("digits")
    config = TrainConfig(epochs=args.epochs, hidden=(64, 64), batch_size=64, patience=0)
    members = [PackMember(_THRESHOLD if i % 2 else _FIXED, dataclasses.replace(config, seed=i, lr=1e-3 * (1 + i / 10)))
               for i in range(16)]  # fmt: skip
    print(f"torch {torch.__version__}, {cores} cores, load average {os.getloadavg()[0]:.2f} at start")
    times: dict[tuple[int, str], list[float]] = {}
    for rep in range(args.reps):
        for threads in sorted({1, cores}):
            torch.set_num_threads(threads)
            started = time.perf_counter()
            train(splits, _FIXED, config)
            alone = time.perf_counter() - started
            started = time.perf_counter()
            train_packed(splits, members, compile=False)
            packed = time.perf_counter() - started
            times.setdefault((threads, "train"), []).append(alone)
            times.setdefault((threads, "pack of 16"), []).append(packed)
            print(f"  rep {rep} threads {threads}: train {alone:.2f} s, pack of 16 {packed:.2f} s", flush=True)
    for (threads, what), values in sorted(times.items()):
        print(f"{what:>10}, {threads} thread(s): median {statistics.median(values):.2f} s")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
