"""``dynsearch plan STUDY.toml --effect 0.01``: datasets, seeds and replicates needed to detect an effect,
from a pilot (or finished) study's stored trials and, when it has one, its report's re-training runs."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

from ._common import UsageError

__all__ = ["COMMANDS"]


def _effect(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("study_file", metavar="STUDY.toml", type=Path, help="the pilot or finished study's file")
    parser.add_argument("--effect", type=_effect, required=True,
                        help="the smallest mean difference of the metric to detect, e.g. 0.01 (one point)")
    parser.add_argument("--storage", help="Optuna storage URL (default: DYNSEARCH_STORAGE, the study file's, "
                                          "else journal:runs/NAME.journal)")
    parser.add_argument("--report", type=Path, default=None,
                        help="the study's report folder with retrain.json (default reports/NAME when it exists)")
    return plan


def _fmt_hours(hours: float) -> str:
    if not math.isfinite(hours):
        return "unknown"
    if hours * 60 < 1:
        return "< 1 min"
    return f"~{hours * 60:.0f} min" if hours < 1 else f"~{hours:.1f} h"


def plan(args: argparse.Namespace) -> int:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..config import ConfigError, load_study_file
    from ..report.inference import N_SIMULATIONS, make_plan
    from ..report.trials import collect
    from ..search.runner import available_cores
    from .report_cmd import _quiet_optuna, open_study

    try:
        spec = load_study_file(args.study_file)
    except ConfigError as exc:
        raise UsageError(str(exc), about_file=True) from None
    _quiet_optuna()
    study, _ = open_study(spec.name, args.storage or spec.storage)
    data = collect(study)
    report_dir = args.report if args.report is not None else Path("reports") / spec.name
    if args.report is not None and not (args.report / "retrain.json").is_file():
        raise UsageError(f"--report: {args.report / 'retrain.json'} does not exist (run 'dynsearch report "
                         f"{spec.name}' first, or leave --report out)")
    workers = available_cores()
    p = make_plan(data, args.effect, report_dir, workers)
    c = p.components
    print(f"plan for {spec.name}: detect a mean difference of {args.effect:g} with 80 % power "
          f"(Wilcoxon over datasets, α = 0.05 over {p.tests} candidate test{'s' if p.tests != 1 else ''}; power from "
          f"{N_SIMULATIONS} studies per design simulated from the pilot's per-dataset effects)")
    print(f"spread measured from the {p.source}:")
    for name, var in (("datasets", c.dataset), ("replicates (which trial won)", c.replicate), ("seeds", c.seed)):
        print(f"  between {name}: SD {'not measured' if math.isnan(var) else f'{math.sqrt(var):.4f}'}")
    for note in p.notes:
        print(f"note: {note}")
    if not p.rows:
        return 1
    print(f"{'seeds':>6} {'replicates':>10} {'datasets':>9}  time on this machine ({workers} workers)")
    for row in p.rows:
        n = "> 2000" if row.datasets is None else str(row.datasets)
        print(f"{row.seeds:>6} {row.replicates:>10} {n:>9}  {_fmt_hours(row.hours) if row.datasets else '–'}")
    print(f"(times: {p.run_seconds:.2f} s per training run measured in the study's trials, the study's "
          f"{spec.n_trials} trials per replicate, each arm's winner re-trained on every dataset; datasets beyond "
          "the built-in ones come from the real-tables and synthetic suites and from csv:/parquet: files)")
    return 0


COMMANDS = {"plan": ("how many datasets, seeds and replicates a study needs to detect an effect", configure)}
