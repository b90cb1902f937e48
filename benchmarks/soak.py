"""Soak test: a long study on the default journal storage while workers keep getting SIGKILLed.

What it does: in a fresh temporary directory, it runs the same tiny study twice with
``dynsearch run STUDY.toml --workers 2`` (the default storage: ``runs/NAME.journal``):

* ``undisturbed``: nobody touches it;
* ``disturbed``: every ``--kill-every`` finished trials, one of the supervisor's worker processes
  is killed with SIGKILL, preferably one that was running a trial at the last look at the journal
  (with trials this short it may have finished it since: "trials they cut short" counts the trials
  that really were failed as "worker ... died"). The supervisor must fail and re-queue that trial
  (same parameters) and start a new worker.

Then it prints, for the disturbed run: finished trials, workers killed, trials failed and retried,
failures without a retry, lost slots (queued slots that never finished: the target is 0), what is
still RUNNING or WAITING, and the throughput of both runs (finished trials per second of wall
time, worker start-up included) with their ratio.

Trials are tiny on purpose (moons with 200 rows, 2 epochs, one hidden layer of 16): the run is
dominated by the search machinery and the workers' restarts, which is what this exercises.

A worker trains packs of trials (``--pack``, default ``auto``): a kill then cuts short every trial of
its pack, and each must be failed and re-run.

Run:  python benchmarks/soak.py [--trials 200] [--kill-every 20] [--workers 2] [--pack auto|N] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

try:
    import dynsearch  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dynsearch.search.study import REASON_ATTR, WORKER_ATTR

optuna.logging.set_verbosity(optuna.logging.ERROR)

# Four arms (fixed-relu, learned-relu, threshold-layer, linear-layer): --trials should be a multiple of 4.
STUDY = """\
name = "{name}"
description = "soak test: tiny trials, workers killed on purpose"
datasets = [{{ name = "moons", n_samples = 200 }}]
n_trials = {n_trials}
[model]
kind = "mlp"
hidden = [16]
[training]
epochs = 2
patience = 0
[search]
strategies = ["fixed", "threshold", "linear", "learned"]
scopes = ["layer"]
bases = ["relu"]
[sampler]
name = "random"
seed = 0
[pruner]
name = "none"
"""
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _trials(journal: Path, name: str) -> list[FrozenTrial]:
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


class _Killer:
    """SIGKILLs a worker of the run (one that is training, when it can tell) every ``every`` finished trials."""

    def __init__(self, journal: Path, name: str, n_trials: int, every: int, rng: random.Random) -> None:
        self.journal, self.name, self.n_trials, self.every, self.rng = journal, name, n_trials, every, rng
        self.storage: JournalStorage | None = None
        self.next_kill = every
        self.kills: list[dict] = []

    def tick(self, supervisor_pid: int) -> None:
        if self.storage is None:
            if not self.journal.exists():
                return
            self.storage = JournalStorage(JournalFileBackend(str(self.journal)))
        try:
            study_id = self.storage.get_study_id_from_name(self.name)
        except KeyError:
            return
        trials = self.storage.get_all_trials(study_id, deepcopy=False)
        finished = sum(t.state in FINISHED for t in trials)
        if finished < self.next_kill or finished >= self.n_trials:
            return
        workers_now = _children(supervisor_pid)
        busy = {
            int(t.system_attrs[WORKER_ATTR].rpartition(":")[2])
            for t in trials
            if t.state == TrialState.RUNNING and t.system_attrs.get(WORKER_ATTR, "").rpartition(":")[2].isdigit()
        }
        candidates = [p for p in workers_now if p in busy] or workers_now
        if not candidates:
            return
        victim = self.rng.choice(candidates)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.kills.append({"pid": victim, "at_finished": finished, "mid_trial": victim in busy})
        self.next_kill += self.every


def _kill_tree(proc: subprocess.Popen) -> None:
    for child in _children(proc.pid):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.kill()
    proc.wait()


def _run(
    workdir: Path, name: str, n_trials: int, workers: int, kill_every: int | None, rng: random.Random, pack: str
) -> dict:
    """Run one study; with ``kill_every``, SIGKILL a worker every that many finished trials."""
    study_file = workdir / f"{name}.toml"
    study_file.write_text(STUDY.format(name=name, n_trials=n_trials))
    journal = workdir / "runs" / f"{name}.journal"
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    cmd = [sys.executable, "-m", "dynsearch", "run", study_file.name, "--workers", str(workers), "--pack", pack, "--quiet"]
    killer = _Killer(journal, name, n_trials, kill_every, rng) if kill_every is not None else None
    started = time.perf_counter()
    with open(workdir / f"{name}.out", "w") as out, open(workdir / f"{name}.err", "w") as err:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            while proc.poll() is None:
                time.sleep(0.05)
                if killer is not None:
                    killer.tick(proc.pid)
            proc.wait()
        finally:
            if proc.poll() is None:
                _kill_tree(proc)
    elapsed = time.perf_counter() - started
    return {
        "name": name,
        "returncode": proc.returncode,
        "elapsed": elapsed,
        "trials": _trials(journal, name),
        "kills": killer.kills if killer is not None else [],
        "stderr": (workdir / f"{name}.err").read_text(),
        "stdout": (workdir / f"{name}.out").read_text(),
    }


def _summary(run: dict, n_trials: int) -> dict:
    trials: list[FrozenTrial] = run["trials"]
    states = Counter(t.state for t in trials)
    finished = states[TrialState.COMPLETE] + states[TrialState.PRUNED]
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    retried |= {t.system_attrs["replaces_trial"] for t in trials if "replaces_trial" in t.system_attrs}
    failed = [t for t in trials if t.state == TrialState.FAIL]
    failed_retried = [t for t in failed if t.number in retried]
    died = [t for t in failed if "died" in t.user_attrs.get(REASON_ATTR, "")]
    # A slot is one queued trial and its retries; it is lost when none of them finished.
    slots_finished = finished
    lost = n_trials - slots_finished
    return {
        "finished": finished,
        "complete": states[TrialState.COMPLETE],
        "pruned": states[TrialState.PRUNED],
        "failed": len(failed),
        "failed_retried": len(failed_retried),
        "failed_not_retried": len(failed) - len(failed_retried),
        "died": len(died),
        "running": states[TrialState.RUNNING],
        "waiting": states[TrialState.WAITING],
        "lost": lost,
        "throughput": finished / run["elapsed"] if run["elapsed"] > 0 else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per run (default 200; a multiple of 4)")
    parser.add_argument("--kill-every", type=int, default=20, help="SIGKILL a worker every N finished trials (20)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per run (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the choice of victims (default 0)")
    parser.add_argument("--pack", default="auto", help="trials per pack: auto (the default) or a count; 1 for no packs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (journals, logs)")
    args = parser.parse_args(argv)
    if args.trials < 4 or args.trials % 4:
        parser.error("--trials: expected a positive multiple of 4 (the study has 4 arms)")
    if args.kill_every < 1 or args.workers < 1:
        parser.error("--kill-every and --workers must be >= 1")

    workdir = Path(tempfile.mkdtemp(prefix="dynsearch-soak-"))
    rng = random.Random(args.seed)
    try:
        base = _run(workdir, "soak_undisturbed", args.trials, args.workers, None, rng, args.pack)
        soak = _run(workdir, "soak_disturbed", args.trials, args.workers, args.kill_every, rng, args.pack)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    b, s = _summary(base, args.trials), _summary(soak, args.trials)

    _print_table(args, base, soak, b, s)
    ok = _verdict(base, soak, b, s)
    if args.keep:
        print(f"kept: {workdir}")
    return 0 if ok else 1


def _print_table(args: argparse.Namespace, base: dict, soak: dict, b: dict, s: dict) -> None:
    print(f"dynsearch soak test, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}: "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
          f"optuna {optuna.__version__}")  # fmt: skip
    print(f"study: {args.trials} tiny trials (moons n=200, 2 epochs, hidden [16], 4 arms), {args.workers} workers, "
          f"packs {args.pack}, default journal storage; disturbed run: SIGKILL a worker every {args.kill_every} finished trials")
    print()
    print(f"{'':24}{'undisturbed':>14}{'disturbed':>14}")
    rows = [
        ("exit code", base["returncode"], soak["returncode"]),
        ("workers killed", 0, len(soak["kills"])),
        ("  trials they cut short", b["died"], s["died"]),
        ("finished trials", b["finished"], s["finished"]),
        ("  complete / pruned", f"{b['complete']}/{b['pruned']}", f"{s['complete']}/{s['pruned']}"),
        ("failed and retried", b["failed_retried"], s["failed_retried"]),
        ("failed, not retried", b["failed_not_retried"], s["failed_not_retried"]),
        ("left running/waiting", f"{b['running']}/{b['waiting']}", f"{s['running']}/{s['waiting']}"),
        ("lost (target 0)", b["lost"], s["lost"]),
        ("wall time (s)", f"{base['elapsed']:.1f}", f"{soak['elapsed']:.1f}"),
        ("throughput (trials/s)", f"{b['throughput']:.2f}", f"{s['throughput']:.2f}"),
    ]
    for label, x, y in rows:
        print(f"{label:<24}{x!s:>14}{y!s:>14}")
    ratio = s["throughput"] / b["throughput"] if b["throughput"] else float("nan")
    print()
    print(f"throughput of the disturbed run: {ratio:.0%} of the undisturbed one")


def _verdict(base: dict, soak: dict, b: dict, s: dict) -> bool:
    """Both runs exited cleanly, no slot was lost, nothing was left running, and no traceback was printed."""
    ok = (
        base["returncode"] == 0 and soak["returncode"] == 0 and b["lost"] == 0 and s["lost"] == 0
        and s["running"] == s["waiting"] == 0 and s["failed_not_retried"] == 0
    )  # fmt: skip
    for run in (base, soak):
        if "Traceback" in run["stderr"]:
            ok = False
            print(f"{run['name']}: a traceback on stderr:\n{run['stderr'][-3000:]}", file=sys.stderr)
    print("result: OK, every slot finished" if ok else "result: FAILED (see above)")
    return ok


if __name__ == "__main__":
    sys.exit(main())
