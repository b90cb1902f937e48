"""``dynsearch report``, ``dynsearch dashboard`` and ``dynsearch export``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from ._common import UsageError, did_you_mean, positive_int

__all__ = ["COMMANDS", "open_study"]

_STORAGE_HELP = "Optuna storage URL (default: DYNSEARCH_STORAGE, else journal:runs/NAME.journal)"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number in 0..65535, got {text!r}")
    return value


def _journal_file(url: str) -> Path | None:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..search.storage import is_journal

    if not is_journal(url):
        return None
    return Path(url[len("journal:"):] if url.startswith("journal:") else url)


def _open_storage_readonly(url: str) -> Any:
    """Open an existing storage; a journal file that does not exist is an error, never created."""
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..search.storage import StorageError, check_storage_url, mask_url, open_storage

    try:
        check_storage_url(url)
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    journal = _journal_file(url)
    if journal is not None and not journal.is_file():
        raise UsageError(
            f"storage {mask_url(url)}: no such journal file (run the study first with 'dynsearch run STUDY.toml', "
            "or pass --storage URL)"
        )
    try:
        return open_storage(url, heartbeat=False)
    except StorageError as exc:
        raise UsageError(str(exc)) from None


def _check_default_journal(name: str, url: str) -> None:
    """A study whose default journal (runs/NAME.journal) is missing: name the studies that do exist."""
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..search.storage import RUNS_DIR, default_storage_url

    journal = _journal_file(url)
    if url != default_storage_url(name) or journal is None or journal.is_file():
        return
    known = sorted(p.stem for p in RUNS_DIR.glob("*.journal"))
    raise UsageError(
        f"no study {name!r}{did_you_mean(name, known)}: {journal} does not exist (studies in {RUNS_DIR}/: "
        f"{', '.join(known) or 'none'}; run one with 'dynsearch run STUDY.toml', or pass --storage URL)"
    )


def open_study(name: str, storage_arg: str | None) -> tuple[Any, str]:
    """``(study, storage_url)`` for a study that exists; a one-line UsageError otherwise."""
    # optuna and the command's modules load when it runs: `dynsearch --help` and the other commands start fast
    import optuna

    from ..search.storage import mask_url, resolve_storage_url

    url = resolve_storage_url(storage_arg, None, name)
    _check_default_journal(name, url)
    storage = _open_storage_readonly(url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise UsageError(f"no study {name!r}{did_you_mean(name, names)} on {mask_url(url)} (studies there: {known})")
    study = optuna.load_study(study_name=name, storage=storage)
    if "dynsearch_spec" not in study.user_attrs:
        raise UsageError(f"study {name!r} on {mask_url(url)} was not created by 'dynsearch run' (no study spec stored)")
    return study, url


def _quiet_optuna() -> None:
    # optuna and the command's modules load when it runs: `dynsearch --help` and the other commands start fast
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


# --- report ----------------------------------------------------------------------------------


def configure_report(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("name", metavar="NAME", help="the study's name")
    parser.add_argument("--storage", help=_STORAGE_HELP)
    parser.add_argument("--out", type=Path, help="output folder (default reports/NAME)")
    parser.add_argument("--seeds", type=positive_int, default=None,
                        help="re-training seeds per arm and dataset for the test comparison (default 5)")
    parser.add_argument("--refresh", action="store_true", help="re-train everything, ignoring retrain.json")
    parser.add_argument("--device", default="cpu", help="torch device for the re-training (default cpu)")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="parallel re-training processes (default: one per CPU core; 1 on a GPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="re-train on a Ray cluster through joblib's Ray backend: auto, HOST:PORT or "
                             "ray://HOST:PORT (needs dynsearch[ray]; --jobs defaults to the cluster's CPUs)")
    parser.add_argument("--final-fixed", action="store_true",
                        help="also re-train each candidate run with its end state fixed from the start (a control)")
    return report


def report(args: argparse.Namespace) -> int:
    # Figures are files: no GUI backend (set before matplotlib is imported; an explicit MPLBACKEND wins).
    os.environ.setdefault("MPLBACKEND", "Agg")
    # torch and the command's modules load when it runs: `dynsearch --help` and the other commands start fast
    import torch

    from ..report import DEFAULT_SEEDS, build_report
    from ..search.storage import mask_url

    _quiet_optuna()
    try:
        torch.device(args.device)
    except RuntimeError:
        raise UsageError(f"--device: unknown torch device {args.device!r}; e.g. cpu, cuda, cuda:1") from None
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out: {args.out} exists and is not a folder")
    study, url = open_study(args.name, args.storage)
    seeds = args.seeds or DEFAULT_SEEDS
    command = f"dynsearch report {args.name}" + (f" --seeds {seeds}" if seeds != DEFAULT_SEEDS else "") + (
        " --final-fixed" if args.final_fixed else "")
    try:
        with _retrain_backend(args.cluster) as cluster_cpus:
            result = build_report(
                study, args.out, seeds=seeds, refresh=args.refresh, device=args.device, jobs=args.jobs or cluster_cpus,
                storage_label=mask_url(url), command=command, progress=not args.quiet, final_fixed=args.final_fixed,
            )
    except ValueError as exc:  # a ClusterError too: Ray missing or the cluster unreachable, before any training
        raise UsageError(str(exc)) from None
    if not args.quiet:
        print(result.comparison.conclusion)
        print(f"report: {result.out / 'index.html'}")
    # Each arm's re-trained configuration is its best validation trial: say when validation could not pick it.
    from ..search.ties import find_ties_per_arm, per_arm_message

    line = per_arm_message(find_ties_per_arm(study.get_trials(deepcopy=False)))
    if line is not None:
        print(line, file=sys.stderr)
    return 0


@contextlib.contextmanager
def _retrain_backend(address: str | None) -> Iterator[int | None]:
    """joblib's backend for the re-training: the default (None) or, with --cluster, Ray's (its CPU count)."""
    if address is None:
        yield None
        return
    from ..cluster import ray_backend  # only with --cluster, like Ray itself

    with ray_backend(address) as info:
        yield info.cpus


# --- dashboard -------------------------------------------------------------------------------


def configure_dashboard(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..dashboard import DEFAULT_HOST, DEFAULT_PORT

    parser.add_argument("name", metavar="NAME", nargs="?",
                        help="the study to open (its storage defaults to journal:runs/NAME.journal)")
    parser.add_argument("--storage", help=_STORAGE_HELP + "; without NAME, the only journal in runs/")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to bind (default {DEFAULT_HOST}; 0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    return dashboard


def _dashboard_storage_url(args: argparse.Namespace) -> str:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..search.storage import RUNS_DIR, resolve_storage_url

    if args.name:
        return resolve_storage_url(args.storage, None, args.name)
    url = args.storage or os.environ.get("DYNSEARCH_STORAGE")
    if url:
        return url
    journals = sorted(RUNS_DIR.glob("*.journal"))
    if len(journals) == 1:
        return f"journal:{journals[0]}"
    if not journals:
        raise UsageError(f"dashboard: no study given and {RUNS_DIR}/ holds no journal; pass NAME or --storage URL")
    raise UsageError(
        f"dashboard: {RUNS_DIR}/ holds {len(journals)} journals ({', '.join(p.stem for p in journals)}); "
        "pass the study NAME or --storage URL"
    )


def dashboard(args: argparse.Namespace) -> int:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..dashboard import serve
    from ..search._optuna import storage_of, study_id_of
    from ..search.storage import mask_url

    _quiet_optuna()
    study_id = None
    if args.name:
        study, url = open_study(args.name, args.storage)
        storage = storage_of(study)
        study_id = study_id_of(study)
    else:
        url = _dashboard_storage_url(args)
        storage = _open_storage_readonly(url)
    try:
        return serve(storage, host=args.host, port=args.port, study_id=study_id, storage_label=mask_url(url))
    except OSError as exc:
        reason = exc.strerror or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise UsageError(f"dashboard: cannot listen on {args.host}:{args.port}: {reason}") from None


# --- export ----------------------------------------------------------------------------------


def configure_export(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("name", metavar="NAME", help="the study's name")
    parser.add_argument("--storage", help=_STORAGE_HELP)
    parser.add_argument("--family", help="only this strategy family: fixed, threshold, linear, learned (or a "
                                         "registered strategy); default: the best of all arms")
    parser.add_argument("--scope", help="only arms whose trials all run with this scope: layer or global")
    parser.add_argument("--arm", help="only this arm, e.g. threshold-layer (the labels 'dynsearch run' and the report show)")
    parser.add_argument("-o", "--output", type=Path, help="write the config here (default: print it on stdout)")
    return export


def export(args: argparse.Namespace) -> int:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..export import TIE_RULE, dumps, export_record, matching_arms, select_best_trial, write_export
    from ..search.storage import mask_url
    from ..search.study import load_spec
    from ..search.ties import find_tie
    from ..strategies import SCOPES, strategy_names

    _quiet_optuna()
    if args.scope is not None and args.scope not in SCOPES:
        raise UsageError(f"--scope: expected one of {', '.join(SCOPES)}, got {args.scope!r}")
    if args.output is not None and args.output.is_dir():
        raise UsageError(f"-o: {args.output} is a folder; give a file name such as best.json")
    hint = did_you_mean(args.family, strategy_names()) if args.family is not None else ""
    if args.family is not None and args.family not in strategy_names() and hint:
        # One typo from a registered name: say so before the study is read (its plugins add only new names).
        raise UsageError(f"--family: unknown strategy {args.family!r}{hint}; expected one of {', '.join(strategy_names())}")
    study, url = open_study(args.name, args.storage)
    try:
        spec = load_spec(study)
    except ValueError as exc:
        raise UsageError(f"export: {exc}") from None
    if args.family is not None and args.family not in strategy_names():  # after the study's plugins loaded
        raise UsageError(f"--family: unknown strategy {args.family!r}{did_you_mean(args.family, strategy_names())}; "
                         f"expected one of {', '.join(strategy_names())}")
    arms = None
    if args.family is not None or args.scope is not None:
        arms = matching_arms(spec, args.family, args.scope)
    if args.arm is not None:
        if args.arm not in spec.arms:
            raise UsageError(f"--arm: {args.arm!r} is not an arm of study {args.name!r}{did_you_mean(args.arm, spec.arms)}; "
                             f"its arms: {', '.join(spec.arms)}")
        arms = [a for a in (arms if arms is not None else spec.arms) if a == args.arm]
    trial = select_best_trial(study.get_trials(deepcopy=False), arms)
    if trial is None:
        wanted = " ".join(x for x in (f"family {args.family!r}" if args.family else "",
                                      f"scope {args.scope!r}" if args.scope else "",
                                      f"arm {args.arm!r}" if args.arm else "") if x)
        raise UsageError(f"export: study {args.name!r} has no complete trial" + (f" of {wanted}" if wanted else ""))
    trials = study.get_trials(deepcopy=False)
    # The candidates are the trials the filters allow; a tie among them is broken by the rule, not the data.
    tie = find_tie([t for t in trials if select_best_trial([t], arms) is not None])
    if tie is not None:
        print(tie.message(), file=sys.stderr)
    try:
        record = export_record(study, trial, mask_url(url))
    except ValueError as exc:
        raise UsageError(f"export: {exc}") from None
    if args.output is None:
        sys.stdout.write(dumps(record))
        return 0
    write_export(record, args.output)
    print(f"exported trial {record.trial} ({record.arm}, mean validation metric {record.scores['mean']:.4f}) "
          f"of study {record.study} to {args.output} (best by validation; {TIE_RULE})")
    return 0


COMMANDS = {
    "report": ("re-train each arm's best trial on the test split and write reports/NAME/", configure_report),
    "dashboard": ("open optuna-dashboard on a study's storage (loopback by default)", configure_dashboard),
    "export": ("write the best strategy config of a study as JSON (for dynsearch.load_config)", configure_export),
}
