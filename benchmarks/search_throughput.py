"""Trials per minute of ``dynsearch run`` against a hand-written Optuna + PyTorch study, and 2 workers vs 1.

What it measures:

(a) ``dynsearch run --workers auto`` (one worker per core, packs as the study's default ``auto``)
    against the study a user writes by hand over the whole machine: one plain process per core, one
    torch thread each, all sharing one Optuna study on a journal file, ``study.optimize``. The same
    work on both sides: digits (dynsearch's split, saved once and loaded by both), MLP 64 -> 64,
    Adam, batch 128, 30 epochs, no early stopping and no pruning, the best validation accuracy of
    the epochs as the value, TPE over the base activation (relu, tanh) and the learning rate
    (log-uniform [1e-3, 1e-2]). dynsearch's arms are fixed-relu and fixed-tanh with ``lr`` searched.
    Target (issue 8): >= 5x.
(d) ``dynsearch run --workers 2`` against ``--workers 1``, same study, same trials. Target: >= 1.8x.

How it stays honest: every side is timed from launch to exit (interpreter start, imports, data,
the supervisor's spawns all count: "end to end"); "steady" is n trials over the span from the first
trial's start to the last one's completion, from the stored timestamps. Sides run interleaved (a, d and
their mirror order), so drifting load hits them alike, and the load average is printed: on a
shared machine the figures are only as good as the machine is quiet.

Run:  python benchmarks/search_throughput.py [--trials 100] [--epochs 30] [--quick] [--parts a,d] [--json PATH]
      (--quick: 16 trials of 3 epochs per side, a smoke run whose ratios mean little)
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
BATCH = 128
HIDDEN = (64, 64)
LR_RANGE = (1e-3, 1e-2)
BASES = ("relu", "tanh")
TARGET_PLAIN = 5.0
TARGET_WORKERS = 1.8

STUDY = """\
name = "throughput"
datasets = ["digits"]
n_trials = 2
[model]
kind = "mlp"
hidden = {hidden}
[training]
epochs = {epochs}
batch_size = {batch}
optimizer = "adam"
patience = 0
[search]
strategies = ["fixed"]
bases = {bases}
lr = {lr}
[sampler]
name = "tpe"
seed = 0
[pruner]
name = "none"
"""


# --- the hand-written study (its own processes; imports neither dynsearch nor scikit-learn) ---------


def make_plain_objective(data: dict, epochs: int):
    """The hand-written objective: plain torch, nothing from dynsearch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    x_train, y_train, x_val, y_val = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    n, n_in, n_out = x_train.shape[0], x_train.shape[1], int(y_train.max()) + 1
    activations = {"relu": nn.ReLU, "tanh": nn.Tanh}

    def objective(trial) -> float:
        act = activations[trial.suggest_categorical("base", list(BASES))]
        lr = trial.suggest_float("lr", *LR_RANGE, log=True)
        torch.manual_seed(0)
        layers, width = [], n_in
        for h in HIDDEN:
            layers += [nn.Linear(width, h), act()]
            width = h
        model = nn.Sequential(*layers, nn.Linear(width, n_out))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(0)
        best = 0.0
        for _ in range(epochs):
            model.train()
            perm = torch.randperm(n, generator=generator)
            for start in range(0, n, BATCH):
                rows = perm[start : start + BATCH]
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(model(x_train[rows]), y_train[rows]).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                best = max(best, float((model(x_val).argmax(dim=1) == y_val).double().mean()))
        return best

    return objective


def plain_main(data_path: str, journal: str, n_trials: int, epochs: int) -> None:
    import optuna
    import torch
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = make_plain_objective(torch.load(data_path, weights_only=True), epochs)
    storage = JournalStorage(JournalFileBackend(journal))
    study = optuna.create_study(study_name="plain", storage=storage, direction="maximize",
                                sampler=optuna.samplers.TPESampler(), load_if_exists=True)  # fmt: skip
    study.optimize(objective, n_trials=n_trials)


# --- the driver -----------------------------------------------------------------------------------


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


def _completes(journal: Path, name: str) -> tuple[list[float], float, int]:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(journal))))
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    first_start = min((t.datetime_start.timestamp() for t in done), default=0.0)
    return [t.datetime_complete.timestamp() for t in done], first_start, len(study.trials) - len(done)


def run_plain(tmp: Path, data_path: Path, n: int, epochs: int, tag: str) -> dict:
    """One plain process per core, one thread each, sharing one journal study; ``n`` trials in all."""
    cores, journal = _cores(), tmp / f"{tag}.journal"
    shares = [n // cores + (1 if i < n % cores else 0) for i in range(cores)]
    me = str(Path(__file__).resolve())
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, me, "--plain-run", str(data_path), str(journal), str(k), str(epochs)],
                              env=_env(1), stderr=subprocess.PIPE, text=True) for k in shares if k]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"plain study failed ({proc.returncode}):\n{err[-2000:]}")
    wall = time.perf_counter() - started
    completes, first_start, failed = _completes(journal, "plain")
    return {"wall": wall, "completes": completes, "first_start": first_start, "failed": failed}


def run_dynsearch(tmp: Path, study_file: Path, n: int, workers: str, tag: str) -> dict:
    journal = tmp / f"{tag}.journal"
    cmd = [sys.executable, "-m", "dynsearch", "run", str(study_file), "--storage", f"journal:{journal}",
           "--workers", workers, "--n-trials", str(n), "--quiet"]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tmp, env=_env(1), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"dynsearch run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    completes, first_start, failed = _completes(journal, "throughput")
    return {"wall": wall, "completes": completes, "first_start": first_start, "failed": failed}


def summarize(runs: list[dict]) -> dict:
    n = sum(len(r["completes"]) for r in runs)
    wall = sum(r["wall"] for r in runs)
    # Steady: from the first trial's start to the last one's end (no interpreter start, imports or
    # spawns). Not the gaps between completions: a pack's trials complete together.
    span = sum(max(r["completes"]) - r["first_start"] for r in runs if r["completes"])
    return {
        "trials": n,
        "failed": sum(r["failed"] for r in runs),
        "wall_s": wall,
        "end_to_end_tpm": n / wall * 60,
        "steady_tpm": n / span * 60 if span > 0 else float("nan"),
    }


def verdict(ratio: float, target: float) -> str:
    return "MET" if ratio >= target else "NOT MET"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="trials per side (default 100)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per trial (default 30)")
    parser.add_argument("--quick", action="store_true", help="16 trials of 3 epochs per side, one round: a smoke run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--parts", default="a,d", help="comparisons to run: a, d or a,d (default a,d)")
    parser.add_argument("--plain-run", nargs=4, metavar=("DATA", "JOURNAL", "N", "EPOCHS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.epochs = 16, 3
    return args


def _prepare(tmp: Path, epochs: int) -> tuple[Path, Path, int]:
    """The digits tensors both sides train on, and the dynsearch study file."""
    import torch

    from dynsearch.data import load_dataset

    splits = load_dataset("digits", split_seed=0)
    data = {"x_train": splits.x_train.contiguous(), "y_train": splits.y_train,
            "x_val": splits.x_val.contiguous(), "y_val": splits.y_val}  # fmt: skip
    torch.save(data, tmp / "digits.pt")
    study = STUDY.format(hidden=list(HIDDEN), epochs=epochs, batch=BATCH, bases=json.dumps(list(BASES)), lr=list(LR_RANGE))
    (tmp / "throughput.toml").write_text(study)
    return tmp / "digits.pt", tmp / "throughput.toml", int(splits.x_train.shape[0])


def _print_table(sides: dict[str, dict]) -> None:
    labels = {"plain": "plain optuna + torch", "auto": "dynsearch --workers auto",
              "w1": "dynsearch --workers 1", "w2": "dynsearch --workers 2"}  # fmt: skip
    print(f"\n{'side':26s} {'trials':>6s} {'failed':>6s} {'wall s':>8s} {'end-to-end':>11s} {'steady':>8s}")
    print(f"{'':26s} {'':>6s} {'':>6s} {'':>8s} {'trials/min':>11s} {'tr/min':>8s}")
    for name, s in sides.items():
        print(f"{labels[name]:26s} {s['trials']:6d} {s['failed']:6d} {s['wall_s']:8.1f} {s['end_to_end_tpm']:11.1f} "
              f"{s['steady_tpm']:8.1f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.plain_run:
        data_path, journal, n, epochs = args.plain_run
        plain_main(data_path, journal, int(n), int(epochs))
        return 0
    sys.path.insert(0, str(ROOT))  # a checkout without `pip install -e .`
    import optuna
    import torch

    cores, load_before = _cores(), os.getloadavg()
    order = ["plain", "auto", "w1", "w2"] if args.quick else ["plain", "auto", "w1", "w2", "w2", "w1", "auto", "plain"]
    wanted = {"a": ("plain", "auto"), "d": ("w1", "w2")}
    keep = {side for part in args.parts.split(",") for side in wanted[part.strip()]}
    order = [side for side in order if side in keep]
    rounds = 1 if args.quick else 2
    half = max(2, args.trials // rounds)
    runs: dict[str, list[dict]] = {side: [] for side in ("plain", "auto", "w1", "w2")}
    with tempfile.TemporaryDirectory(prefix="dynsearch-throughput-") as tmp_name:
        tmp = Path(tmp_name)
        data_path, study_file, n_rows = _prepare(tmp, args.epochs)
        print(f"search throughput: digits ({n_rows} training rows), mlp {list(HIDDEN)}, {args.epochs} epochs, batch "
              f"{BATCH}, Adam, TPE over base {list(BASES)} and lr log-uniform {list(LR_RANGE)}, no pruning")  # fmt: skip
        print(f"machine: {platform.machine()}, {cores} cores, python {platform.python_version()}, torch "
              f"{torch.__version__}, optuna {optuna.__version__}; load average {load_before[0]:.2f}; "
              f"{half} trials per run, order {', '.join(order)}")  # fmt: skip
        for i, side in enumerate(order):
            tag = f"{side}-{i}"
            if side == "plain":
                run = run_plain(tmp, data_path, half, args.epochs, tag)
            else:
                run = run_dynsearch(tmp, study_file, half, {"auto": "auto", "w1": "1", "w2": "2"}[side], tag)
            runs[side].append(run)
            print(f"  {tag:8s} {len(run['completes']):5d} trials in {run['wall']:7.1f} s (load {os.getloadavg()[0]:.2f})",
                  flush=True)  # fmt: skip
    sides = {name: summarize(r) for name, r in runs.items() if r}
    _print_table(sides)
    ratios = {}
    for key, (base, side) in wanted.items():
        if side in sides:
            ratios[f"{key}_end_to_end"] = sides[side]["end_to_end_tpm"] / sides[base]["end_to_end_tpm"]
            ratios[f"{key}_steady"] = sides[side]["steady_tpm"] / sides[base]["steady_tpm"]
    for key, label, target in (("a", "(a) dynsearch --workers auto / plain study", TARGET_PLAIN),
                               ("d", "(d) dynsearch 2 workers / 1 worker       ", TARGET_WORKERS)):  # fmt: skip
        if f"{key}_steady" not in ratios:
            continue
        e, s = ratios[f"{key}_end_to_end"], ratios[f"{key}_steady"]
        print(f"{label}: end to end {e:.3f}x [target >= {target}x: {verdict(e, target)}], "
              f"steady {s:.3f}x [{verdict(s, target)}]")
    load_after = os.getloadavg()
    busy = max(load_before[0], load_after[0]) > cores * 1.1
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
          + ("  (a busy machine: rerun when it is quiet)" if busy else ""))
    if args.json:
        args.json.write_text(json.dumps({"sides": sides, "ratios": ratios, "cores": cores, "trials": args.trials,
                                         "epochs": args.epochs, "load": [load_before[0], load_after[0]]}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
