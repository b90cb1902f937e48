"""The pack interface: members, which settings can share a pack, and the reference (sequential) trainer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..data import DatasetSplits
from ..signals import signal_from_config
from ..strategies import Strategy, strategy_from_config
from ..train import TrainConfig, TrainResult, train
from ._run import MemberCallback, engine_unsupported, stopped_result, train_engine
from ._step import parse_compile

__all__ = ["PackMember", "pack_key", "train_packed", "train_sequential", "MemberCallback"]


@dataclass(frozen=True)
class PackMember:
    """One training run of a pack: its strategy (or config), its own training settings, and the signals it
    records per epoch in its history (names or configs, as ``train(record_signals=...)``; recording changes
    nothing in the training)."""

    strategy: Strategy | Mapping[str, Any]
    config: TrainConfig
    record_signals: Sequence[Any] = ()


def pack_key(config: TrainConfig, strategy: Strategy | Mapping[str, Any] | None = None) -> tuple[Any, ...]:
    """Settings that must be equal for runs to share a pack; everything else (lr, weight decay,
    momentum, seed, strategy) may differ per member.

    Given the run's ``strategy``, the key also says whether the vectorized engine can run it: runs it
    cannot (a learned α per channel, ACON-C, a strategy with its own ``setup_site``) share packs only
    with each other, where they train one by one with ``train()``, and leave the others' packs vectorized.
    """
    sequential = strategy is not None and bool(engine_unsupported([strategy_from_config(strategy)], [config]))
    return (
        config.model,
        tuple(config.hidden),
        tuple(config.channels),
        config.dropout,
        config.activation,
        config.batch_size,
        config.epochs,
        config.optimizer,
        config.measure_every,
        sequential,
    )


class _MemberStopped(Exception):
    """Raised inside ``train`` when a member's callback takes it out of the pack."""


def train_sequential(
    splits: DatasetSplits,
    members: Sequence[PackMember],
    *,
    on_epoch: MemberCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    evaluate_test: bool = False,
) -> list[TrainResult]:
    """Train the members one after the other with ``train()``: the reference every pack must equal."""
    results: list[TrainResult] = []
    for index, member in enumerate(members):
        seen: list[tuple[int, float]] = []

        def report(epoch: int, value: float, index: int = index, seen: list[tuple[int, float]] = seen) -> None:
            seen.append((epoch, value))
            if on_epoch is not None and on_epoch(index, epoch, value):
                raise _MemberStopped

        try:
            result = train(splits, member.strategy, member.config, on_epoch=report, should_stop=should_stop,
                           evaluate_test=evaluate_test, record_signals=member.record_signals)
        except _MemberStopped:
            result = stopped_result(splits, member.strategy, seen)
        results.append(result)
    return results


def train_packed(
    splits: DatasetSplits,
    members: Sequence[PackMember],
    *,
    on_epoch: MemberCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    evaluate_test: bool = False,
    compile: str | bool = "auto",
) -> list[TrainResult]:
    """Train ``members`` (all with the same ``pack_key``) together; one result per member, in order.

    Each result equals what ``train()`` gives that member alone: the same status, best epoch,
    epochs and switches, and r, α and metrics within float32 rounding of the training (README,
    "Packing changes speed, never results"). The vectorized engine runs the trainer's MLP and
    small CNN; members it cannot reproduce exactly (dropout, a strategy overriding ``setup_site``,
    a study's own model or fit) train one by one with ``train()``.
    ``on_epoch(member_index, epoch, val_metric)`` returning True takes that member out (status
    "pruned"); the pack drops its rows and the others go on. ``compile``: True compiles the packed
    step with ``torch.compile`` (a failure prints one line and trains eagerly), False never does,
    "auto" does when the pack's remaining work after its first epoch is expected to repay the
    compile time.

    Raises:
        ValueError: if the members' settings cannot share a pack.
        TrainingInterrupted: when ``should_stop`` returns True (checked before every batch).
    """
    keys = {pack_key(m.config) for m in members}
    if len(keys) > 1:
        raise ValueError(f"Members of one pack need the same model shape and training budget; got {len(keys)} kinds.")
    compile = parse_compile(compile)
    if not members:
        return []
    strategies = [strategy_from_config(m.strategy) for m in members]
    configs = [m.config for m in members]
    if not engine_unsupported(strategies, configs):
        record = [[signal_from_config(s) for s in m.record_signals] for m in members]
        results = train_engine(splits, strategies, configs, on_epoch=on_epoch, should_stop=should_stop,
                               evaluate_test=evaluate_test, compile_step=compile,
                               record=record if any(record) else None)
        if not isinstance(results, str):
            return results
    # What the engine cannot run trains one by one: the same results, at the old speed.
    return train_sequential(splits, members, on_epoch=on_epoch, should_stop=should_stop, evaluate_test=evaluate_test)
