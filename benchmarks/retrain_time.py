"""Wall time of a report's re-training in packs against every run alone (``run_jobs(pack=False)``).

It plans the re-training of a finished study as ``dynsearch report`` does (every arm's best trial
× dataset × ``--seeds`` seeds, the first seed recording every signal) and trains all of it into a
fresh store, packed and alone, alternating ``--reps`` times (so a drifting machine load hits both
alike), in the report's processes (``--jobs``, default one per core). It prints the 1-minute load
average with every run: on a shared machine the figures are only as good as the machine is quiet.

Run (after ``dynsearch run studies/quickstart.toml``):
    python benchmarks/retrain_time.py [--study quickstart] [--storage journal:runs/quickstart.journal]
                                      [--seeds 5] [--reps 2] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from dynsearch.report.retrain import (  # noqa: E402
    RetrainStore,
    default_jobs,  # noqa: E402
    plan_jobs,
    plan_packs,
    retrain_seeds,
    run_jobs,
)
from dynsearch.report.trials import collect  # noqa: E402
from dynsearch.search.storage import open_storage  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", default="quickstart")
    parser.add_argument("--storage", default=None, help="default: journal:runs/STUDY.journal")
    parser.add_argument("--seeds", type=int, default=5, help="re-training seeds per arm and dataset (default 5)")
    parser.add_argument("--reps", type=int, default=2, help="runs per setting (default 2)")
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: one per core)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(args.storage or f"journal:runs/{args.study}.journal", heartbeat=False)
    data = collect(optuna.load_study(study_name=args.study, storage=storage))
    jobs = plan_jobs(data, retrain_seeds(args.seeds))
    processes = args.jobs or default_jobs("cpu")
    tasks = plan_packs(jobs, processes)
    packed = sum(len(t) for t in tasks if len(t) > 1)
    print(f"re-training of {args.study}: {len(jobs)} runs ({packed} in {sum(len(t) > 1 for t in tasks)} packs, "
          f"{len(jobs) - packed} alone), {processes} process(es), {os.cpu_count()} CPU(s), "
          f"load average {os.getloadavg()[0]:.2f} at start")  # fmt: skip
    times: dict[str, list[float]] = {"packed": [], "alone": []}
    with tempfile.TemporaryDirectory(prefix="dynsearch-retrain-") as tmp:
        # Untimed: start the processes (they stay for the timed runs) and load every dataset in them.
        run_jobs([t[0] for t in tasks], RetrainStore(Path(tmp) / "warm.json", args.study), processes=processes,
                 progress=None, pack=False)
        for rep in range(args.reps):
            for setting in ("packed", "alone") if rep % 2 == 0 else ("alone", "packed"):
                store = RetrainStore(Path(tmp) / f"{setting}-{rep}.json", args.study)
                started = time.perf_counter()
                runs, _ = run_jobs(jobs, store, processes=processes, progress=None, pack=setting == "packed")
                took = time.perf_counter() - started
                times[setting].append(took)
                # What the runs that record every signal (always alone) take of the processes' training time.
                recording = sum(r.wall_time for r in runs.values() if r.signals is not None)
                share = recording / max(sum(r.wall_time for r in runs.values()), 1e-9)
                print(f"  {setting:<6} {took:6.1f} s  (load {os.getloadavg()[0]:.2f}; "
                      f"{share:.0%} of the training time in the runs recording signals)", flush=True)
    packed_s, alone_s = statistics.median(times["packed"]), statistics.median(times["alone"])
    print(f"median: packed {packed_s:.1f} s, alone {alone_s:.1f} s; alone / packed = {alone_s / packed_s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
