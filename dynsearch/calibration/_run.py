"""Calibration: where each signal lies on a study's own data and model, and the threshold ranges that fire.

A rule that switches when a signal crosses a threshold only acts if the threshold lies where the
signal does, and that place depends on the signal, the family, the data and the model (io sits near
0.85–0.99, a relu site's dead share near 0.25–0.5). ``calibrate(spec)`` trains the study's fixed arms
briefly (its datasets, model and training settings, seeded), records every registered signal per
site, dataset and epoch with ``train(record_signals=...)``, and suggests per signal a threshold range
from the 10th to the 90th percentile of what it saw: a threshold inside it has values on both sides.
``Calibration.save`` writes ``calibration.json``; a study file's ``lower = "calibrated"`` reads it.

Example:
    >>> from dynsearch.config import parse_study
    >>> spec = parse_study({"datasets": ["iris"], "model": {"hidden": [8]},
    ...                     "search": {"strategies": ["fixed"], "bases": ["relu"]}}, "studies/demo.toml")
    >>> cal = calibrate(spec, epochs=2, seeds=1, progress=None)
    >>> sorted(cal.summary)[:3]
    ['data', 'dead', 'gradient']
    >>> low, high = cal.summary["dead"].suggested
    >>> 0.0 <= low < high <= 1.0
    True
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from joblib import Parallel, delayed

from ..config._calibration import QUANTILES, SUGGESTED, Calibration, Row, SignalSummary
from ..data import load_dataset
from ..plugins import load_plugins
from ..search.runner import available_cores, default_processes
from ..signals import make_signal, signal_names
from ..train import train

__all__ = ["DEFAULT_EPOCHS", "calibrate", "fixed_families", "summarize"]

DEFAULT_EPOCHS = 8  # "briefly": the signals' spread shows within a few epochs (docs/signals.md)
_DIGITS = 3  # suggested ranges are rounded outwards to this many decimals

Progress = Callable[[int, int, str], None]


def _suggest(values: np.ndarray, value_range: tuple[float, float]) -> tuple[float, float] | None:
    """The 10th–90th percentile range, rounded outwards and kept inside the signal's range."""
    low, high = (float(np.quantile(values, q)) for q in SUGGESTED)
    scale = 10**_DIGITS
    low = max(math.floor(low * scale) / scale, value_range[0])
    high = min(math.ceil(high * scale) / scale, value_range[1])
    return (low, high) if high - low >= 1.0 / scale else None


def summarize(rows: Sequence[Row], signals: Sequence[Any]) -> dict[str, SignalSummary]:
    """Quantiles and the suggested range of every signal that has values in ``rows``."""
    out = {}
    for signal in signals:
        values = np.array([r[7] for r in rows if r[6] == signal.name and math.isfinite(r[7])], dtype=float)
        if values.size == 0:
            continue
        value_range = (float(signal.value_range[0]), float(signal.value_range[1]))
        out[signal.name] = SignalSummary(
            signal.name, signal.measures, value_range, int(values.size),
            {q: float(np.quantile(values, q)) for q in QUANTILES}, _suggest(values, value_range),
        )
    return out


def fixed_families(spec: Any) -> list[tuple[str, str]]:
    """``(arm label, family)`` of the study's arms that never adjust (fixed activations). A study
    without such an arm is calibrated on the base families its strategies search."""
    found = [(a.label, str(a.params.get("base"))) for a in spec.search.arms if not a.adjusts and a.params.get("base")]
    if found:
        return found
    bases: list[str] = []
    for s in spec.search.strategies:
        for family in s.as_dict().get("base") or ():
            if family not in bases:
                bases.append(family)
    return [(f"fixed-{b}", b) for b in bases or [spec.train.activation]]


def _calibrate_dataset(ds: Any, train_config: Any, arms: Sequence[tuple[str, str]], seeds: int, split_seed: int,
                       device: str, names: Sequence[str], plugins: Sequence[str], threads: int | None) -> list[Row]:
    """Every (fixed arm, seed) run on one dataset; the rows of every signal, site and epoch. Runs in a
    pool process too, so it loads the study's plugins (their signals) and sets its torch threads itself."""
    load_plugins(plugins)
    if threads:
        torch.set_num_threads(threads)
    splits = load_dataset(ds.name, split_seed=split_seed, device=device, **dict(ds.options))
    rows: list[Row] = []
    for arm, family in arms:
        for seed in range(seeds):
            config = dataclasses.replace(train_config, seed=seed)
            result = train(splits, {"name": "fixed", "params": {"base": family}}, config, record_signals=names)
            for record in result.history:
                for site, values in record.signals.items():
                    rows += [(arm, family, ds.label, seed, record.epoch, site, sig, float(v))
                             for sig, v in values.items()]
    return rows


def _indexed(index: int, *args: Any) -> tuple[int, list[Row]]:
    """``_calibrate_dataset(*args)`` with its dataset's index: results arrive in any order."""
    return index, _calibrate_dataset(*args)


def calibrate(
    spec: Any, *, epochs: int | None = None, seeds: int = 1, device: str = "cpu", progress: Progress | None = None,
    processes: int | None = None,
) -> Calibration:
    """Train the fixed arms of ``spec`` on each of its datasets with ``seeds`` seeds (0, 1, …) for
    ``epochs`` epochs (default: the study's, at most ``DEFAULT_EPOCHS``; no early stopping) and record
    every registered signal. Datasets train in ``processes`` parallel processes (default: one per
    CPU core, one on a GPU); every run seeds itself, so the result does not depend on how many.
    ``progress(done, total, what)`` is called after each training run (a dataset's runs together)."""
    started = time.perf_counter()
    epochs = epochs or min(spec.train.epochs, DEFAULT_EPOCHS)
    arms = fixed_families(spec)
    names = signal_names()
    config = dataclasses.replace(spec.train, epochs=epochs, patience=0)
    total, done = len(arms) * len(spec.datasets) * seeds, 0
    processes = max(1, min(processes or default_processes(device), len(spec.datasets)))
    per_dataset: list[list[Row]] = [[] for _ in spec.datasets]

    def finished(index: int, rows: list[Row]) -> None:
        nonlocal done
        per_dataset[index] = rows
        for arm, _ in arms:
            for seed in range(seeds):
                done += 1
                if progress is not None:
                    progress(done, total, f"{arm} on {spec.datasets[index].label}, seed {seed}")

    args = (config, arms, seeds, spec.split_seed, device, names, tuple(spec.plugins))
    if processes == 1:
        for index, ds in enumerate(spec.datasets):
            finished(index, _calibrate_dataset(ds, *args, None))
    else:  # through joblib's process backend (loky), as the report's re-training
        threads = max(1, available_cores() // processes)
        parallel = Parallel(n_jobs=processes, return_as="generator_unordered", batch_size=1)
        for index, rows in parallel(delayed(_indexed)(i, ds, *args, threads) for i, ds in enumerate(spec.datasets)):
            finished(index, rows)
    rows = [row for dataset_rows in per_dataset for row in dataset_rows]  # the study's dataset order
    signals = [make_signal(n) for n in names]
    return Calibration(spec.name, spec.path, epochs, list(range(seeds)), [a for a, _ in arms],
                       [d.label for d in spec.datasets], rows, summarize(rows, signals), time.perf_counter() - started)
