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
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .data import DatasetSplits
from .factories import FactoryError, build_factory_model
from .fit import EpochRecord, FitContext, TrainingInterrupted, check_reported, make_optimizer, resolve_fit, snapshot
from .metrics import batch_loss, evaluate, metric_name, split_metrics
from .signals import SignalRecorder
from .sites import apply, sites
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
    "check_model",
]


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


_optimizer = make_optimizer  # the trainer's optimizer, under its former name
_snapshot = snapshot


def build(splits: DatasetSplits, strategy: Strategy | Mapping[str, Any], config: TrainConfig) -> nn.Module:
    """The study's model for this dataset, seeded, with its activations turned into sites."""
    torch.manual_seed(config.seed)
    if config.factory:
        model = build_factory_model(config.factory, splits.input_shape, splits.n_outputs, config.model_params)
    else:  # the built-in kinds are the registered factories "mlp" and "cnn"
        kind = config.model if config.model != "auto" else "cnn" if len(splits.input_shape) == 3 else "mlp"
        builtin = {"hidden": config.hidden, "channels": config.channels, "activation": config.activation,
                   "dropout": config.dropout}  # fmt: skip
        model = build_factory_model(kind, splits.input_shape, splits.n_outputs, builtin)
    model = apply(model.to(splits.x_train.device), strategy)
    for _, site in sites(model):
        site.measure_every = config.measure_every
    return model


def _recorder(model: nn.Module, signals: Sequence[Any]) -> Any:
    if not signals:
        return None
    return SignalRecorder(model, list(signals))


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
    fit = _run_fit(model, splits, strategy, config, on_epoch=on_epoch, should_stop=should_stop,
                   record_signals=record_signals)  # fmt: skip
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


def _run_fit(
    model: nn.Module,
    splits: DatasetSplits,
    strategy: Strategy,
    config: TrainConfig,
    *,
    on_epoch: Callable[[int, float], None] | None,
    should_stop: Callable[[], bool] | None,
    record_signals: Sequence[Any] = (),
) -> FitContext:
    """Run the config's fit function (the built-in loop by default) through one ``FitContext``."""
    fit_function = resolve_fit(config.fit)
    recorder = _recorder(model, record_signals)
    ctx = FitContext(model, splits, config, on_epoch=on_epoch, stop=should_stop, recorder=recorder)
    try:
        fit_function(model, splits, strategy, ctx)
    finally:
        if recorder is not None:
            recorder.close()
    if ctx.stopped_by is not None:
        raise ctx.stopped_by  # the pruner's exception, once the fit function has returned
    check_reported(ctx, config.fit)
    return ctx


def check_model(splits: DatasetSplits, config: TrainConfig) -> None:
    """Build the study's model for ``splits`` once and run two rows through it, before anything trains.

    Raises:
        FactoryError: the factory fails or returns no module, the output has the wrong shape, or the model
            has no activation to make dynamic.
    """
    if not config.factory:
        return  # the built-in kinds are checked by their own rules
    try:
        model = build(splits, {"name": "fixed", "params": {}}, config)
    except FactoryError:
        raise
    except ValueError as exc:  # apply: no activation to make dynamic
        raise FactoryError(f"model factory {config.factory!r}: {' '.join(str(exc).split())}") from None
    expected = (2, splits.n_outputs)
    try:
        with torch.no_grad():
            shape = tuple(model.eval()(splits.x_train[:2]).shape)
    except Exception as exc:  # noqa: BLE001 - the user's forward, in one line
        raise FactoryError(f"model factory {config.factory!r}: its model fails on a batch of input shape "
                           f"{tuple(splits.x_train[:2].shape)}: {type(exc).__name__}: {' '.join(str(exc).split())}"
                           ) from None  # fmt: skip
    if shape != expected:
        raise FactoryError(f"model factory {config.factory!r}: its model returns shape {shape} for 2 rows; "
                           f"expected {expected} (input_shape {splits.input_shape}, n_outputs {splits.n_outputs})")
