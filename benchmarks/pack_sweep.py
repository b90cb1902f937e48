"""Packed trials: trials per minute against the pack size K, and eager against compiled.

What it measures, in one process on one torch thread (a worker's share of a core):

* ``alone``: ``dynsearch.train`` one trial at a time (what a worker did before packs);
* (b) ``K = 1, 4, 16, 64, 256``: one pack of K trials trained by ``train_packed`` (eager);
* (c) eager against compiled at one K: the compiled pack twice, the first run paying for the
  compilation and the second reusing it, as a worker's later packs of the same shape do.

The work is the issue's: digits (flat 64 features, 1077 training rows), MLP 64-64, batch 128,
no early stopping; each trial has its own seed, learning rate (log-spaced 3e-4 to 3e-2) and
base activation (relu, tanh, elu, silu in turn), so families mix within a pack as in a search.
``--epochs`` (default 30) shortens every run alike. Trials/min = trials / wall seconds x 60.
Peak memory is the process's peak resident set after each pack (it only grows, so K rises).
The PNG plots trials/min against K.

Run:  python benchmarks/pack_sweep.py [--epochs 30] [--sizes 1,4,16,64,256] [--compile-k 64] [--png PATH] [--device cuda]
      (on a GPU it also prints each pack's peak GPU memory; benchmarks/gpu_check.sh runs it at K = 1, 64, 256, 1024)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

try:
    import dynsearch  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dynsearch.data import load_dataset
from dynsearch.packed import PackMember, auto_pack_size, member_footprint, train_packed
from dynsearch.train import TrainConfig, train

BASES = ("relu", "tanh", "elu", "silu")


def members(k: int, epochs: int, offset: int = 0) -> list[PackMember]:
    out = []
    for i in range(offset, offset + k):
        lr = 3e-4 * 100 ** ((i * 0.618) % 1.0)  # spread over [3e-4, 3e-2] like a log-uniform search
        config = TrainConfig(epochs=epochs, seed=i, model="mlp", hidden=(64, 64), batch_size=128, lr=lr, patience=0)
        out.append(PackMember({"name": "fixed", "params": {"base": BASES[i % len(BASES)]}}, config))
    return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_device_mib(device: torch.device) -> float | None:
    """The most GPU memory torch has held since the last reset (None on the CPU), then reset."""
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    torch.cuda.reset_peak_memory_stats(device)
    return peak


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--sizes", default="1,4,16,64,256", help="pack sizes, comma-separated")
    parser.add_argument("--alone", type=int, default=4, help="trials trained one at a time for the baseline")
    parser.add_argument("--compile-k", type=int, default=64, help="pack size for eager vs compiled (0: skip)")
    parser.add_argument("--png", default="benchmarks/pack_sweep.png")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: where the data and the packs live")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device(args.device)
    splits = load_dataset("digits", device=device)
    sizes = [int(s) for s in args.sizes.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"1 thread; 1-min load average {load:.2f} (this run counts ~1)")
    print(f"digits, MLP 64-64, batch 128, {args.epochs} epochs; auto_pack_size here: "
          f"{auto_pack_size(splits, members(1, args.epochs)[0].config)}; "
          f"one member ~{member_footprint(splits, members(1, args.epochs)[0].config).total_bytes / 2**20:.2f} MiB")
    rows: dict[str, dict[str, float]] = {}
    warm = members(1, 1, offset=20_000)  # first calls pay for lazy initialization: not timed
    train(splits, warm[0].strategy, warm[0].config)
    train_packed(splits, warm, compile=False)
    alone = members(args.alone, args.epochs, offset=10_000)
    seconds = timed(lambda: [train(splits, m.strategy, m.config) for m in alone])
    rows["alone"] = {"k": 1, "seconds": seconds, "trials_per_min": 60 * len(alone) / seconds}
    print(f"{'alone (train)':>16}: {rows['alone']['trials_per_min']:8.0f} trials/min  ({seconds:.1f} s for {len(alone)})")
    peak_device_mib(device)
    for k in sizes:
        pack = members(k, args.epochs)
        seconds = timed(lambda pack=pack: train_packed(splits, pack, compile=False))
        gpu = peak_device_mib(device)
        rows[f"K={k}"] = {"k": k, "seconds": seconds, "trials_per_min": 60 * k / seconds, "peak_rss_mib": peak_rss_mib(),
                          **({"peak_gpu_mib": gpu} if gpu is not None else {})}  # fmt: skip
        memory = f", peak GPU memory {gpu:.0f} MiB" if gpu is not None else ""
        print(f"{f'K={k} eager':>16}: {60 * k / seconds:8.0f} trials/min  ({seconds:.1f} s)  "
              f"x{60 * k / seconds / rows['alone']['trials_per_min']:.1f} vs alone, peak RSS {peak_rss_mib():.0f} MiB{memory}",
              flush=True)  # fmt: skip
    if args.compile_k:
        k = args.compile_k
        for label in ("compiled (first)", "compiled (reuse)"):
            pack = members(k, args.epochs, offset=1000 if "first" in label else 2000)
            seconds = timed(lambda pack=pack: train_packed(splits, pack, compile=True))
            rows[f"K={k} {label}"] = {"k": k, "seconds": seconds, "trials_per_min": 60 * k / seconds}
            eager = rows.get(f"K={k}")
            ratio = f"  x{eager['seconds'] / seconds:.2f} vs eager" if eager else ""
            print(f"{f'K={k} {label}':>16}: {60 * k / seconds:8.0f} trials/min  ({seconds:.1f} s){ratio}", flush=True)
    if hasattr(os, "getloadavg"):
        print(f"1-min load average at the end: {os.getloadavg()[0]:.2f}")
    plot(rows, sizes, args.png)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def plot(rows: dict[str, dict[str, float]], sizes: list[int], path: str) -> None:
    try:
        import matplotlib
    except ImportError:  # e.g. gpu_check.sh's minimal environment: the table is the result
        print("plot: skipped (matplotlib is not installed)")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(sizes, [rows[f"K={k}"]["trials_per_min"] for k in sizes], "o-", label="packed, eager")
    ax.axhline(rows["alone"]["trials_per_min"], color="grey", linestyle="--", label="one trial at a time")
    for key, row in rows.items():
        if "compiled (reuse)" in key:
            ax.plot([row["k"]], [row["trials_per_min"]], "s", color="C3", label="packed, compiled")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("pack size K")
    ax.set_ylabel("trials / min (1 thread)")
    ax.set_title("digits, MLP 64-64, batch 128")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    raise SystemExit(main())
