"""The trainer: the write-up's loop — train an epoch, measure r, let the strategy adjust, repeat.

Its settings live in ``train_config``, its losses and metrics in ``metrics``; both are re-exported here.

Example:
    >>> from dynsearch.data import load_dataset
    >>> from dynsearch.train import TrainConfig, train
    >>> result = train(load_dataset("iris"), {"name": "fixed", "params": {}}, TrainConfig(epochs=2))
    >>> result.status
    'ok'
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from .adjustment import adjust
from .data import DatasetSplits, iter_batches
from .metrics import batch_loss, evaluate, metric_name, split_metrics
from .models import build_model
from .signals import SignalRecorder
from .sites import (
    apply,
    needs_input_signal,
    needs_target_signal,
    observe_input,
    observe_output,
    parameter_groups,
    sites,
)
from .strategies import Strategy, strategy_from_config
from .train_config import MODEL_KINDS, OPTIMIZERS, TrainConfig

__all__ = [
    "TrainConfig",
    "TrainResult",
    "EpochRecord",
    "TrainingInterrupted",
    "train",
    "evaluate",
    "batch_loss",
    "split_metrics",
    "OPTIMIZERS",
    "MODEL_KINDS",
]


class TrainingInterrupted(Exception):
    """Raised by ``train`` when its ``should_stop`` callback asks it to stop (checked every batch)."""


@dataclass
class EpochRecord:
    """One epoch of history: losses, validation metric and every site's r, family and α."""

    epoch: int
    train_loss: float
    val_loss: float
    val_metric: float
    sites: list[dict[str, Any]] = field(default_factory=list)
    # {site: {signal: value}} of the signals ``train(record_signals=...)`` measured (network ones under "(network)")
    signals: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What one training run produced. ``test_metric`` is None unless the test split was asked for."""

    status: str
    dataset: str
    task: str
    metric: str
    strategy: dict[str, Any]
    best_val_metric: float
    best_epoch: int
    final_val_metric: float
    epochs_run: int
    wall_time: float
    n_switches: int
    history: list[EpochRecord]
    test_metric: float | None = None
    test_loss: float | None = None
    diverged_epoch: int | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model, config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)


def _snapshot(model: nn.Module) -> dict[str, Any]:
    """A copy of the state_dict: tensors cloned, a site's extra state (host counters) copied."""
    return {k: v.detach().clone() if isinstance(v, Tensor) else dict(v) for k, v in model.state_dict().items()}


def build(splits: DatasetSplits, strategy: Strategy | Mapping[str, Any], config: TrainConfig) -> nn.Module:
    """The study's model for this dataset, seeded, with its activations turned into sites."""
    torch.manual_seed(config.seed)
    model = build_model(
        config.model,
        input_shape=splits.input_shape,
        n_outputs=splits.n_outputs,
        hidden=config.hidden,
        channels=config.channels,
        activation=config.activation,
        dropout=config.dropout,
    )
    model = apply(model.to(splits.x_train.device), strategy)
    for _, site in sites(model):
        site.measure_every = config.measure_every
    return model


def _recorder(model: nn.Module, signals: Sequence[Any]) -> Any:
    if not signals:
        return None
    return SignalRecorder(model, list(signals))


def _epoch_signals(recorder: Any) -> dict[str, dict[str, float]]:
    """The epoch's measured values (one host sync per value, once per epoch), then a fresh start."""
    if recorder is None:
        return {}
    return {site: {name: v[0] for name, v in values.items()} for site, values in recorder.epoch_values().items()}


def train(
    splits: DatasetSplits,
    strategy: Strategy | Mapping[str, Any],
    config: TrainConfig | None = None,
    *,
    on_epoch: Callable[[int, float], None] | None = None,
    evaluate_test: bool = False,
    should_stop: Callable[[], bool] | None = None,
    record_signals: Sequence[Any] = (),
) -> TrainResult:
    """Train a model on ``splits`` under ``strategy``; early-stop on the validation metric.

    Args:
        splits: the dataset, already on the device it trains on.
        strategy: the adjustment strategy or its config.
        config: training settings (defaults: ``TrainConfig()``).
        on_epoch: called as ``on_epoch(epoch, val_metric)`` after every epoch; it may raise
            (the search raises ``optuna.TrialPruned`` through it).
        evaluate_test: score the held-out test split with the best weights. The search never
            sets it, so it never sees the test split.
        should_stop: checked before every batch; when it returns True, ``TrainingInterrupted``
            is raised (a worker's Ctrl-C or SIGTERM stops within one batch).
        record_signals: signals (names or configs, see ``dynsearch.signals``) to measure on every
            site through a ``SignalRecorder``, whatever the strategy reads; each epoch's values go
            to ``EpochRecord.signals``. Measuring changes nothing in the training.
    """
    config = config or TrainConfig()
    strategy = strategy_from_config(strategy)
    started = time.perf_counter()
    model = build(splits, strategy, config)
    fit = _fit(model, splits, config, on_epoch=on_epoch, should_stop=should_stop, record_signals=record_signals)
    history, best_state = fit.history, fit.best_state
    n_switches = sum(site.n_switches_ for _, site in sites(model))  # over the whole run
    if best_state is not None:
        model.load_state_dict(best_state)
    test_loss = test_metric = None
    if evaluate_test and best_state is not None:
        test_loss, test_metric = evaluate(model, splits.x_test, splits.y_test, splits.task)
    final_val = history[-1].val_metric if history else math.nan
    return TrainResult(
        status=fit.status,
        dataset=splits.name,
        task=splits.task,
        metric=metric_name(splits.task),
        strategy=strategy.to_config(),
        best_val_metric=fit.best_metric if best_state is not None else math.nan,
        best_epoch=fit.best_epoch,
        final_val_metric=final_val,
        epochs_run=len(history),
        wall_time=time.perf_counter() - started,
        n_switches=n_switches,
        history=history,
        test_metric=test_metric,
        test_loss=test_loss,
        diverged_epoch=fit.diverged_epoch,
        message=fit.message,
    )


@dataclass
class _Fit:
    """What the epoch loop leaves: the history, the best epoch and its weights, and how it ended."""

    history: list[EpochRecord] = field(default_factory=list)
    best_metric: float = -math.inf
    best_epoch: int = -1
    best_state: dict[str, Any] | None = None
    status: str = "ok"
    diverged_epoch: int | None = None
    message: str = ""

    def diverge(self, record: EpochRecord, message: str) -> None:
        self.status, self.diverged_epoch, self.message = "diverged", record.epoch, message
        self.history.append(record)


def _fit(
    model: nn.Module,
    splits: DatasetSplits,
    config: TrainConfig,
    *,
    on_epoch: Callable[[int, float], None] | None,
    should_stop: Callable[[], bool] | None,
    record_signals: Sequence[Any] = (),
) -> _Fit:
    """The epoch loop: train, let the strategy adjust, validate, keep the best weights, stop early."""
    optimizer = _optimizer(model, config)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    watch_target = needs_target_signal(model)
    watch_input = needs_input_signal(model)  # the data signal: a constant of the dataset, measured all the same
    recorder = _recorder(model, record_signals)
    fit = _Fit()
    for epoch in range(config.epochs):
        train_loss = _train_epoch(model, optimizer, splits, config.batch_size, generator, epoch,
                                  watch_target=watch_target, watch_input=watch_input, recorder=recorder,
                                  should_stop=should_stop)  # fmt: skip
        records = adjust(model, epoch)
        signals = _epoch_signals(recorder)
        if not math.isfinite(train_loss) or any(not math.isfinite(r["alpha"]) for r in records):
            fit.diverge(EpochRecord(epoch, train_loss, math.nan, math.nan, records, signals),
                        f"training loss became {train_loss} at epoch {epoch}")  # fmt: skip
            break
        val_loss, val_metric = evaluate(model, splits.x_val, splits.y_val, splits.task)
        if not math.isfinite(val_metric):
            fit.diverge(EpochRecord(epoch, train_loss, val_loss, val_metric, records, signals),
                        f"validation metric became {val_metric} at epoch {epoch}")  # fmt: skip
            break
        fit.history.append(EpochRecord(epoch, train_loss, val_loss, val_metric, records, signals))
        if val_metric > fit.best_metric:
            fit.best_metric, fit.best_epoch = val_metric, epoch
            fit.best_state = _snapshot(model)
        if on_epoch is not None:
            on_epoch(epoch, val_metric)
        if config.patience and epoch - fit.best_epoch >= config.patience:
            break
    if recorder is not None:
        recorder.close()
    return fit


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    splits: DatasetSplits,
    batch_size: int,
    generator: torch.Generator,
    epoch: int,
    *,
    watch_target: bool,
    watch_input: bool,
    recorder: Any,
    should_stop: Callable[[], bool] | None,
) -> float:
    """One pass over the training split; returns the mean training loss."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=splits.x_train.device)
    n_batches = 0
    for xb, yb in iter_batches(splits.x_train, splits.y_train, batch_size, generator=generator):
        if should_stop is not None and should_stop():
            raise TrainingInterrupted(f"stopped during epoch {epoch}")
        optimizer.zero_grad(set_to_none=True)
        output = model(xb)
        loss = batch_loss(output, yb, splits.task)
        loss.backward()
        optimizer.step()
        if watch_target:
            observe_output(model, output, yb)
        if watch_input:
            observe_input(model, xb, yb)
        if recorder is not None:
            recorder.observe_output(output.detach(), yb)
            recorder.observe_input(xb, yb)
        loss_sum += loss.detach()  # summed on the device: no host sync per step
        n_batches += 1
    return float(loss_sum) / max(n_batches, 1)
