"""Wall time of the quickstart search with packs (its default, ``--pack auto``) against ``--pack 1``.

Each run is ``dynsearch run studies/quickstart.toml`` on a fresh journal in a temporary folder,
timed from launch to exit (interpreter start, imports, the split cache, the workers' spawn and
warm-up, the search and the summary). The two settings alternate, ``--reps`` times each (so a
drifting machine load hits both alike), and the 1-minute load average is printed with every run:
on a shared machine the figures are only as good as the machine is quiet.

Run:  python benchmarks/quickstart_time.py [--reps 2] [--workers auto]
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

ROOT = Path(__file__).resolve().parents[1]


def run_once(pack: str, workers: str, folder: Path) -> float:
    journal = folder / f"quickstart-{pack}-{time.time_ns()}.journal"
    cmd = [sys.executable, "-m", "dynsearch", "run", str(ROOT / "studies" / "quickstart.toml"), "--storage",
           f"journal:{journal}", "--workers", workers, "--pack", pack, "--quiet"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    env["PYTHONPATH"] = str(ROOT)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"dynsearch run --pack {pack} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2, help="runs per setting (default 2)")
    parser.add_argument("--workers", default="auto")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"auto": [], "1": []}
    print(f"quickstart: dynsearch run studies/quickstart.toml --workers {args.workers}, {os.cpu_count()} CPU(s), "
          f"load average {os.getloadavg()[0]:.2f} at start")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="dynsearch-quickstart-") as tmp:
        for rep in range(args.reps):
            for pack in ("auto", "1") if rep % 2 == 0 else ("1", "auto"):
                took = run_once(pack, args.workers, Path(tmp))
                times[pack].append(took)
                print(f"  --pack {pack:<4} {took:6.1f} s  (load {os.getloadavg()[0]:.2f})", flush=True)
    auto, one = statistics.median(times["auto"]), statistics.median(times["1"])
    print(f"median: --pack auto {auto:.1f} s, --pack 1 {one:.1f} s; --pack 1 / auto = {one / auto:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
