"""The fit contract: ``fit(model, data, strategy, ctx)`` trains a model; ``FitContext`` keeps the books.

The built-in trainer is one such ``fit`` (``builtin_fit``); a study may name its own with the top-level
key ``objective = "my_pkg.train:fit"``. Either way ``train()`` builds the model, applies the strategy and
hands both to the fit function with a ``FitContext``, which is the one place that records the history
(every site's r, family and α), keeps the best epoch and its weights, and asks the pruner.

Example:
    >>> import torch
    >>> def fit(model, data, strategy, ctx):
    ...     optimizer = torch.optim.Adam(model.parameters(), lr=ctx.config.lr)
    ...     for epoch in range(ctx.config.epochs):
    ...         for xb, yb in ctx.batches():
    ...             optimizer.zero_grad()
    ...             output = model(xb)
    ...             ctx.loss(output, yb).backward()
    ...             optimizer.step()
    ...             ctx.observe(xb, output, yb)
    ...         ctx.adjust(epoch)
    ...         if ctx.report(epoch, ctx.evaluate()[1]):
    ...             break
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import torch
from torch import Tensor, nn

from .adjustment import adjust as _adjust
from .data import DatasetSplits, iter_batches
from .metrics import batch_loss, evaluate
from .plugins import resolve_callable
from .sites import needs_input_signal, needs_target_signal, observe_input, observe_output, parameter_groups
from .strategies import Strategy

__all__ = ["FitContext", "FitError", "FitFunction", "builtin_fit", "resolve_fit", "make_optimizer"]


class FitError(ValueError):
    """A user's fit function broke the contract (never reported, reported a non-finite value); one line."""


class FitFunction(Protocol):
    """``fit(model, data, strategy, ctx)``: train ``model`` on ``data``; report through ``ctx``."""

    def __call__(self, model: nn.Module, data: DatasetSplits, strategy: Strategy, ctx: FitContext) -> None: ...


def make_optimizer(model: nn.Module, config: Any) -> torch.optim.Optimizer:
    """The optimizer ``config`` names (adam, adamw, sgd), with weight decay off for site parameters."""
    groups = parameter_groups(model, config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)


def snapshot(model: nn.Module) -> dict[str, Any]:
    """A copy of the state_dict: tensors cloned, a site's extra state (host counters) copied."""
    return {k: v.detach().clone() if isinstance(v, Tensor) else dict(v) for k, v in model.state_dict().items()}


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
class FitContext:
    """What a fit function gets besides the model and data, and what it leaves for ``TrainResult``.

    Attributes:
        model: the model with its sites (the one being trained).
        data: the dataset's splits, on ``device``.
        config: the ``TrainConfig`` (epochs, batch size, lr, patience, ...).
        on_epoch: the pruner's hook, ``on_epoch(epoch, value)``; it may raise to stop the run.
        stop: checked by ``should_stop()`` (a worker's Ctrl-C or SIGTERM).
        recorder: a ``SignalRecorder`` measuring extra signals, or None.
    """

    model: nn.Module
    data: DatasetSplits
    config: Any
    on_epoch: Callable[[int, float], None] | None = None
    stop: Callable[[], bool] | None = None
    recorder: Any = None
    history: list[Any] = field(default_factory=list)
    best_metric: float = -math.inf
    best_epoch: int = -1
    best_state: dict[str, Any] | None = None
    status: str = "ok"
    diverged_epoch: int | None = None
    message: str = ""
    stopped_by: BaseException | None = None  # what ``on_epoch`` raised; raised again after fit returns
    _records: list[dict[str, Any]] = field(default_factory=list)
    _generator: torch.Generator | None = None
    _watch: tuple[bool, bool] | None = None

    @property
    def device(self) -> torch.device:
        """The device the data (and the model) live on."""
        return self.data.device

    @property
    def seed(self) -> int:
        """This run's training seed (the model was built from it; seed your own generators with it)."""
        return int(self.config.seed)

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return self.data.task

    def should_stop(self) -> bool:
        """True when the run must stop now (check it every batch); then raise or return."""
        return bool(self.stop is not None and self.stop())

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The trainer's loss for the task: cross-entropy or mean squared error."""
        return batch_loss(output, target, self.data.task)

    def batches(self, split: str = "train", batch_size: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Shuffled ``(x, y)`` batches of a split, seeded from ``seed`` and the epochs drawn so far."""
        x, y = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
        if self._generator is None:
            self._generator = torch.Generator(device="cpu").manual_seed(self.seed)
        return iter_batches(x, y, batch_size or self.config.batch_size, generator=self._generator)

    def observe(self, x: Tensor, output: Tensor, target: Tensor) -> None:
        """Feed a batch to the per-network signals (target, data) and the recorder; cheap when unused."""
        if self._watch is None:
            self._watch = (needs_target_signal(self.model), needs_input_signal(self.model))
        if self._watch[0]:
            observe_output(self.model, output, target)
        if self._watch[1]:
            observe_input(self.model, x, target)
        if self.recorder is not None:
            self.recorder.observe_output(output.detach(), target)
            self.recorder.observe_input(x, target)

    def adjust(self, epoch: int) -> list[dict[str, Any]]:
        """``dynsearch.adjust(model, epoch)``, its records kept for the next ``report``."""
        self._records = _adjust(self.model, epoch)
        return self._records

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        """``(loss, metric)`` of the model on ``split`` (accuracy or R²); leaves the model in eval mode."""
        return evaluate(self.model, getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}"), self.data.task)

    def report(self, epoch: int, value: float, *, train_loss: float = math.nan, val_loss: float = math.nan) -> bool:
        """Record epoch ``epoch`` with its validation metric ``value``; True means stop training now.

        It stores the epoch (with the records of the last ``adjust``), keeps the best weights, and asks
        the pruner; it says stop when the pruner prunes, patience runs out or the run diverged.
        """
        records, self._records = self._records, []
        signals = _epoch_signals(self.recorder)
        value = float(value)
        record = EpochRecord(epoch, float(train_loss), float(val_loss), value, records, signals)
        if not math.isfinite(value) or any(not math.isfinite(r["alpha"]) for r in records):
            self.status, self.diverged_epoch = "diverged", epoch
            self.message = f"validation metric became {value} at epoch {epoch}"
            self.history.append(record)
            return True
        self.history.append(record)
        if value > self.best_metric:
            self.best_metric, self.best_epoch, self.best_state = value, epoch, snapshot(self.model)
        if self.on_epoch is not None:
            try:
                self.on_epoch(epoch, value)
            except Exception as exc:  # the pruner's way to stop: raised again once fit has returned
                self.stopped_by = exc
                return True
        return bool(self.config.patience and epoch - self.best_epoch >= self.config.patience)

    def diverge(self, epoch: int, train_loss: float) -> None:
        """Record a training loss (or α) that became non-finite: the run ends as diverged."""
        records, self._records = self._records, []
        self.history.append(EpochRecord(epoch, train_loss, math.nan, math.nan, records, _epoch_signals(self.recorder)))
        self.status, self.diverged_epoch = "diverged", epoch
        self.message = f"training loss became {train_loss} at epoch {epoch}"


def _epoch_signals(recorder: Any) -> dict[str, dict[str, float]]:
    """The epoch's measured values (one host sync per value, once per epoch), then a fresh start."""
    if recorder is None:
        return {}
    return {site: {name: v[0] for name, v in values.items()} for site, values in recorder.epoch_values().items()}


def builtin_fit(model: nn.Module, data: DatasetSplits, strategy: Strategy, ctx: FitContext) -> None:
    """The trainer's loop: train an epoch, let the strategy adjust, validate, report; stop when told."""
    optimizer = make_optimizer(model, ctx.config)
    for epoch in range(ctx.config.epochs):
        train_loss = _train_epoch(model, optimizer, ctx, epoch)
        records = ctx.adjust(epoch)
        if not math.isfinite(train_loss) or any(not math.isfinite(r["alpha"]) for r in records):
            ctx.diverge(epoch, train_loss)
            return
        val_loss, val_metric = ctx.evaluate()
        if ctx.report(epoch, val_metric, train_loss=train_loss, val_loss=val_loss):
            return


def _train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, ctx: FitContext, epoch: int) -> float:
    """One pass over the training split; returns the mean training loss."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=ctx.device)
    n_batches = 0
    for xb, yb in ctx.batches():
        if ctx.should_stop():
            raise TrainingInterrupted(f"stopped during epoch {epoch}")
        optimizer.zero_grad(set_to_none=True)
        output = model(xb)
        loss = ctx.loss(output, yb)
        loss.backward()
        optimizer.step()
        ctx.observe(xb, output, yb)
        loss_sum += loss.detach()  # summed on the device: no host sync per step
        n_batches += 1
    return float(loss_sum) / max(n_batches, 1)


def resolve_fit(reference: str) -> FitFunction:
    """The fit function a study's ``objective`` names ("" or "builtin": ``builtin_fit``)."""
    if reference in ("", "builtin"):
        return builtin_fit
    fit: FitFunction = resolve_callable(reference, "objective")
    return fit


def check_reported(ctx: FitContext, reference: str) -> None:
    """After a user's fit: it must have reported at least one finite epoch."""
    if not ctx.history:
        raise FitError(f"objective {reference!r} returned without calling ctx.report(epoch, value)")
    if ctx.status == "diverged" and reference not in ("", "builtin"):
        raise FitError(f"objective {reference!r} reported a non-finite value at epoch {ctx.diverged_epoch}")
