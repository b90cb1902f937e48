"""Wall time of a study from its file to its report: ``calibrate``, ``run`` and ``report``, each timed.

Each stage is the project's own command, run as a new process in a fresh temporary folder (so the
calibration, the journal and the report land there, never in ``reports/``), timed from launch to exit.
``--root`` picks the checkout whose ``dynsearch`` runs (default: this one), so two commits can be
timed one after the other on the same machine. The 1-minute load average is printed before and after
every stage: on a shared machine the figures are only as good as the machine is quiet.

Run:
    python benchmarks/benchmark_time.py                                   # studies/benchmark.toml, report --seeds 3 --final-fixed
    python benchmarks/benchmark_time.py --study studies/quickstart.toml --seeds 5
    python benchmarks/benchmark_time.py --root /path/to/other/checkout --json out.json
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
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load() -> float:
    return os.getloadavg()[0]


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit(root: Path) -> str:
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "not a git checkout"


def stages(study: Path, name: str, folder: Path, seeds: int, final_fixed: bool) -> list[tuple[str, list[str]]]:
    """The three commands, in order, with the journal and the report inside ``folder``."""
    storage = f"journal:{folder / 'study.journal'}"
    report = ["report", name, "--storage", storage, "--out", str(folder / "report"), "--seeds", str(seeds), "--quiet"]
    return [
        ("calibrate", ["calibrate", str(study), "--quiet"]),
        ("run", ["run", str(study), "--storage", storage, "--quiet"]),
        ("report", report + (["--final-fixed"] if final_fixed else [])),
    ]


def time_stage(root: Path, folder: Path, args: list[str]) -> tuple[float, int]:
    """Seconds from launch to exit of ``python -m dynsearch ARGS`` in ``folder``, and its exit code."""
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dynsearch", *args], cwd=folder, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    return elapsed, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", type=Path, default=ROOT / "studies" / "benchmark.toml")
    parser.add_argument("--seeds", type=int, default=3, help="report --seeds (default 3, as the benchmark's report)")
    parser.add_argument("--no-final-fixed", action="store_true", help="leave out report --final-fixed")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose dynsearch runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    study = args.study.resolve()
    name = tomllib.loads(study.read_text())["name"]
    root = args.root.resolve()
    print(f"{study.name} ({name}) with dynsearch from {root} at {_commit(root)}; {_cpu()}, {os.cpu_count()} cores; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dynsearch-benchmark-") as tmp:
        folder = Path(tmp)
        for stage, command in stages(study, name, folder, args.seeds, not args.no_final_fixed):
            before = _load()
            seconds, code = time_stage(root, folder, command)
            figures[stage] = seconds
            print(f"  {stage:<10} {seconds:8.1f} s   load {before:.2f} -> {_load():.2f}"
                  + ("" if code == 0 else f"   FAILED (exit {code})"), flush=True)  # fmt: skip
            if code != 0:
                return 1
    total = sum(figures.values())
    print(f"  {'total':<10} {total:8.1f} s   ({total / 60:.1f} min)")
    if args.json is not None:
        args.json.write_text(json.dumps({"study": str(study), "commit": _commit(root), "cpu": _cpu(),
                                         "seconds": figures, "total": total}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
