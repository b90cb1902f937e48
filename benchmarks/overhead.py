"""Per-epoch training-time overhead of dynsearch's activation sites against a plain torch MLP.

What it measures: the wall time of one training epoch of the same MLP (2 x 256 hidden, batch 128,
Adam, cross entropy) on the ``digits`` dataset (flat 64 features, 1077 training rows, so 9
batches an epoch), under these variants:

* ``plain``            nn.Sequential with nn.ReLU, no dynsearch at all;
* ``fixed``            ``dynsearch.apply(model, FixedActivation())`` plus ``dynsearch.adjust`` each epoch;
* ``threshold-layer``, ``threshold-global``, ``linear-layer``, ``linear-global``: the dynamic
  strategies with their default parameters, measuring r on every training batch;
* the same four with ``/4``: ``measure_every = 4`` on every site (r from one batch in four).

Why: the write-up names "extra compute" as an open problem of dynamic activations. On a tiny CPU
model the per-op cost of measuring r (a few extra tensor ops per site per batch) is a visible
fraction of the step, so this is the worst case; bigger models amortize it.

How it stays fair: every variant runs the very same loop (``run_epoch``; only the model and the
end-of-epoch hook differ: none for plain, ``dynsearch.adjust`` for the others), starting from the
same seed-0 weights, with batches sliced from on-device tensors by ``dynsearch.data.iter_batches``.
Repetitions are interleaved in one process (for each rep, every variant trains one epoch, in a
freshly shuffled order so no variant always runs first); the first ``--warmup`` reps are thrown
away. Per variant we report the median epoch time and, per rep, the ratio to that rep's plain
epoch: its median and interquartile range (the spread). ``adjust`` is inside the timed epoch.
Note that a dynamic strategy may change a site's family (threshold: relu to sigmoid / tanh;
linear: relu to a leaky slope), which changes the activation's own cost too; the families
each variant ended with are printed so that effect is visible, not hidden.

Part (b), the packed engine: a pack of K fixed members against a pack of K dynamic members
(same seeds, learning rates and model), whole ``train_packed`` runs alternated in one process,
eager. ``threshold-never`` (thresholds at ±1, so it measures r every batch and decides every
epoch but never switches) isolates the cost of the signal; ``threshold`` and ``linear`` with
their defaults add what their decisions change (families, per-member α).

Run:  python benchmarks/overhead.py [--reps N] [--threads T] [--json PATH] [--pack-k K] [--pack-reps N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

try:
    import dynsearch
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import dynsearch
from dynsearch.data import iter_batches, load_dataset
from dynsearch.models import mlp

HIDDEN = (256, 256)
BATCH = 128
TARGET = 1.03

DYNAMIC = {
    "threshold-layer": lambda: dynsearch.ThresholdSwitch(scope="layer"),
    "threshold-global": lambda: dynsearch.ThresholdSwitch(scope="global"),
    "linear-layer": lambda: dynsearch.LinearUpdate(scope="layer"),
    "linear-global": lambda: dynsearch.LinearUpdate(scope="global"),
}


class Variant:
    """One model, its optimizer, its data-order generator and the times it took."""

    def __init__(self, name: str, model: nn.Module, hook: Callable[[nn.Module, int], object] | None) -> None:
        self.name, self.model, self.hook = name, model, hook
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.generator = torch.Generator().manual_seed(0)
        self.epoch = 0
        self.times: list[float] = []


def build_variants(splits, names: list[str]) -> list[Variant]:
    def fresh() -> nn.Module:
        torch.manual_seed(0)  # the same initial weights for every variant
        return mlp(splits.n_features, HIDDEN, splits.n_outputs, activation="relu").to(splits.device)

    variants = []
    for name in names:
        model = fresh()
        if name == "plain":
            variants.append(Variant(name, model, None))
            continue
        base, _, every = name.partition("/")
        strategy = dynsearch.FixedActivation() if base == "fixed" else DYNAMIC[base]()
        model = dynsearch.apply(model, strategy)
        for _, site in dynsearch.sites(model):
            site.measure_every = int(every or 1)
        variants.append(Variant(name, model, dynsearch.adjust))
    return variants


def run_epoch(v: Variant, x: torch.Tensor, y: torch.Tensor) -> float:
    """One training epoch, identical for every variant; returns its wall time in seconds."""
    start = time.perf_counter()
    v.model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    for xb, yb in iter_batches(x, y, BATCH, generator=v.generator):
        v.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(v.model(xb), yb)
        loss.backward()
        v.optimizer.step()
        loss_sum += loss.detach()
    float(loss_sum)  # one host sync per epoch, as in dynsearch.train
    if v.hook is not None:
        v.hook(v.model, v.epoch)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    v.epoch += 1
    return time.perf_counter() - start


PACK_DYNAMIC = {
    "threshold-never": {"name": "threshold", "params": {"lower": -1.0, "upper": 1.0}},
    "threshold": {"name": "threshold", "params": {}},
    "linear": {"name": "linear", "params": {}},
}


def packed_overhead(splits, k: int, reps: int, epochs: int = 3) -> list[dict[str, object]]:
    """(b): dynamic packs against a fixed pack, each rep alternating every pack once."""
    from dynsearch.packed import PackMember, train_packed
    from dynsearch.train import TrainConfig

    def pack(strategy: dict) -> list:
        return [PackMember(strategy, TrainConfig(epochs=epochs, seed=i, model="mlp", hidden=HIDDEN, batch_size=BATCH,
                                                 lr=1e-3, patience=0, measure_every=1)) for i in range(k)]

    packs = {"fixed": pack({"name": "fixed", "params": {}}), **{n: pack(c) for n, c in PACK_DYNAMIC.items()}}
    times: dict[str, list[float]] = {name: [] for name in packs}
    order = random.Random(1)
    names = list(packs)
    for rep in range(reps + 1):
        order.shuffle(names)
        for name in names:
            start = time.perf_counter()
            train_packed(splits, packs[name], compile=False)
            if rep:  # the first rep warms up
                times[name].append(time.perf_counter() - start)
    print(f"\n(b) packed engine, K={k} members, {epochs} epochs a run, {reps} alternated runs each, eager:")
    print(f"{'pack':<20}{'median s':>10}{'ratio':>8}{'IQR of ratio':>18}{'ratio of medians':>18}")
    rows = []
    fixed_median = statistics.median(times["fixed"])
    for name in packs:
        ratios = [t / f for t, f in zip(times[name], times["fixed"])]
        q1, med, q3 = quartiles(ratios)
        of_medians = statistics.median(times[name]) / fixed_median
        rows.append({"pack": name, "median_s": statistics.median(times[name]), "ratio_median": med,
                     "ratio_q1": q1, "ratio_q3": q3, "ratio_of_medians": of_medians})
        print(f"{name:<20}{statistics.median(times[name]):>10.3f}{med:>8.3f}{q1:>9.3f}-{q3:.3f}{of_medians:>18.3f}")
    for row in rows[1:]:
        met = row["ratio_median"] <= TARGET
        print(f"target dynamic/fixed members <= {TARGET}: {row['pack']} {row['ratio_median']:.3f}x "
              f"{'MET' if met else 'NOT MET'}")
    return rows


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, med, q3


def families(model: nn.Module) -> str:
    found = [f"{s.family}({s.alpha_value:.2g})" if s.family == "relu" and s.alpha_value else s.family
             for _, s in dynsearch.sites(model)]
    return ",".join(found) if found else "relu,relu (nn.ReLU)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def time_variants(variants: list, splits, warmup: int, reps: int, budget: float) -> float:
    """Time one epoch of every variant per rep, in a shuffled order each rep (so drift hits all alike);
    the first ``warmup`` reps are thrown away. Returns the seconds spent."""
    order = random.Random(0)
    started = time.perf_counter()
    for rep in range(warmup + reps):
        order.shuffle(variants)
        for v in variants:
            t = run_epoch(v, splits.x_train, splits.y_train)
            if rep >= warmup:
                v.times.append(t)
        if time.perf_counter() - started > budget and rep >= warmup + 3:
            break
    return time.perf_counter() - started


def ratio_rows(names: list[str], by_name: dict) -> list[dict]:
    """Per variant: median epoch time, and the quartiles of its rep-by-rep ratio to the plain model."""
    plain = by_name["plain"].times
    rows = []
    for name in names:
        v = by_name[name]
        ratios = [t / p for t, p in zip(v.times, plain)]
        _, t_med, _ = quartiles(v.times)
        r_q1, r_med, r_q3 = quartiles(ratios)
        rows.append({"variant": name, "median_ms": 1e3 * t_med, "ratio_median": r_med,
                     "ratio_q1": r_q1, "ratio_q3": r_q3, "families_at_end": families(v.model)})
    return rows


def print_rows(rows: list[dict]) -> None:
    print(f"{'variant':<20}{'median ms':>10}{'ratio':>8}{'IQR of ratio':>18}   families at end")
    for r in rows:
        print(f"{r['variant']:<20}{r['median_ms']:>10.2f}{r['ratio_median']:>8.3f}"
              f"{r['ratio_q1']:>9.3f}-{r['ratio_q3']:.3f}   {r['families_at_end']}")
    print()
    for r in rows[2:]:
        met = r["ratio_median"] <= TARGET
        print(f"target dynamic/plain <= {TARGET}: {r['variant']} {r['ratio_median']:.3f}x "
              f"{'MET' if met else 'NOT MET'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=300, help="timed epochs per variant after warm-up (default 300)")
    parser.add_argument("--warmup", type=int, default=5, help="leading reps thrown away (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1; try 2 too)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="stop after the rep that passes this many seconds (default 120); fewer reps are reported")
    parser.add_argument("--device", default="cpu", help="device for data and models (default cpu)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to PATH as JSON")
    parser.add_argument("--pack-k", type=int, default=16, help="members per pack in part (b) (default 16)")
    parser.add_argument("--pack-reps", type=int, default=8, help="alternated runs per pack in part (b); 0 skips it")
    args = parser.parse_args(argv)
    if args.reps < 4 or args.warmup < 0 or args.threads < 1:
        parser.error("--reps must be >= 4, --warmup >= 0, --threads >= 1")

    torch.set_num_threads(args.threads)
    splits = load_dataset("digits").to(args.device)
    names = ["plain", "fixed"] + list(DYNAMIC) + [f"{n}/4" for n in DYNAMIC]
    variants = build_variants(splits, names)
    by_name = {v.name: v for v in variants}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    elapsed = time_variants(variants, splits, args.warmup, args.reps, args.budget)
    done = len(by_name["plain"].times)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = ratio_rows(names, by_name)

    machine = f"{platform.machine()} {cpu_model()}, {os.cpu_count()} CPUs".strip()
    cut = "" if done == args.reps else " [cut by --budget]"
    print(f"dynsearch overhead: digits MLP {HIDDEN}, batch {BATCH}, {len(splits.y_train)} train rows, "
          f"torch {torch.__version__}, {args.threads} thread(s), {args.device}; {machine}")
    print(f"{done} reps (+{args.warmup} warm-up){cut} in {elapsed:.0f} s; 1-min load average "
          f"{load_before:.2f} -> {load_after:.2f} (this run counts ~1; more means other work skewed the numbers)")
    print_rows(rows)

    packed = packed_overhead(splits, args.pack_k, args.pack_reps) if args.pack_reps else []

    if args.json:
        meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine,
                "python": sys.version.split()[0], "torch": torch.__version__, "threads": args.threads,
                "device": args.device, "reps": done, "reps_asked": args.reps, "warmup": args.warmup, "seconds": elapsed,
                "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
                "hidden": list(HIDDEN), "batch": BATCH, "target": TARGET}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "results": rows, "packed": packed}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
