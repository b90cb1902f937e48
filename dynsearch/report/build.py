"""``build_report``: from a stored study to ``reports/NAME/`` (index.html, report.md, trials.csv,
retrain.json, figures/). The only training it does is the re-training of each arm's best trial for
the test comparison, and that is cached in retrain.json.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import optuna

from .._version import __version__
from ..data import DatasetError, describe_dataset, load_dataset
from ._io import atomic_write_text
from .figures import Figure, make_figures
from .inference import Comparison, compare
from .render import Block, ReportMeta, add_sections, build_blocks, provenance, render_html, render_markdown, trials_csv
from .retrain import (
    DEFAULT_SEEDS,
    ProgressBar,
    RetrainRun,
    RetrainStore,
    plan_jobs,
    retrain_seeds,
    run_final_fixed,
    run_jobs,
)
from .trials import StudyData, collect

__all__ = ["ReportResult", "build_report", "default_out_dir", "REPORT_FILES"]

REPORT_FILES = ("index.html", "report.md", "trials.csv", "retrain.json")


def default_out_dir(study_name: str) -> Path:
    return Path("reports") / study_name


@dataclass
class ReportResult:
    out: Path
    data: StudyData
    comparison: Comparison
    figures: list[Figure]
    trained: int
    reused: int


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _describe_datasets(data: StudyData) -> dict[str, str]:
    """Each dataset's one-line description (task, size, source) by label; one that fails to load is left out."""
    out = {}
    for ds in data.spec.datasets:
        try:
            splits = load_dataset(ds.name, split_seed=data.spec.split_seed, **dict(ds.options))
        except (DatasetError, ValueError, OSError):  # a user's loader may fail; the report still renders
            continue
        out[ds.label] = describe_dataset(splits).partition(": ")[2]
    return out


def build_report(
    study: optuna.Study,
    out: str | os.PathLike[str] | None = None,
    *,
    seeds: int = DEFAULT_SEEDS,
    refresh: bool = False,
    device: str = "cpu",
    jobs: int | None = None,
    storage_label: str = "",
    command: str | None = None,
    progress: bool = True,
    announce: Callable[[str], None] | None = None,
    final_fixed: bool = False,
) -> ReportResult:
    """Write the report of ``study`` into ``out`` (default ``reports/NAME``).

    Args:
        study: a study created by ``dynsearch run`` (its spec is read from the study).
        seeds: re-training seeds per arm and dataset (``1000 … 1000 + seeds - 1``).
        refresh: re-train even what ``retrain.json`` already holds.
        device: torch device for the re-training.
        jobs: parallel re-training processes (default: one per CPU core on the CPU, 1 on a GPU).
        storage_label: the storage URL to print (mask passwords first).
        progress: a progress bar of the re-training on stderr.
        final_fixed: also train every candidate run's final_fixed control (``report.retrain``).

    Raises:
        ValueError: the study was not created by dynsearch, or ``seeds`` < 1.
    """
    if seeds < 1:
        raise ValueError(f"seeds: expected an integer >= 1, got {seeds}")
    data = collect(study)
    out_dir = Path(out) if out is not None else default_out_dir(data.name)
    say = announce if announce is not None else (_stderr if progress else None)
    out_dir.mkdir(parents=True, exist_ok=True)

    seed_list = retrain_seeds(seeds)
    runs, trained, planned, derived = _retrain(data, out_dir, seed_list, device=device, refresh=refresh, jobs=jobs,
                                               progress=progress, say=say, final_fixed=final_fixed)  # fmt: skip
    comparison = compare(data, runs, seed_list, data.spec.equivalence_margin)
    figures = make_figures(data, study, out_dir, comparison)

    devices = sorted({r.device for r in runs.values()}) or [device]
    meta = ReportMeta(
        command=command or f"dynsearch report {data.name}",
        provenance=provenance(data.spec.to_dict(), devices),
        version=__version__,
        storage=storage_label or "(not given)",
        device=", ".join(devices),
        trained_now=trained,
        reused=planned - trained,
        datasets=_describe_datasets(data),
    )
    blocks = add_sections(build_blocks(data, comparison, figures, meta), data, comparison, runs, seed_list, out_dir,
                          derived)
    _write_files(out_dir, study, data, blocks)
    if say is not None:
        say(f"report written to {out_dir / 'index.html'} (and report.md, trials.csv, retrain.json, figures/)")
    return ReportResult(out_dir, data, comparison, figures, trained, planned - trained)


def _retrain(
    data: StudyData, out_dir: Path, seed_list: list[int], *, device: str, refresh: bool, jobs: int | None,
    progress: bool, say: Callable[[str], None] | None, final_fixed: bool,
) -> tuple[dict[str, RetrainRun], int, int, dict[str, RetrainRun]]:  # fmt: skip
    """Re-train each arm's best trial on the test comparison's seeds (cached in retrain.json), and with
    ``final_fixed`` each changed candidate run from its own end state.

    Returns the runs, how many were trained now, how many the report needs in all, and the final_fixed runs.
    """
    store = RetrainStore.load(out_dir / "retrain.json", data.name)
    jobs_to_run = plan_jobs(data, seed_list)
    bar = ProgressBar() if progress else None
    try:
        runs, trained = run_jobs(
            jobs_to_run, store, device=device, refresh=refresh, progress=bar, announce=say, processes=jobs,
        )
    finally:
        if bar is not None:
            bar.close()
    derived, n_derived, trained_derived = run_final_fixed(
        data, jobs_to_run, runs, store, enabled=final_fixed, bar=progress, device=device, refresh=refresh,
        announce=say, processes=jobs)
    trained += trained_derived
    if store.dirty or not store.path.exists():
        store.save()
    return runs, trained, len(jobs_to_run) + n_derived, derived


def _write_files(out_dir: Path, study: optuna.Study, data: StudyData, blocks: list[Block]) -> None:
    atomic_write_text(out_dir / "trials.csv", trials_csv(study, data))
    atomic_write_text(out_dir / "report.md", render_markdown(blocks))
    atomic_write_text(out_dir / "index.html", render_html(blocks, f"dynsearch report: {data.name}"))
