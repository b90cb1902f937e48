"""``dynsearch run``, ``dynsearch worker`` and ``dynsearch studies``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

from ._common import UsageError, did_you_mean, positive_int

__all__ = ["COMMANDS"]


def _workers_arg(text: str) -> str | int:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {text!r}")
    return value


def _devices_arg(text: str) -> list[int]:
    try:
        devices = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU indices like 0,2, got {text!r}") from None
    if not devices:
        raise argparse.ArgumentTypeError(f"expected GPU indices like 0,2, got {text!r}")
    return devices


def _pack_arg(text: str) -> str | int:
    try:
        return _workers_arg(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer (trials trained together), got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _set_verbosity(verbose: bool, quiet: bool) -> None:
    # optuna and the command's modules load when it runs: `dynsearch --help` and the other commands start fast
    import optuna

    level = logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING
    optuna.logging.set_verbosity(level)
    logging.basicConfig(level=level, format="%(name)s: %(message)s")
    logging.getLogger("dynsearch").setLevel(level)


# --- run -------------------------------------------------------------------------------------


def configure_run(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("study_file", type=Path, metavar="STUDY.toml", help="the study file (see docs/study-file.md)")
    parser.add_argument("--n-trials", type=positive_int,
                        help="finished trials wanted per search replicate (default: the file's n_trials)")
    parser.add_argument("--timeout", type=_positive_float, help="stop claiming new trials after this many seconds")
    parser.add_argument("--workers", type=_workers_arg, default=None,
                        help="auto (default: one per GPU, or one per CPU core without a GPU) or a count")
    parser.add_argument("--per-device", type=positive_int, default=1, help="workers per GPU (default 1)")
    parser.add_argument("--devices", type=_devices_arg, help="restrict to these GPU indices, e.g. 0,2")
    parser.add_argument("--pack", type=_pack_arg, default=None,
                        help="trials of the same model shape a worker trains together: auto or a count "
                             "(default: the study's pack, auto)")
    parser.add_argument("--storage", help="Optuna storage URL (default: DYNSEARCH_STORAGE, the file's storage, "
                                          "or journal:runs/NAME.journal)")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run the workers as actors of a Ray cluster: auto, HOST:PORT or ray://HOST:PORT "
                             "(needs dynsearch[ray]; several nodes need a PostgreSQL storage)")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--verbose", action="store_true", help="show Optuna's per-trial log lines")
    noise.add_argument("--quiet", action="store_true", help="print nothing but errors, warnings about the study and the final summary")
    return run


def _load_spec(path: Path):
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..config import ConfigError, load_study_file

    try:
        return load_study_file(path)
    except ConfigError as exc:
        raise UsageError(str(exc), about_file=True) from None


def _check_datasets(spec: Any) -> None:
    """Load every dataset once before any storage is touched: a bad CSV is a usage error."""
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..data import DatasetError, load_dataset
    from ..factories import FactoryError
    from ..train import check_model

    # The searched factory parameters at their low ends: the factory sees a value for every one it needs.
    low = {name: bounds[0] for name, bounds in spec.search.model}
    config = dataclasses.replace(spec.train, model_params={**spec.train.model_params, **low})
    for ds in spec.datasets:
        try:
            splits = load_dataset(ds.name, split_seed=spec.split_seed, **dict(ds.options))
        except DatasetError as exc:
            raise UsageError(f"{spec.path}: datasets: {exc}", about_file=True) from None
        try:  # a study's own model: built once on each dataset, so a wrong shape fails now, not in every trial
            check_model(splits, config)
        except FactoryError as exc:
            raise UsageError(f"{spec.path}: model.factory: {ds.label}: {exc}", about_file=True) from None


def run(args: argparse.Namespace) -> int:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..search.runner import run_study
    from ..search.storage import StorageError, check_storage_url, mask_url, resolve_storage_url

    spec = _load_spec(args.study_file)
    storage_url = resolve_storage_url(args.storage, spec.storage, spec.name)
    try:
        check_storage_url(storage_url)
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    _check_datasets(spec)
    _set_verbosity(args.verbose, args.quiet)
    n_trials = args.n_trials or spec.n_trials
    if n_trials < len(spec.arms):
        raise UsageError(
            f"--n-trials: {n_trials} is fewer than the study's {len(spec.arms)} strategy families "
            f"({', '.join(spec.arms)}); equal budgets need at least one trial each"
        )
    workers = args.workers if args.workers is not None else spec.workers
    if args.cluster is not None:
        summary = _run_on_cluster(args, spec, storage_url, n_trials, workers)
        return _finish(summary, mask_url(storage_url))
    try:
        summary = run_study(
            spec,
            storage_url,
            n_trials=n_trials,
            timeout=args.timeout or spec.timeout,
            workers=workers,
            per_device=args.per_device,
            devices=args.devices,
            progress=not args.quiet,
            verbose=args.verbose,
            pack=args.pack,
        )
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return _finish(summary, mask_url(storage_url))


def _finish(summary: Any, storage_label: str) -> int:
    _print_summary(summary, storage_label)
    if summary.interrupted:
        print("interrupted: running trials were marked FAIL and re-queued; run the same command to resume.")
        return 130
    return 0


def _run_on_cluster(args: argparse.Namespace, spec: Any, storage_url: str, n_trials: int, workers: str | int) -> Any:
    """``run --cluster``: the workers as Ray actors (dynsearch.cluster); bad input raises before anything is written."""
    # only with --cluster, like Ray itself
    from ..cluster import ClusterError, connect, run_study_on_cluster
    from ..search.storage import StorageError

    if args.devices:
        raise UsageError("--devices: not with --cluster, where Ray assigns the GPUs; cap the actors with --workers")
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    try:
        cluster = connect(args.cluster)
        return run_study_on_cluster(
            spec, storage_url, cluster, n_trials=n_trials, timeout=args.timeout or spec.timeout, workers=workers,
            per_device=args.per_device, progress=not args.quiet, log_level=level, pack=args.pack,
        )  # fmt: skip
    except (ClusterError, StorageError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _print_summary(summary: Any, storage_label: str) -> None:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..search.study import best_per_arm, describe_params

    counts = summary.counts
    devices = sorted({slot.label for slot in summary.slots})
    print(
        f"study {summary.study.study_name}: {counts.finished} finished ({counts.complete} complete, "
        f"{counts.pruned} pruned), {counts.failed} failed, {counts.waiting} waiting "
        f"— {len(summary.slots)} worker(s) on {', '.join(devices)}, {summary.elapsed:.1f} s"
    )
    trials = summary.study.get_trials(deepcopy=False)
    best = best_per_arm(trials)
    if best:
        print("best configuration per strategy family (mean validation metric):")
        width = max(len(arm) for arm in best)
        for arm, trial in sorted(best.items(), key=lambda kv: -kv[1].values[0]):
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in describe_params(trial).items() if v is not None)
            print(f"  {arm:<{width}}  {trial.values[0]:.4f}  trial {trial.number}  {params}")
    print(f"storage: {storage_label}")
    warn_ties(trials)


def warn_ties(trials: list[Any]) -> None:
    """On stderr: a best value that ties across trials or saturates, within arms and overall."""
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..search.ties import find_tie, find_ties_per_arm, per_arm_message

    for line in (per_arm_message(find_ties_per_arm(trials)), find_tie(trials)):
        if line is not None:
            print(line if isinstance(line, str) else line.message(), file=sys.stderr)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# --- worker ----------------------------------------------------------------------------------


def configure_worker(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("--study", required=True, help="name of the study to join")
    parser.add_argument("--storage", help="storage URL (default: DYNSEARCH_STORAGE or journal:runs/NAME.journal)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (pin a GPU with CUDA_VISIBLE_DEVICES)")
    parser.add_argument("--threads", type=positive_int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--worker-index", type=int, default=0, help="offsets the sampler seed (default 0)")
    parser.add_argument("--pack", type=_pack_arg, default=None,
                        help="trials of the same model shape trained together: auto or a count (default: the study's)")
    parser.add_argument("--share", type=positive_int, default=1, help=argparse.SUPPRESS)  # workers sharing the queue
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--verbose", action="store_true", help="show Optuna's per-trial log lines")
    noise.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return worker


def worker(args: argparse.Namespace) -> int:
    # optuna and the command's modules load when it runs: `dynsearch --help` and the other commands start fast
    import optuna

    from ..search.storage import (
        RUNS_DIR,
        StorageError,
        _journal_path,
        check_storage_url,
        is_journal,
        mask_url,
        open_storage,
        resolve_storage_url,
    )  # fmt: skip
    from ..search.worker import run_worker  # with the storage above: loaded when the worker starts

    _set_verbosity(args.verbose, args.quiet)
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise UsageError(f"--device: expected cpu, cuda or cuda:N, got {args.device!r}")
    storage_url = resolve_storage_url(args.storage, None, args.study)
    try:
        check_storage_url(storage_url)
        if is_journal(storage_url) and not _journal_path(storage_url).is_file():
            # Joining never creates a storage: a missing journal means a wrong name or folder.
            known_names = sorted(p.stem for p in RUNS_DIR.glob("*.journal"))
            raise UsageError(f"worker: no study {args.study!r}{did_you_mean(args.study, known_names)}: "
                             f"{mask_url(storage_url)} does not exist "
                             "(start the study with 'dynsearch run STUDY.toml', or pass --storage URL)")
        storage = open_storage(storage_url)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    if args.study not in names:
        known = ", ".join(names) or "none"
        raise UsageError(f"worker: no study {args.study!r}{did_you_mean(args.study, names)} on {mask_url(storage_url)} "
                         f"(studies there: {known})")
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..config import ConfigError

    try:
        result = run_worker(
            args.study, storage_url, device=args.device, threads=args.threads,
            worker_index=args.worker_index, deadline=args.deadline, pack=args.pack, share=args.share,
            announce=not args.quiet,
        )
    except ConfigError as exc:  # the stored study names a plugin this machine cannot import, or similar
        raise UsageError(f"worker: study {args.study!r}: {exc}", about_file=True) from None
    if not args.quiet:
        print(f"worker {os.getpid()}: ran {result.ran} trial(s): {result.complete} complete, "
              f"{result.pruned} pruned, {result.failed} failed", file=sys.stderr)
    return 130 if result.interrupted else 0


# --- studies ---------------------------------------------------------------------------------


def configure_studies(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("--storage", help="storage URL (default: DYNSEARCH_STORAGE, else every runs/*.journal)")
    return studies


def studies(args: argparse.Namespace) -> int:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..search.storage import RUNS_DIR, StorageError, _journal_path, is_journal, mask_url
    from ..search.study import list_studies

    url = args.storage or os.environ.get("DYNSEARCH_STORAGE")
    urls = [url] if url else [f"journal:{p}" for p in sorted(RUNS_DIR.glob("*.journal"))]
    if not urls:
        print(f"no studies: {RUNS_DIR}/ holds no journal (run a study first, or pass --storage URL)")
        return 0
    rows: list[tuple[Any, ...]] = []
    for storage_url in urls:
        if is_journal(storage_url) and not _journal_path(storage_url).is_file():
            continue  # listing must not create the file (or its folder)
        try:
            rows.extend((mask_url(storage_url), *row) for row in list_studies(storage_url))
        except StorageError as exc:
            raise UsageError(str(exc)) from None
    if not rows:
        print(f"no studies on {', '.join(mask_url(u) for u in urls)}")
        return 0
    header = ("storage", "study", "complete", "pruned", "failed", "running", "waiting", "best")
    table: list[tuple[str, ...]] = [header, *(tuple(str(c) for c in r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


COMMANDS = {
    "run": ("run a study file: queue its trials and work them off in parallel", configure_run),
    "worker": ("join a running study as one more worker (e.g. from another machine)", configure_worker),
    "studies": ("list the studies on a storage with trial counts and best value", configure_studies),
}
