"""Start-up of ``dynsearch worker``: seconds from launching the process to its first claimed trial.

What it measures, side by side and interleaved (so drifting machine load hits every side alike):

* ``worker``: ``python -m dynsearch worker --study S`` on a study with one queued trial (digits),
  timed from ``Popen`` to the trial's ``datetime_start`` (the moment it was claimed);
* ``worker, cached splits``: the same with the split cache ``dynsearch run`` hands its workers;
* ``plain script``: a process that imports torch and Optuna and loads the same digits tensors from a
  file, the start-up a hand-written Optuna + PyTorch script pays.

``--tree PATH`` runs the worker from another checkout (e.g. an older commit exported with
``git archive``) with the same interpreter, for a before/after comparison; ``--before PATH`` runs such a
checkout's worker (cached splits) interleaved with the others instead. Target: <= 2.5 s.

Run:  python benchmarks/worker_startup.py [--reps 5] [--tree PATH] [--before PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STUDY = """\
name = "startup"
datasets = ["digits"]
n_trials = 1
[model]
hidden = [64, 64]
[training]
epochs = 1
[search]
strategies = ["fixed"]
bases = ["relu"]
[sampler]
name = "random"
[pruner]
name = "none"
"""
PLAIN = "import torch, optuna; d = torch.load({path!r}, weights_only=True); print(d['x_train'].shape)"


def _queued_study(folder: Path, tree: Path) -> str:
    """Queue the study with the checkout under test (its stored spec must be one it can read back)."""
    (folder / "startup.toml").write_text(STUDY)
    url = f"journal:{folder / 'startup.journal'}"
    code = ("from dynsearch.config import load_study_file\nfrom dynsearch.search import open_storage, prepare_study\n"
            f"prepare_study(load_study_file({str(folder / 'startup.toml')!r}), open_storage({url!r}), {url!r}, 1)")
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(tree)}, check=True,
                   capture_output=True)  # fmt: skip
    return url


def time_worker(tree: Path, cache: Path | None) -> float:
    """Seconds from launch to the claim of the study's one trial."""
    from dynsearch.search import open_storage

    with tempfile.TemporaryDirectory() as tmp:
        url = _queued_study(Path(tmp), tree)
        env = {**os.environ, "DYNSEARCH_STORAGE": url, "PYTHONPATH": str(tree)}
        if cache is not None:
            env["DYNSEARCH_SPLIT_CACHE"] = str(cache)
        started = time.time()
        subprocess.run([sys.executable, "-m", "dynsearch", "worker", "--study", "startup", "--quiet"],
                       env=env, check=True, capture_output=True, cwd=tmp)  # fmt: skip
        trial = optuna.load_study(study_name="startup", storage=open_storage(url)).trials[0]
        return trial.datetime_start.timestamp() - started


def time_plain(data_file: Path) -> float:
    started = time.time()
    subprocess.run([sys.executable, "-c", PLAIN.format(path=str(data_file))], check=True, capture_output=True)
    return time.time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="runs per side (default 5; the median is reported)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to run the worker from (default: this one)")
    parser.add_argument("--before", type=Path, help="another checkout whose worker (cached splits) runs interleaved")
    args = parser.parse_args(argv)
    from dynsearch.config import load_study_file
    from dynsearch.data import load_dataset
    from dynsearch.search.split_cache import write_split_cache

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "s.toml").write_text(STUDY)
        cache = folder / "cache"
        cache.mkdir()
        write_split_cache(load_study_file(folder / "s.toml"), cache)
        splits = load_dataset("digits")
        import torch

        torch.save({"x_train": splits.x_train, "y_train": splits.y_train}, folder / "digits.pt")
        sides: dict[str, list[float]] = {"worker": [], "worker, cached splits": [], "plain script": []}
        if args.before is not None:
            sides["before: cached splits"] = []
        for _ in range(args.reps):
            sides["worker"].append(time_worker(args.tree, None))
            sides["worker, cached splits"].append(time_worker(args.tree, cache))
            sides["plain script"].append(time_plain(folder / "digits.pt"))
            if args.before is not None:
                sides["before: cached splits"].append(time_worker(args.before, cache))
    load = os.getloadavg()[0]
    print(f"worker start-up (launch -> first trial claimed), {args.reps} runs each, tree {args.tree}, "
          f"load average {load:.1f} on {os.cpu_count()} CPU(s)")  # fmt: skip
    for name, times in sides.items():
        print(f"  {name:<24} median {statistics.median(times):5.2f} s   (min {min(times):.2f}, max {max(times):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
