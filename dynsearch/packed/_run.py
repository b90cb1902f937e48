"""Training a pack to the end: the epoch loop, each member's bookkeeping, and its result."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..data import DatasetSplits
from ..sites import sites
from ..strategies import LearnedAlpha, Strategy, strategy_from_config
from ..train import EpochRecord, TrainConfig, TrainResult, build
from ._engine import PackEngine
from ._net import layer_plan, stack_parameters
from ._step import COMPILED_SPEEDUP, compile_available, expected_compile_seconds

__all__ = ["train_engine", "engine_unsupported", "stopped_result", "MemberCallback"]

#: ``on_epoch(member_index, epoch, val_metric) -> stop``: True takes that member out of the pack.
MemberCallback = Callable[[int, int, float], bool]


def _metric_name(task: str) -> str:
    return "accuracy" if task == "classification" else "r2"


def engine_unsupported(strategies: Sequence[Strategy], configs: Sequence[TrainConfig]) -> str:
    """Why the packed engine cannot train these members ("" when it can); they then train one by one."""
    for config in configs:
        # The engine vectorizes the built-in MLP and CNN and the built-in loop, nothing else.
        if config.factory:
            return f"the model comes from the factory {config.factory!r}, not a built-in kind"
        if config.fit:
            return f"the training loop is the study's own objective {config.fit!r}"
    for strategy in strategies:
        hook = type(strategy).setup_site
        if hook is not Strategy.setup_site and not isinstance(strategy, LearnedAlpha):
            # An arbitrary hook may change a site in ways the pack's per-member rows cannot mirror.
            return f"strategy {strategy.name!r} overrides setup_site"
        if isinstance(strategy, LearnedAlpha) and not strategy.one_alpha_per_site:
            # The pack stacks one α per member and site; per-channel α and ACON-C's p1, p2 are more.
            return "a learned α per channel or a family with several learned parameters"
    if configs[0].dropout > 0:
        # Dropout masks come from the global generator in each run's own order; a pack cannot replay them.
        return "dropout"
    return ""


@dataclass
class _Member:
    """One member's bookkeeping while it trains."""

    index: int
    strategy: Strategy
    config: TrainConfig
    history: list[EpochRecord] = field(default_factory=list)
    seen: list[tuple[int, float]] = field(default_factory=list)
    best_metric: float = -math.inf
    best_epoch: int = -1
    best: Any = None
    status: str = "ok"
    diverged_epoch: int | None = None
    message: str = ""
    wall_time: float = 0.0
    n_switches: int = 0
    pruned: bool = False


def _end_of_epoch(m: _Member, epoch: int, train_loss: float, val: tuple[float, float],
                  records: list[dict[str, Any]], signals: dict[str, dict[str, float]],
                  on_epoch: MemberCallback | None) -> bool:
    """``train()``'s bookkeeping after an epoch, for one member; True when the member leaves."""
    val_loss, val_metric = val
    if not math.isfinite(train_loss) or any(not math.isfinite(r["alpha"]) for r in records):
        m.status, m.diverged_epoch = "diverged", epoch
        m.message = f"training loss became {train_loss} at epoch {epoch}"
        m.history.append(EpochRecord(epoch, train_loss, math.nan, math.nan, records, signals))
        return True
    if not math.isfinite(val_metric):
        m.status, m.diverged_epoch = "diverged", epoch
        m.message = f"validation metric became {val_metric} at epoch {epoch}"
        m.history.append(EpochRecord(epoch, train_loss, val_loss, val_metric, records, signals))
        return True
    m.history.append(EpochRecord(epoch, train_loss, val_loss, val_metric, records, signals))
    m.seen.append((epoch, val_metric))
    if val_metric > m.best_metric:
        m.best_metric, m.best_epoch, m.best = val_metric, epoch, True
    if on_epoch is not None and on_epoch(m.index, epoch, val_metric):
        m.pruned = True
        return True
    return bool(m.config.patience and epoch - m.best_epoch >= m.config.patience) or epoch == m.config.epochs - 1


def train_engine(
    splits: DatasetSplits,
    strategies: Sequence[Strategy],
    configs: Sequence[TrainConfig],
    *,
    on_epoch: MemberCallback | None,
    should_stop: Callable[[], bool] | None,
    evaluate_test: bool = False,
    compile_step: str | bool = False,
    record: Sequence[Sequence[Any]] | None = None,
) -> list[TrainResult] | str:
    """Train the members packed; returns their results, or why the engine cannot (then nothing ran).

    ``record[i]``: the signals (``Signal`` instances) member i records per epoch, as ``train(record_signals=...)``.
    """
    started = time.perf_counter()
    models = [build(splits, s, c) for s, c in zip(strategies, configs)]
    plan, reason = layer_plan(models[0])
    if reason:
        return reason
    # Rows ordered by their families, so that eager each family runs on a contiguous view.
    # (Keys computed up front rather than in a lambda: `models` is deleted below.)
    families = [tuple(site.family for _, site in sites(model)) for model in models]
    order = sorted(range(len(models)), key=families.__getitem__)
    models = [models[i] for i in order]
    engine = PackEngine(splits, [strategies[i] for i in order], [configs[i] for i in order], models, plan,
                        stack_parameters(models, plan), order, None if record is None else [record[i] for i in order])
    del models
    members = [_Member(i, s, c) for i, (s, c) in enumerate(zip(strategies, configs))]
    if compile_step is True and compile_available(splits.x_train.device):
        engine.try_compile()
    elif compile_step is True:
        print("dynsearch: torch.compile needs CUDA or a C++ compiler on the CPU; training eagerly.", file=sys.stderr)
    for epoch in range(configs[0].epochs):
        if not engine.live():
            break
        epoch_started = time.perf_counter()
        train_losses = engine.train_epoch(epoch, should_stop)
        recorded = engine.recorded()
        if epoch == 0 and compile_step == "auto" and _compile_pays(engine, time.perf_counter() - epoch_started):
            engine.try_compile()
        records = engine.adjust(epoch)
        val = engine.evaluate(splits.x_val, splits.y_val, engine.params, engine.alphas, engine.site_plans)
        leaving: set[int] = set()
        # Callbacks in member order (a live row always holds its member's index, never None).
        for pos in sorted(engine.live(), key=lambda p: engine.members[p]):  # type: ignore[arg-type,return-value]
            m = members[engine.members[pos]]  # type: ignore[index]
            if _end_of_epoch(m, epoch, train_losses[pos], (val[0][pos], val[1][pos]), records[pos], recorded[pos],
                             on_epoch):
                leaving.add(pos)
            if m.best is True:
                m.best = engine.snapshot(pos) if evaluate_test else None
            if pos in leaving:
                m.wall_time = time.perf_counter() - started
                m.n_switches = sum(view.n_switches_ for view in engine.views[pos])
        if leaving:
            engine.compact(leaving)
    return _results(splits, engine, members, evaluate_test)


def _compile_pays(engine: PackEngine, first_epoch_seconds: float) -> bool:
    """``compile="auto"``: compile when the eager time it would save exceeds its expected cost."""
    if not compile_available(engine.device):
        return False
    speedup = COMPILED_SPEEDUP.get(engine.device.type, 1.0)
    if speedup <= 1.0:
        return False
    remaining = first_epoch_seconds * (engine.configs[0].epochs - 1)
    return remaining * (1 - 1 / speedup) > expected_compile_seconds(engine.device, engine.shape_key())


def _results(splits: DatasetSplits, engine: PackEngine, members: list[_Member], evaluate_test: bool) -> list[TrainResult]:
    tested = [m for m in members if evaluate_test and not m.pruned and m.best is not None]
    test: dict[int, tuple[float, float]] = {}
    if tested:
        losses, metrics = engine.evaluate_snapshots(splits.x_test, splits.y_test, [m.best for m in tested])
        test = {m.index: (loss, metric) for m, loss, metric in zip(tested, losses, metrics)}
    results = []
    for m in members:
        if m.pruned:
            results.append(stopped_result(splits, m.strategy, m.seen))
            continue
        test_loss, test_metric = test.get(m.index, (None, None))
        results.append(TrainResult(
            status=m.status,
            dataset=splits.name,
            task=splits.task,
            metric=_metric_name(splits.task),
            strategy=m.strategy.to_config(),
            best_val_metric=m.best_metric if m.best_epoch >= 0 else math.nan,
            best_epoch=m.best_epoch,
            final_val_metric=m.history[-1].val_metric if m.history else math.nan,
            epochs_run=len(m.history),
            wall_time=m.wall_time,
            n_switches=m.n_switches,
            history=m.history,
            test_metric=test_metric,
            test_loss=test_loss,
            diverged_epoch=m.diverged_epoch,
            message=m.message,
        ))
    return results


def stopped_result(splits: DatasetSplits, strategy: Strategy | Any, seen: list[tuple[int, float]]) -> TrainResult:
    """The result of a member its callback took out of the pack (status "pruned")."""
    best_epoch, best = max(seen, key=lambda pair: (pair[1], -pair[0]))
    return TrainResult(
        status="pruned",
        dataset=splits.name,
        task=splits.task,
        metric=_metric_name(splits.task),
        strategy=strategy_from_config(strategy).to_config(),
        best_val_metric=best,
        best_epoch=best_epoch,
        final_val_metric=seen[-1][1] if seen else math.nan,
        epochs_run=len(seen),
        wall_time=0.0,
        n_switches=0,
        history=[],
        message=f"stopped after epoch {seen[-1][0]}",
    )
