"""The pack interface: members, which settings can share a pack, and the reference (sequential) trainer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..data import DatasetSplits
from ..strategies import Strategy, strategy_from_config
from ..train import TrainConfig, TrainResult, train

__all__ = ["PackMember", "pack_key", "train_packed", "train_sequential", "MemberCallback"]

#: ``on_epoch(member_index, epoch, val_metric) -> stop``: True takes that member out of the pack
#: (a pruned trial); its result then has status "pruned". The other members go on.
MemberCallback = Callable[[int, int, float], bool]


@dataclass(frozen=True)
class PackMember:
    """One training run of a pack: its strategy (or config) and its own training settings."""

    strategy: Strategy | Mapping[str, Any]
    config: TrainConfig


def pack_key(config: TrainConfig) -> tuple[Any, ...]:
    """Settings that must be equal for runs to share a pack; everything else (lr, weight decay,
    momentum, seed, strategy) may differ per member."""
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
                           evaluate_test=evaluate_test)
        except _MemberStopped:
            result = _stopped_result(splits, member, seen)
        results.append(result)
    return results


def _stopped_result(splits: DatasetSplits, member: PackMember, seen: list[tuple[int, float]]) -> TrainResult:
    best_epoch, best = max(seen, key=lambda pair: (pair[1], -pair[0]))
    return TrainResult(
        status="pruned",
        dataset=splits.name,
        task=splits.task,
        metric="accuracy" if splits.task == "classification" else "r2",
        strategy=strategy_from_config(member.strategy).to_config(),
        best_val_metric=best,
        best_epoch=best_epoch,
        final_val_metric=seen[-1][1] if seen else math.nan,
        epochs_run=len(seen),
        wall_time=0.0,
        n_switches=0,
        history=[],
        message=f"stopped after epoch {seen[-1][0]}",
    )


def train_packed(
    splits: DatasetSplits,
    members: Sequence[PackMember],
    *,
    on_epoch: MemberCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    evaluate_test: bool = False,
) -> list[TrainResult]:
    """Train ``members`` (all with the same ``pack_key``) together; one result per member, in order.

    Raises:
        ValueError: if the members' settings cannot share a pack.
        TrainingInterrupted: when ``should_stop`` returns True (checked before every batch).
    """
    keys = {pack_key(m.config) for m in members}
    if len(keys) > 1:
        raise ValueError(f"Members of one pack need the same model shape and training budget; got {len(keys)} kinds.")
    return train_sequential(splits, members, on_epoch=on_epoch, should_stop=should_stop, evaluate_test=evaluate_test)
