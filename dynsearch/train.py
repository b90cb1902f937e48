"""The trainer: the write-up's loop — train an epoch, measure r, let the strategy adjust, repeat.

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
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._constraints import Constraint, Integer, Real, Sizes, check_all
from .activations import family_names, get_family
from .adjustment import adjust
from .data import DatasetSplits, iter_batches
from .models import build_model
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

OPTIMIZERS = ("adam", "adamw", "sgd")
MODEL_KINDS = ("auto", "mlp", "cnn")


# Every numeric training setting and what it allows, in the order they are checked.
_TRAIN_CONSTRAINTS: dict[str, Constraint] = {
    "epochs": Integer(1),
    "batch_size": Integer(1),
    "patience": Integer(0),
    "seed": Integer(0),
    "measure_every": Integer(1),
    "lr": Real(0, low_open=True),
    "weight_decay": Real(0),
    "momentum": Real(0),
    "dropout": Real(0, 1, high_open=True),
    "hidden": Sizes(),
    "channels": Sizes(),
}


class TrainingInterrupted(Exception):
    """Raised by ``train`` when its ``should_stop`` callback asks it to stop (checked every batch)."""


@dataclass
class TrainConfig:
    """Training settings shared by ``dynsearch train``, the search and the report.

    ``patience`` 0 disables early stopping. ``measure_every`` k measures one training batch in k
    for the site signals: io, dead, saturation, gradient (1: every batch).
    """

    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    patience: int = 10
    seed: int = 0
    model: str = "auto"
    hidden: tuple[int, ...] = (64, 64)
    channels: tuple[int, ...] = (16, 32)
    dropout: float = 0.0
    activation: str = "relu"
    measure_every: int = 1

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        self.channels = tuple(self.channels)
        self.validate()
        # A NumPy integer is a valid setting; stored as a plain int so the config stays JSON-safe.
        for name, constraint in _TRAIN_CONSTRAINTS.items():
            if isinstance(constraint, Integer):
                setattr(self, name, int(getattr(self, name)))
        self.hidden = tuple(int(v) for v in self.hidden)
        self.channels = tuple(int(v) for v in self.channels)

    def validate(self) -> None:
        """Raise ValueError with a one-line message for the first bad setting."""
        check_all(self, _TRAIN_CONSTRAINTS)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model: expected one of {', '.join(MODEL_KINDS)}, got {self.model!r}.")
        try:
            family = get_family(self.activation)
        except ValueError:
            raise ValueError(
                f"activation: expected an activation family ({', '.join(family_names())}), got {self.activation!r}."
            ) from None
        if family.learned_only:
            raise ValueError(f"activation: {family.name} is learned only (no plain module); use another activation and "
                             f"the learned strategy with base = {family.name!r}.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        allowed = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in allowed]
        if unknown:
            raise ValueError(f"unknown training setting {unknown[0]!r}; allowed: {', '.join(allowed)}.")
        return cls(**dict(data))


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


def _metric_name(task: str) -> str:
    return "accuracy" if task == "classification" else "r2"


def batch_loss(output: Tensor, target: Tensor, task: str) -> Tensor:
    """Mean loss of a batch: cross entropy (classification) or squared error (regression).

    ``target`` is ``[B]``, or ``[K, B]`` with ``output`` ``[K, B, ...]`` for K models at once
    (the packed trainer), which gives K losses.
    """
    if task == "classification":
        if target.dim() == 1:
            return F.cross_entropy(output, target)
        per_row = F.cross_entropy(output.reshape(target.numel(), -1), target.reshape(-1), reduction="none")
        return per_row.view(target.shape).mean(-1)
    return (output.reshape(target.shape) - target).pow(2).mean(-1)


def split_metrics(outputs: Tensor, y: Tensor, task: str) -> tuple[list[float], list[float]]:
    """(loss, metric) of K models' ``outputs`` ``[K, n, ...]`` on one split: accuracy for
    classification, R² for regression (0 when the targets do not vary)."""
    k = outputs.shape[0]
    losses = batch_loss(outputs, y.expand(k, *y.shape), task).tolist()
    if task == "classification":
        return losses, (outputs.argmax(dim=-1) == y).double().mean(-1).tolist()
    total = float(((y - y.mean()) ** 2).sum())
    residuals = ((y - outputs.reshape(k, -1)) ** 2).sum(-1).tolist()
    return losses, [1.0 - r / total if total > 0 else 0.0 for r in residuals]


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, task: str, batch_size: int = 4096) -> tuple[float, float]:
    """(loss, metric) on a split: accuracy for classification, R² for regression."""
    model.eval()
    if x.shape[0] <= batch_size:
        outputs = model(x)
    else:
        outputs = torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    losses, metrics = split_metrics(outputs.unsqueeze(0), y, task)
    return losses[0], metrics[0]


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
    from .signals import SignalRecorder

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
        metric=_metric_name(splits.task),
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
