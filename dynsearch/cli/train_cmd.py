"""``dynsearch train``: train one model on one dataset under one strategy and summarise it."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Callable

from ._common import UsageError, did_you_mean

__all__ = ["COMMANDS", "configure", "parse_options", "parse_sizes"]

# Strategy parameters settable from the command line: flag name → (parameter, type).
_STRATEGY_FLAGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "base": ("base", str),
    "scope": ("scope", str),
    "signal": ("signal", str),
    "reduction": ("reduction", str),
    "every": ("every", int),
    "warmup": ("warmup", int),
    "lower": ("lower", float),
    "upper": ("upper", float),
    "below": ("below", str),
    "above": ("above", str),
    "cooldown": ("cooldown", int),
    "between": ("between", str),
    "lam": ("lam", float),
    "alpha0": ("alpha0", float),
}


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"64,64"`` → ``(64, 64)``; an empty string means no hidden layer."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,64, got {text!r}") from None


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["noise=0.2", "n_samples=500"]`` → ``{"noise": 0.2, "n_samples": 500}`` (numbers parsed)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--dataset-option: expected KEY=VALUE, got {pair!r}")
        value: Any = raw
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except ValueError:
                continue
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        options[key.strip()] = value
    return options


def configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..strategies import signal_names, strategy_names

    data = parser.add_argument_group("data")
    data.add_argument("--dataset", help="dataset name (iris, digits, moons, …) or csv:PATH / parquet:PATH")
    data.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                      help="dataset option, repeatable (n_samples=500, noise=0.2, target=label, …)")
    data.add_argument("--target", metavar="COLUMN", help="csv/parquet: the target column (default: the last column)")
    data.add_argument("--split-seed", type=int, default=0, help="seed of the train/val/test split (default 0)")

    strat = parser.add_argument_group("strategy")
    strat.add_argument("--config", type=Path, help="exported best config (dynsearch export): sets strategy, training and, without --dataset, trains on every dataset of the export")
    strat.add_argument("--strategy", default=None, help=f"strategy name: {', '.join(strategy_names())} (default fixed)")
    strat.add_argument("--base", help="base activation family (default: the model's --activation)")
    strat.add_argument("--scope", help="layer | global (default layer)")
    strat.add_argument("--signal", help=f"{' | '.join(signal_names())} (default io)")
    strat.add_argument("--reduction", help="pooled | unit_mean: the signal over all elements, or per unit averaged (default pooled)")
    strat.add_argument("--every", type=int, help="adjust every k epochs (default 1)")
    strat.add_argument("--warmup", type=int, help="epochs before the first adjustment (default 0)")
    strat.add_argument("--lower", type=float, help="threshold: lower threshold in the signal's range (default -0.5)")
    strat.add_argument("--upper", type=float, help="threshold: upper threshold in the signal's range (default 0.5)")
    strat.add_argument("--below", help="threshold: family when r < lower (default tanh)")
    strat.add_argument("--above", help="threshold: family when r > upper (default sigmoid)")
    strat.add_argument("--cooldown", type=int, help="threshold: minimum epochs between switches (default 0)")
    strat.add_argument("--between", help="threshold: base (the write-up's literal rule: back to the base family "
                                         "between the thresholds; default) | keep (hysteresis: the family stays)")
    strat.add_argument("--lam", "--lambda", dest="lam", type=float, help="linear: λ in α = α₀ + λ·r (default 0.1)")
    strat.add_argument("--alpha0", type=float, help="linear: α₀ (default: the family's default α)")
    strat.add_argument("--cumulative", action="store_true", default=None, help="linear: α ← α + λ·r instead")
    strat.add_argument("--per-channel", action="store_true", default=None,
                       help="learned: one α per unit or channel (PReLU-style) instead of one per site")

    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 30)")
    train.add_argument("--batch-size", type=int, default=None, help="batch size (default 128)")
    train.add_argument("--optimizer", default=None, help="adam | adamw | sgd (default adam)")
    train.add_argument("--lr", type=float, default=None, help="learning rate (default 0.001)")
    train.add_argument("--weight-decay", type=float, default=None, help="weight decay (default 0)")
    train.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs, 0 = off (default 10)")
    train.add_argument("--seed", type=int, default=None, help="training seed (default 0)")
    train.add_argument("--model", default=None, help="auto | mlp | cnn (default auto: cnn for image data)")
    train.add_argument("--hidden", type=parse_sizes, default=None, help="MLP hidden sizes, e.g. 64,64 (default)")
    train.add_argument("--dropout", type=float, default=None, help="dropout probability (default 0)")
    train.add_argument("--activation", default=None, help="the model's activation before the strategy (default relu)")
    train.add_argument("--measure-every", type=int, default=None, help="measure r on one batch in k (default 1)")
    train.add_argument("--device", default="cpu", help="torch device (default cpu)")

    out = parser.add_argument_group("output")
    out.add_argument("--json", type=Path, metavar="PATH", help="write the full result with per-epoch history")
    out.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return run


def _train_settings(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    settings = dict(base)
    for key in ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "patience", "seed", "model",
                "hidden", "dropout", "activation", "measure_every"):
        value = getattr(args, key)
        if value is not None:
            settings[key] = list(value) if key == "hidden" else value
    return settings


def _strategy(args: argparse.Namespace, exported: Any) -> Any:
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..activations import family_names, get_family
    from ..strategies import make_strategy, strategy_from_config, strategy_names

    if args.strategy is not None and args.strategy not in strategy_names():
        raise UsageError(f"--strategy: unknown strategy {args.strategy!r}{did_you_mean(args.strategy, strategy_names())}"
                         f"; registered strategies: {', '.join(strategy_names())}")
    for flag in ("base", "below", "above", "activation"):
        value = getattr(args, flag)
        try:
            if value is not None:
                get_family(value)
        except ValueError:
            raise UsageError(f"--{flag}: unknown activation family {value!r}{did_you_mean(value, family_names())}; "
                             f"allowed: {', '.join(family_names())}") from None
    given = {param: getattr(args, flag) for flag, (param, _) in _STRATEGY_FLAGS.items() if getattr(args, flag) is not None}
    if args.cumulative:
        given["cumulative"] = True
    if args.per_channel:
        given["per_channel"] = True
    try:
        if exported is not None:
            config = dict(exported.strategy)
            config["params"] = {**config.get("params", {}), **given}
            return strategy_from_config(config)
        return make_strategy(args.strategy or "fixed", **given)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _datasets(args: argparse.Namespace, exported: Any) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, options)]`` to train on: ``--dataset``, else every dataset of the ``--config`` export."""
    options = parse_options(args.dataset_option)
    if args.target is not None:
        options["target"] = args.target
    if args.dataset is not None:
        # A dataset of the export keeps the export's options (e.g. moons' n_samples) unless flags change them.
        known = {ds["name"]: ds.get("options", {}) for ds in (exported.datasets if exported is not None else [])}
        return [(args.dataset, {**known.get(args.dataset, {}), **options})]
    if exported is None or not exported.datasets:
        raise UsageError("train: --dataset is required (a name such as digits, or csv:PATH with --target COLUMN)")
    return [(ds["name"], {**ds.get("options", {}), **options}) for ds in exported.datasets]


def run(args: argparse.Namespace) -> int:
    # torch and the command's modules load when it runs: `dynsearch --help` and the other commands start fast
    import torch

    from ..fit import FitError
    from ..train import TrainConfig, train

    if args.config is not None and args.strategy is not None:
        raise UsageError(f"train: --strategy cannot be combined with --config (the config {args.config} sets the "
                         "strategy; change its parameters with flags such as --lower, or drop --config)")
    exported = None
    if args.config is not None:
        # loaded when this command runs, so `dynsearch --help` and the other commands start fast
        from ..export import ExportError, read_export

        try:
            exported = read_export(args.config)
        except ExportError as exc:
            raise UsageError(str(exc), about_file=True) from None
    strategy = _strategy(args, exported)
    base_settings = exported.train if exported is not None else {}
    try:
        settings = TrainConfig.from_dict(_train_settings(args, base_settings))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"training setting {exc}") from None
    datasets = _datasets(args, exported)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise UsageError(f"--device: unknown torch device {args.device!r}; e.g. cpu, cuda, cuda:1") from None
    split_seed = args.split_seed if exported is None else exported.split_seed
    loaded = _load_all(datasets, split_seed, device, settings)
    if len(loaded) > 1 and not args.quiet:
        print(f"training on all {len(loaded)} datasets of {args.config} (pass --dataset NAME for one): "
              f"{', '.join(splits.name for splits in loaded)}")
    results = []
    for splits in loaded:
        try:
            result = train(splits, strategy, settings, evaluate_test=True)
        except FitError as exc:  # the training function named by the config broke its contract
            raise UsageError(str(exc)) from None
        results.append(result)
        if not args.quiet:
            print(("\n" if len(loaded) > 1 else "") + summary(result))
    if args.json is not None:
        data = [r.to_dict() for r in results] if len(results) > 1 else results[0].to_dict()
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2, default=_json_default))
        if not args.quiet:
            print(f"result with history written to {args.json}" + (" (a list, one per dataset)" if len(results) > 1 else ""))
    return 0 if all(r.status == "ok" for r in results) else 1


def _load_all(datasets: list[tuple[str, dict[str, Any]]], split_seed: int, device: Any, settings: Any) -> list[Any]:
    """Every dataset loaded (and a factory model built on each) before any training: a bad one fails at once and
    nothing is written."""
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..data import DatasetError, load_dataset
    from ..factories import FactoryError
    from ..train import check_model

    loaded = []
    for name, options in datasets:
        try:
            loaded.append(load_dataset(name, split_seed=split_seed, device=device, **options))
        except DatasetError as exc:
            raise UsageError(str(exc)) from None
        try:  # a factory model that cannot train on this data fails before any training, like a bad dataset
            check_model(loaded[-1], settings)
        except FactoryError as exc:
            raise UsageError(str(exc)) from None
    return loaded


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serializable: {value!r}")


def summary(result: Any) -> str:
    """A readable multi-line summary of a ``TrainResult``."""
    params = ", ".join(f"{k}={v}" for k, v in result.strategy["params"].items() if v is not None)
    lines = [
        f"dataset   {result.dataset} ({result.task})",
        f"strategy  {result.strategy['name']}({params})",
        f"status    {result.status}" + (f": {result.message}" if result.message else ""),
        f"epochs    {result.epochs_run} (best at epoch {result.best_epoch})",
        f"val {result.metric:<8} best {result.best_val_metric:.4f}, final {result.final_val_metric:.4f}",
    ]
    if result.test_metric is not None:
        lines.append(f"test {result.metric:<7} {result.test_metric:.4f} (best-validation weights)")
    lines.append(f"switches  {result.n_switches}")
    lines.append(f"time      {result.wall_time:.2f} s")
    if result.history:
        lines.append("sites at the end:")
        for site in result.history[-1].sites:
            lines.append(f"  {site['site']:<12} {site['family']:<10} α={site['alpha']:.4g}  {_r_text(site)}")
    return "\n".join(lines)


def _r_text(site: dict[str, Any]) -> str:
    # Nothing measured (fixed and learned strategies read no r): a printed r = 0 would look like a measurement.
    if not site.get("n"):
        return "r not measured"
    return f"r={site['r']:+.3f}" + (" (zero variance)" if site["degenerate"] else "")


COMMANDS = {"train": ("train one model under one strategy and print a summary", configure)}
