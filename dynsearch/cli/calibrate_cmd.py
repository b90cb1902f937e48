"""``dynsearch calibrate STUDY.toml``: where each signal lies on the study's data, and threshold ranges that fire."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

from ._common import UsageError, positive_int

__all__ = ["COMMANDS"]


def configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("study_file", metavar="STUDY.toml", type=Path, help="the study to calibrate")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="epochs per training run (default: the study's, at most 8)")
    parser.add_argument("--seeds", type=positive_int, default=1, help="training seeds per arm and dataset (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="parallel training processes (default: one per CPU core; 1 on a GPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return calibrate_command


class _Progress:
    """One tqdm bar on stderr over the training runs (created on the first finished run)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int, what: str) -> None:
        if self.bar is None:
            # tqdm and the command's modules load when it runs: `dynsearch --help` and the other commands start fast
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="run", desc="calibrating", dynamic_ncols=True, file=sys.stderr)
        self.bar.set_postfix_str(what, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _load(path: Path) -> Any:
    """The study, read without resolving its own ``"calibrated"`` ranges (this command makes them)."""
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..config import ConfigError, load_study_file
    from ..config._calibrated import calibration_optional
    from ..data import DatasetError, load_dataset

    try:
        with calibration_optional():
            spec = load_study_file(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    for ds in spec.datasets:  # every dataset loads before anything is trained or written
        try:
            load_dataset(ds.name, split_seed=spec.split_seed, **dict(ds.options))
        except DatasetError as exc:
            raise UsageError(f"{spec.path}: datasets: {exc}") from None
    return spec


def calibrate_command(args: argparse.Namespace) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files
    # torch and the command's modules load when it runs: `dynsearch --help` and the other commands start fast
    import torch

    from ..calibration import DEFAULT_EPOCHS, calibrate, calibration_dir, fixed_families, write_calibration_report

    try:
        torch.device(args.device)
    except RuntimeError:
        raise UsageError(f"--device: unknown torch device {args.device!r}; e.g. cpu, cuda, cuda:1") from None
    spec = _load(args.study_file)
    out = calibration_dir(spec.name)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder; move it away to calibrate {spec.name!r}")
    progress = None if args.quiet else _Progress()
    if progress is not None:  # the first run may take a while before the bar appears
        arms = fixed_families(spec)
        epochs = args.epochs or min(spec.train.epochs, DEFAULT_EPOCHS)
        print(f"calibrating {spec.name}: {', '.join(a for a, _ in arms)} on {len(spec.datasets)} dataset(s), "
              f"{args.seeds} seed(s), {epochs} epochs each, every signal recorded", file=sys.stderr, flush=True)
    try:
        cal = calibrate(spec, epochs=args.epochs, seeds=args.seeds, device=args.device, progress=progress,
                        processes=args.jobs)
    finally:
        if progress is not None:
            progress.close()
    command = "dynsearch calibrate " + shlex.join(sys.argv[2:] if len(sys.argv) > 2 else [str(args.study_file)])
    write_calibration_report(cal, out, command)
    print(f"calibrated {spec.name}: {len(cal.arms)} fixed arm(s) x {len(cal.datasets)} dataset(s) x "
          f"{len(cal.seeds)} seed(s), {cal.epochs} epochs, {cal.wall_time:.1f} s")
    for name, s in cal.summary.items():
        rng = "did not vary" if s.suggested is None else f"suggested threshold range [{s.suggested[0]:.3f}, " \
              f"{s.suggested[1]:.3f}]"
        print(f"  {name:<11} median {s.quantiles[0.5]:.3f}  {rng}")
    print(f'report: {out / "index.html"} (study files use the ranges with lower = "calibrated", upper = "calibrated")')
    return 0


COMMANDS = {"calibrate": ("train the study's fixed arms briefly and suggest threshold ranges from where each signal "
                          "lies", configure)}
