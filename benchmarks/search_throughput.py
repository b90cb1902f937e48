"""Trials per minute of ``dynsearch run`` against a hand-written Optuna + PyTorch script, and 2 workers vs 1.

What it measures:

(a) ``dynsearch run`` with 1 worker against a plain script that any user would write: the same MLP
    (64 -> 64 -> 64 -> 10, ReLU), the same data (dynsearch's digits split, saved once and loaded by
    both), Adam, batch 128, 8 epochs, batches sliced from a per-epoch permutation of in-memory
    tensors, the validation accuracy after each epoch, best of the epochs as the value; the learning
    rate sampled log-uniform from [1e-3, 1e-2] by a RandomSampler; ``optuna.create_study(...)
    .optimize(objective, n_trials=N)`` on Optuna's in-memory storage. The dynsearch study is the
    same thing written as a study file: one arm (``fixed-relu``), ``lr`` searched, pruner none,
    patience 0 (every trial runs all epochs), its default journal storage. Target: >= 0.95x.
(b) ``dynsearch run`` with 2 workers against 1 worker, same study, same number of trials. Target: >= 1.8x
    on a 2-core machine.

How it stays honest:

* Every side runs as its own process, timed from ``Popen`` to exit: interpreter start, imports,
  data loading and (for dynsearch) the supervisor spawning its worker processes all count. That
  is the "end to end" rate. The "steady state" rate excludes them: (n - 1) trials over the time
  from the first trial's completion to the last's, read from each study's stored timestamps.
* Threads match: one dynsearch worker gets ``cores`` torch threads (``cores // workers``), and so
  does the plain script (``torch.set_num_threads`` and ``OMP_NUM_THREADS``).
* Runs are interleaved (plain, dyn1, dyn2, dyn2, dyn1, plain; each process runs half of the
  trials), so drifting machine load hits every side alike. The load average is printed: on a
  shared machine the numbers are only as good as the machine is quiet.
* The number of trials is calibrated so each side gets >= ~60 s of training (``--trials`` overrides).

Run:  python benchmarks/search_throughput.py [--quick] [--trials N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 8
BATCH = 128
HIDDEN = (64, 64)
LR_RANGE = (1e-3, 1e-2)
TARGET_PLAIN = 0.95
TARGET_WORKERS = 1.8
SECONDS_PER_SIDE = 65.0

STUDY = f"""\
name = "throughput"
datasets = ["digits"]
n_trials = 1
[model]
kind = "mlp"
hidden = {list(HIDDEN)}
[training]
epochs = {EPOCHS}
batch_size = {BATCH}
optimizer = "adam"
patience = 0
[search]
strategies = ["fixed"]
bases = ["relu"]
lr = {list(LR_RANGE)}
[sampler]
name = "random"
seed = 0
[pruner]
name = "none"
"""


# --- the plain script (runs in its own process; imports neither dynsearch nor scikit-learn) ----------


def make_plain_objective(data: dict):
    """The hand-written objective: plain torch, nothing from dynsearch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    x_train, y_train, x_val, y_val = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    n, n_in, n_out = x_train.shape[0], x_train.shape[1], int(y_train.max()) + 1

    def objective(trial) -> float:
        lr = trial.suggest_float("lr", *LR_RANGE, log=True)
        torch.manual_seed(0)
        layers, width = [], n_in
        for h in HIDDEN:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        model = nn.Sequential(*layers, nn.Linear(width, n_out))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(0)
        best = 0.0
        for _ in range(EPOCHS):
            model.train()
            perm = torch.randperm(n, generator=generator)
            xs, ys = x_train[perm], y_train[perm]
            for start in range(0, n, BATCH):
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xs[start : start + BATCH]), ys[start : start + BATCH])
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                best = max(best, float((model(x_val).argmax(dim=1) == y_val).double().mean()))
        return best

    return objective


def plain_main(data_path: str, n_trials: int, threads: int, out_path: str) -> None:
    import optuna
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = make_plain_objective(torch.load(data_path, weights_only=True))
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n_trials)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    Path(out_path).write_text(json.dumps({"completes": [t.datetime_complete.timestamp() for t in done],
                                          "failed": len(study.trials) - len(done)}))  # fmt: skip


# --- the driver -----------------------------------------------------------------------------------


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DYNSEARCH_STORAGE", None)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


def run_plain(tmp: Path, data_path: Path, n: int, threads: int, tag: str) -> dict:
    out = tmp / f"{tag}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--plain-run", str(data_path), str(n), str(threads), str(out)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(threads), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"plain script failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result = json.loads(out.read_text())
    return {"wall": wall, "completes": result["completes"], "failed": result["failed"]}


def run_dynsearch(tmp: Path, study_file: Path, n: int, workers: int, tag: str) -> dict:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    journal = tmp / f"{tag}.journal"
    cmd = [sys.executable, "-m", "dynsearch", "run", str(study_file), "--storage", f"journal:{journal}",
           "--workers", str(workers), "--n-trials", str(n), "--quiet"]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tmp, env=_env(max(1, _cores() // workers)), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"dynsearch run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    study = optuna.load_study(study_name="throughput", storage=JournalStorage(JournalFileBackend(str(journal))))
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    return {"wall": wall, "completes": [t.datetime_complete.timestamp() for t in done],
            "failed": len(study.trials) - len(done),
            # inside each trial: the time in dynsearch.train (the objective's wall_time) and the rest
            "durations": [t.duration.total_seconds() for t in done],
            "training": [t.user_attrs.get("wall_time", 0.0) for t in done]}  # fmt: skip


def summarize(runs: list[dict]) -> dict:
    n = sum(len(r["completes"]) for r in runs)
    wall = sum(r["wall"] for r in runs)
    gaps = sum(len(r["completes"]) - 1 for r in runs)
    span = sum(max(r["completes"]) - min(r["completes"]) for r in runs)
    steady = gaps / span * 60 if span > 0 else float("nan")
    per_trial = span / gaps if gaps else float("nan")
    durations = [d for r in runs for d in r.get("durations", [])]
    training = [d for r in runs for d in r.get("training", [])]
    return {
        "trials": n,
        "trial_s": sum(durations) / len(durations) if durations else None,
        "training_s": sum(training) / len(training) if training else None,
        "failed": sum(r["failed"] for r in runs),
        "wall_s": wall,
        "end_to_end_tpm": n / wall * 60,
        "steady_tpm": steady,
        # What a process costs besides its trials at the steady rate: start-up, imports, spawn, exit.
        "fixed_cost_per_process_s": (wall - n * per_trial) / len(runs),
    }


def calibrate(data: dict, threads: int, budget: float = 3.0) -> float:
    """Seconds per trial of the plain objective in this process (after one warm-up trial)."""
    import optuna
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = make_plain_objective(data)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=1)
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < budget or count < 3:
        study.optimize(objective, n_trials=1)
        count += 1
    return (time.perf_counter() - started) / count


def training_loop_ratio(data: dict, splits, threads: int, reps: int) -> tuple[float, float, float]:
    """Diagnostic, in this process: one trial's training in ``dynsearch.train`` vs the plain loop
    (same model, data, optimizer, epochs), interleaved; (plain s, dynsearch s, ratio of medians)."""
    import statistics

    import torch

    from dynsearch.train import TrainConfig, train

    torch.set_num_threads(threads)
    objective = make_plain_objective(data)
    config = TrainConfig(model="mlp", hidden=HIDDEN, epochs=EPOCHS, batch_size=BATCH, patience=0, lr=3e-3)
    strategy = {"name": "fixed", "params": {"base": "relu"}}

    class _Trial:  # the plain objective only asks for the learning rate
        def suggest_float(self, *args, **kwargs) -> float:
            return 3e-3

    plain, dyn = [], []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        objective(_Trial())
        t1 = time.perf_counter()
        train(splits, strategy, config)
        t2 = time.perf_counter()
        if i:  # the first round warms up
            plain.append(t1 - t0)
            dyn.append(t2 - t1)
    p, d = statistics.median(plain), statistics.median(dyn)
    return p, d, d / p


def verdict(ratio: float, target: float) -> str:
    return "MET" if ratio >= target else "NOT MET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (a few trials, one process per side)")
    parser.add_argument("--trials", type=int, help="trials per side (default: calibrated to ~65 s of training)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--plain-run", nargs=4, metavar=("DATA", "N", "THREADS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_run:
        data_path, n, threads, out = args.plain_run
        plain_main(data_path, int(n), int(threads), out)
        return 0

    sys.path.insert(0, str(ROOT))  # a checkout without `pip install -e .`
    import optuna
    import torch

    from dynsearch.data import load_dataset

    cores = _cores()
    threads = cores  # what `dynsearch run --workers 1` gives its worker: cores // 1
    load_before = os.getloadavg()
    splits = load_dataset("digits", split_seed=0)
    data = {"x_train": splits.x_train.reshape(splits.x_train.shape[0], -1).contiguous(), "y_train": splits.y_train,
            "x_val": splits.x_val.reshape(splits.x_val.shape[0], -1).contiguous(), "y_val": splits.y_val}  # fmt: skip
    per_trial = calibrate(data, threads, budget=1.0 if args.quick else 3.0)
    if args.trials:
        n_side = args.trials
    elif args.quick:
        n_side = 12
    else:
        n_side = min(2000, max(40, int(SECONDS_PER_SIDE / per_trial)))
    processes = 1 if args.quick else 2
    n_side += n_side % processes  # an even split over the processes of a side
    half = n_side // processes
    order = ["plain", "dyn1", "dyn2"] if args.quick else ["plain", "dyn1", "dyn2", "dyn2", "dyn1", "plain"]

    print(f"search throughput: digits ({data['x_train'].shape[0]} training rows), mlp {list(HIDDEN)}, {EPOCHS} epochs, "
          f"batch {BATCH}, Adam, lr log-uniform {list(LR_RANGE)}, random sampler, no pruning")  # fmt: skip
    print(f"machine: {platform.machine()}, {cores} cores, python {platform.python_version()}, torch {torch.__version__}, "
          f"optuna {optuna.__version__}; load average {load_before[0]:.2f}")  # fmt: skip
    print(f"calibration: {per_trial * 1000:.0f} ms per plain trial with {threads} threads -> {n_side} trials per side, "
          f"{processes} process(es) of {half} each, order {', '.join(order)}")  # fmt: skip
    sys.stdout.flush()

    runs: dict[str, list[dict]] = {"plain": [], "dyn1": [], "dyn2": []}
    with tempfile.TemporaryDirectory(prefix="dynsearch-throughput-") as tmp_name:
        tmp = Path(tmp_name)
        data_path = tmp / "digits.pt"
        torch.save(data, data_path)
        study_file = tmp / "throughput.toml"
        study_file.write_text(STUDY)
        counters = {"plain": 0, "dyn1": 0, "dyn2": 0}
        for side in order:
            counters[side] += 1
            tag = f"{side}-{counters[side]}"
            if side == "plain":
                run = run_plain(tmp, data_path, half, threads, tag)
            else:
                run = run_dynsearch(tmp, study_file, half, 1 if side == "dyn1" else 2, tag)
            runs[side].append(run)
            print(f"  {tag:8s} {len(run['completes']):5d} trials in {run['wall']:7.1f} s (load {os.getloadavg()[0]:.2f})")
            sys.stdout.flush()
    load_after = os.getloadavg()

    sides = {name: summarize(r) for name, r in runs.items()}
    labels = {"plain": "plain optuna + torch", "dyn1": "dynsearch run, 1 worker", "dyn2": "dynsearch run, 2 workers"}
    print()
    print(f"{'side':26s} {'trials':>6s} {'failed':>6s} {'wall s':>8s} {'end-to-end':>11s} {'steady':>8s} {'fixed cost':>11s}")
    print(f"{'':26s} {'':>6s} {'':>6s} {'':>8s} {'trials/min':>11s} {'tr/min':>8s} {'s/process':>11s}")
    for name, s in sides.items():
        print(f"{labels[name]:26s} {s['trials']:6d} {s['failed']:6d} {s['wall_s']:8.1f} {s['end_to_end_tpm']:11.1f} "
              f"{s['steady_tpm']:8.1f} {s['fixed_cost_per_process_s']:11.2f}")  # fmt: skip
    print()
    ratios = {
        "a_end_to_end": sides["dyn1"]["end_to_end_tpm"] / sides["plain"]["end_to_end_tpm"],
        "a_steady": sides["dyn1"]["steady_tpm"] / sides["plain"]["steady_tpm"],
        "b_end_to_end": sides["dyn2"]["end_to_end_tpm"] / sides["dyn1"]["end_to_end_tpm"],
        "b_steady": sides["dyn2"]["steady_tpm"] / sides["dyn1"]["steady_tpm"],
    }
    print(f"(a) dynsearch 1 worker / plain optuna: end to end {ratios['a_end_to_end']:.3f}x "
          f"[target >= {TARGET_PLAIN}x: {verdict(ratios['a_end_to_end'], TARGET_PLAIN)}], "
          f"steady state {ratios['a_steady']:.3f}x [target >= {TARGET_PLAIN}x: {verdict(ratios['a_steady'], TARGET_PLAIN)}]")
    print(f"(b) dynsearch 2 workers / 1 worker:   end to end {ratios['b_end_to_end']:.3f}x "
          f"[target >= {TARGET_WORKERS}x: {verdict(ratios['b_end_to_end'], TARGET_WORKERS)}], "
          f"steady state {ratios['b_steady']:.3f}x [target >= {TARGET_WORKERS}x: {verdict(ratios['b_steady'], TARGET_WORKERS)}]")
    d1 = sides["dyn1"]
    if d1["trial_s"]:
        print(f"inside a dynsearch trial (1 worker): {d1['trial_s'] * 1000:.0f} ms, of which {d1['training_s'] * 1000:.0f} ms "
              f"in dynsearch.train and {(d1['trial_s'] - d1['training_s']) * 1000:.0f} ms of search overhead "
              f"(sampling, storage writes, attributes)")  # fmt: skip
    for th in sorted({1, threads}):
        p, d, r = training_loop_ratio(data, splits, th, 3 if args.quick else 8)
        print(f"diagnostic, training loop alone in one process, {th} thread(s): plain {p * 1000:.0f} ms, "
              f"dynsearch.train {d * 1000:.0f} ms per trial -> dynsearch at {1 / r:.3f}x the plain speed")
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
          + ("  (a busy machine: rerun when it is quiet)" if max(load_before[0], load_after[0]) > cores * 1.1 else ""))
    if args.quick:
        print("(--quick: a smoke run; too short for the targets to mean anything)")
    if args.json:
        args.json.write_text(json.dumps({"sides": sides, "ratios": ratios, "cores": cores, "trials_per_side": n_side,
                                         "load_before": load_before, "load_after": load_after,
                                         "quick": args.quick}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
