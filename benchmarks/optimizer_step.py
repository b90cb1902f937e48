"""The packed optimizer's update: the plain element-wise arithmetic against the fused kernel, alone and in the step.

What it measures, in one process:

* (a) the update alone, on the stacked parameters of K members of an MLP 64 → 256 → 256 → 10 (the
  weights ``[K, out, in]`` and biases ``[K, out]`` the packed engine trains), with gradients drawn once:
  ``plain`` is the update as it was before the fused kernel (nine element-wise kernels per tensor,
  copied here verbatim), ``fused`` is ``dynsearch.packed._optim.optimizer_update`` (torch's fused
  Adam kernel with lr = 1 into a scratch tensor, then each member's rate), and ``per-member`` the
  other way to give each member its rate: one fused call per member over its slices, rate as a scalar;
* (b) the whole packed step: ``PackEngine`` packs of K fixed-ReLU members of that MLP on ``digits``
  (batch 128, 9 batches an epoch), one per update above (``per-member`` for Adam only), training one
  epoch each per repetition; the update's own time inside the step is measured too, so its share of
  the step shows. ``--hidden 64,64`` gives the trainer's default model instead.

Repetitions are interleaved (every variant once per repetition, in a freshly shuffled order), the
first ``--warmup`` thrown away; reported: the median per variant and the median of the per-repetition
ratio to ``plain``. ``--compiled`` adds ``torch.compile`` of the plain arithmetic to (a) (it compiles
first, a minute or so). The load average before and after says whether other work shared the CPU.

Run:  python benchmarks/optimizer_step.py [--sizes 4,16,64] [--reps 30] [--threads 1] [--kind adam] [--hidden 256,256]
                                          [--step-reps 10] [--compiled]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

try:
    import dynsearch  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from overhead import cpu_model  # noqa: E402 - the benchmarks' one reading of the CPU model

from dynsearch.data import load_dataset
from dynsearch.packed._engine import PackEngine
from dynsearch.packed._net import layer_plan, stack_parameters
from dynsearch.packed._optim import _BETA1, _BETA2, _EPS, PackedOptimizer, optimizer_update
from dynsearch.strategies import strategy_from_config
from dynsearch.train import TrainConfig, build

BATCH = 128


def plain_update(
    kind: str, params: Sequence[Tensor], grads: Sequence[Tensor], states: Sequence[Sequence[Tensor]],
    lrs: Sequence[Tensor], decays: Sequence[Tensor | None], momentum: Sequence[Tensor], step: Tensor, first: bool,
    scratch: Tensor | None = None,
) -> None:
    """The update before the fused kernel (``scratch`` unused), kept here as the baseline."""
    with torch.no_grad():
        if kind == "sgd":
            for p, g, (buf,), lr, wd, mom in zip(params, grads, states, lrs, decays, momentum):
                if wd is not None:
                    g = g + wd * p
                if first:
                    buf.copy_(g)
                else:
                    buf.mul_(mom).add_(g)
                p.sub_(lr * buf)
            return
        bias_correction1 = 1 - _BETA1**step
        bias_correction2_sqrt = (1 - _BETA2**step).sqrt()
        for p, g, (exp_avg, exp_avg_sq), lr, wd in zip(params, grads, states, lrs, decays):
            if wd is not None:
                if kind == "adamw":
                    p.mul_(1 - lr * wd)
                else:
                    g = g + wd * p
            exp_avg.lerp_(g, 1 - _BETA1)
            exp_avg_sq.mul_(_BETA2).addcmul_(g, g, value=1 - _BETA2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(_EPS)
            p.sub_(lr / bias_correction1 * exp_avg / denom)


def per_member_update(kind: str, params: Sequence[Tensor], grads: Sequence[Tensor], states: Sequence[Sequence[Tensor]],
                      lr: list[float], step: Tensor) -> None:
    """Adam without decay as K fused calls, one per member over its slices of every tensor (the alternative)."""
    sliced = [list(t.unbind(0)) for t in params], [list(g.contiguous().unbind(0)) for g in grads]
    moments = [list(s[0].unbind(0)) for s in states], [list(s[1].unbind(0)) for s in states]
    steps = [step] * len(params)
    for k, rate in enumerate(lr):
        torch._fused_adam_([t[k] for t in sliced[0]], [g[k] for g in sliced[1]], [m[k] for m in moments[0]],
                           [v[k] for v in moments[1]], [], steps, lr=rate, beta1=_BETA1, beta2=_BETA2,
                           weight_decay=0.0, eps=_EPS, amsgrad=False, maximize=False)


def per_member_step(kind: str, params: Sequence[Tensor], grads: Sequence[Tensor], states: Sequence[Sequence[Tensor]],
                    lrs: Sequence[Tensor], *rest: object) -> None:
    """``per_member_update`` with the engine's update signature (no decay, no lr masks: as ``engine`` builds)."""
    with torch.no_grad():
        per_member_update(kind, params, grads, states, lrs[0].flatten().tolist(), rest[2])  # type: ignore[arg-type]


def stacked(k: int, kind: str, hidden: tuple[int, ...], seed: int = 0) -> tuple[list[Tensor], list[Tensor], PackedOptimizer]:
    """K members' stacked MLP parameters, one set of gradients, and their optimizer (log-spaced rates)."""
    generator = torch.Generator().manual_seed(seed)
    sizes = [64, *hidden, 10]
    shapes = [s for n_in, n_out in zip(sizes, sizes[1:]) for s in ((k, n_out, n_in), (k, n_out))]
    params = [0.1 * torch.randn(s, generator=generator) for s in shapes]
    grads = [0.01 * torch.randn(s, generator=generator) for s in shapes]
    lr = torch.logspace(-4, -2, k)
    optimizer = PackedOptimizer(kind, params, lr=lr, weight_decay=torch.zeros(k), momentum=torch.full((k,), 0.9),
                                decays=[True] * len(params), lr_masks=[None] * len(params))
    return params, grads, optimizer


def interleaved(variants: dict[str, Callable[[], float]], reps: int, warmup: int) -> dict[str, list[float]]:
    """Each variant once per repetition in a shuffled order; each returns its own seconds."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    names, order = list(variants), random.Random(0)
    for rep in range(warmup + reps):
        order.shuffle(names)
        for name in names:
            seconds = variants[name]()
            if rep >= warmup:
                times[name].append(seconds)
    return times


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def update_alone(k: int, kind: str, hidden: tuple[int, ...], reps: int, warmup: int, compiled: bool) -> dict[str, list[float]]:
    """(a): every variant updates its own copy of the same parameters, from the same gradients."""
    copies = {name: stacked(k, kind, hidden) for name in ("plain", "fused", "per-member", "compiled")}

    def run(name: str, update: Callable[..., None]) -> Callable[[], float]:
        params, grads, opt = copies[name]
        opt.update = update
        return lambda: timed(lambda: opt.step(params, grads))

    variants = {"plain": run("plain", plain_update), "fused": run("fused", optimizer_update)}
    if kind == "adam":
        params, grads, opt = copies["per-member"]
        rates = opt.lr.tolist()
        variants["per-member"] = lambda: timed(lambda: per_member_update(kind, params, grads, opt.states, rates,
                                                                         opt.step_count.add_(1)))
    if compiled:
        update = torch.compile(plain_update, dynamic=False)
        params, grads, opt = copies["compiled"]
        opt.update = update
        opt.step(params, grads)  # compiles, untimed
        variants["compiled"] = run("compiled", update)
    return interleaved(variants, reps, warmup)


def engine(splits, k: int, kind: str, hidden: tuple[int, ...]) -> PackEngine:
    configs = [TrainConfig(epochs=1, seed=i, model="mlp", hidden=hidden, batch_size=BATCH, optimizer=kind,
                           lr=3e-4 * 30 ** (i / max(k - 1, 1)), patience=0) for i in range(k)]
    strategies = [strategy_from_config({"name": "fixed", "params": {}}) for _ in configs]
    models = [build(splits, s, c) for s, c in zip(strategies, configs)]
    plan, _ = layer_plan(models[0])
    return PackEngine(splits, strategies, configs, models, plan, stack_parameters(models, plan), list(range(k)))


def packed_step(splits, k: int, kind: str, hidden: tuple[int, ...], reps: int, warmup: int) -> dict[str, list[float]]:
    """(b): one epoch per repetition of a pack per update (plain, fused, per-member for Adam); per batch."""
    batches = -(-splits.x_train.shape[0] // BATCH)
    times: dict[str, list[float]] = {}
    variants: dict[str, Callable[[], float]] = {}
    updates = {"plain": plain_update, "fused": optimizer_update, **({"per-member": per_member_step} if kind == "adam" else {})}
    for name, update in updates.items():
        pack, inside = engine(splits, k, kind, hidden), [0.0]

        def clocked(*args: object, update: Callable[..., None] = update, inside: list[float] = inside) -> None:
            inside[0] += timed(lambda: update(*args))

        pack.optimizer.update = clocked
        times[f"{name} update"] = []

        def epoch(pack: PackEngine = pack, inside: list[float] = inside, name: str = name) -> float:
            inside[0] = 0.0
            seconds = timed(lambda: pack.train_epoch(0, None)) / batches
            times[f"{name} update"].append(inside[0] / batches)
            return seconds

        variants[f"{name} step"] = epoch
    steps = interleaved(variants, reps, warmup)
    return {**steps, **{name: values[warmup:] for name, values in times.items()}}


def report(label: str, times: dict[str, list[float]], base: str) -> None:
    """Median per variant and the median of its per-repetition ratio to ``base``."""
    for name, values in times.items():
        ratio = statistics.median(t / b for t, b in zip(values, times[base]))
        print(f"  {label:<8}{name:<16}{1e3 * statistics.median(values):>10.3f} ms{ratio:>9.3f}x {base}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4,16,64", help="pack sizes K, comma-separated (default 4,16,64)")
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per variant (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="leading repetitions thrown away (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--kind", default="adam", choices=["adam", "adamw", "sgd"], help="optimizer (default adam)")
    parser.add_argument("--step-reps", type=int, default=10, help="epochs per pack in (b); 0 skips it (default 10)")
    parser.add_argument("--hidden", default="256,256", help="hidden widths, comma-separated (default 256,256)")
    parser.add_argument("--compiled", action="store_true", help="also time torch.compile of the plain update in (a)")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--reps must be >= 1, --warmup >= 0, --threads >= 1")
    torch.set_num_threads(args.threads)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} {cpu_model()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {args.threads} thread(s); 1-min load average {load:.2f} (this run counts ~1)")
    print(f"{args.kind}, MLP 64-{'-'.join(map(str, hidden))}-10, batch {BATCH}; medians of {args.reps} interleaved reps "
          f"(+{args.warmup} warm-up); ratio = median of per-rep ratios")
    splits = load_dataset("digits") if args.step_reps else None
    for k in sizes:
        print(f"K={k}")
        report("(a)", update_alone(k, args.kind, hidden, args.reps, args.warmup, args.compiled), "plain")
        if splits is not None:
            times = packed_step(splits, k, args.kind, hidden, args.step_reps, min(args.warmup, 1))
            report("(b)", times, "plain step")
            for name in [n.removesuffix(" step") for n in times if n.endswith(" step")]:
                share = statistics.median(u / s for u, s in zip(times[f"{name} update"], times[f"{name} step"]))
                print(f"  (b) {name} update: {100 * share:.1f} % of its step")
        sys.stdout.flush()
    if hasattr(os, "getloadavg"):
        print(f"1-min load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
