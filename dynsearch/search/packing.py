"""How a worker packs trials: the pack size K, the pack engine's options, and a warm-up before timing.

``--pack N`` (or the study key ``pack = N``) trains up to N trials of the same model shape together.
``auto`` is one rule, ``dynsearch.packed.auto_pack_size``, applied to the study's loaded splits and
its widest model: on the CPU as many members as keep a batch's activations near the core's cache,
on a GPU as many as fit in half its free memory; never more than the memory budget (on the CPU,
half the memory available at start, shared by the workers) nor ``MAX_PACK``. It needs the data, so
it is sized where the splits are at hand: ``dynsearch run`` from the splits it prepares for its
workers, a standalone worker after its warm-up has loaded them. A dataset that does not load is
left out (its trials fail with the reason); when none loads, K is 1.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from ..config import StudySpec

if TYPE_CHECKING:
    from ..data import DatasetSplits
    from ..train import TrainConfig
    from .objective import Objective

__all__ = ["PackChoice", "choose_pack", "engine_options", "auto_pack_size", "cpu_memory_budget", "warm_up", "CPU_MEMORY_SHARE"]

#: Share of the memory available when a search starts that the packs of all its CPU workers may hold.
CPU_MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class PackChoice:
    """The pack size a worker claims and the options it passes to ``train_packed``."""

    size: int
    reason: str
    train_options: dict[str, Any] = field(default_factory=dict)


def _widest(spec: StudySpec) -> TrainConfig:
    """The study's training settings at the widest model its search may draw."""
    config = spec.train
    if spec.search.width is not None:
        config = dataclasses.replace(config, hidden=tuple(spec.search.width[1] for _ in config.hidden))
    return config


def cpu_memory_budget(workers: int = 1) -> int | None:
    """Bytes one of ``workers`` CPU workers' packs may hold: its share of ``CPU_MEMORY_SHARE`` of the
    memory available now (Linux ``MemAvailable``); None where that cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kib = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return int(kib * 1024 * CPU_MEMORY_SHARE) // max(1, workers)


def auto_pack_size(spec: StudySpec, datasets: Sequence[DatasetSplits], device: str = "cpu", workers: int = 1
                   ) -> tuple[int, str]:
    """K for ``pack = "auto"`` over the study's loaded ``datasets`` (every one trains in the same pack),
    and a line saying why."""
    # the packed engine loads only in a process that trains packs, not in the supervisor
    from ..packed import auto_pack_size as engine_rule
    from ..packed import member_footprint

    if not datasets:
        return 1, "1 (auto: no dataset of the study loaded)"
    config = _widest(spec)
    budget = None if device.startswith("cuda") else cpu_memory_budget(workers)
    sizes = []
    for splits in datasets:
        per_member = member_footprint(splits, config).total_bytes
        # A budget below one member means one trial at a time, not an error: the same rule, floored.
        sizes.append(engine_rule(splits, config, device=device,
                                 memory_budget=None if budget is None else max(budget, per_member)))
    k = min(sizes)
    where = "half the free GPU memory" if device.startswith("cuda") else "the core's cache"
    limit = "" if budget is None else f", memory budget {budget / 2**30:.1f} GiB per worker"
    return k, f"{k} (auto: from {where}{limit})"


def engine_options(spec: StudySpec) -> dict[str, Any]:
    """Options the installed pack engine understands (``compile`` where it has one)."""
    # the packed engine loads only in a process that trains packs, not in the supervisor
    from ..packed import train_packed

    accepted = inspect.signature(train_packed).parameters
    options: dict[str, Any] = {}
    if "compile" in accepted:
        options["compile"] = getattr(spec, "compile", "auto")
    return options


def choose_pack(requested: int | str | None, spec: StudySpec, device: str = "cpu",
                datasets: Sequence[DatasetSplits] = (), workers: int = 1) -> PackChoice:
    """Resolve ``--pack`` / the study's ``pack`` (``None``: the study's) into a pack size; ``auto``
    is sized over ``datasets`` (the study's loaded splits) for one of ``workers`` workers."""
    requested = spec.pack if requested is None else requested
    if requested == "auto":
        size, reason = auto_pack_size(spec, datasets, device, workers)
    else:
        size = int(requested)
        if size < 1:
            raise ValueError(f"--pack: expected 'auto' or an integer >= 1, got {requested}")
        reason = str(size)
    return PackChoice(size, reason, engine_options(spec))


def warm_up(objective: Objective) -> list[DatasetSplits]:
    """Load the study's datasets and train one short, untimed run of its model, so the first trial
    of a process does not carry torch's one-off start-up cost in its ``wall_time`` (nor in a
    multi-objective study's time objective). Returns the splits that loaded (for ``auto`` sizing).

    It trains through the pack engine, as the trials do: ``train()``'s ``torch.optim`` optimizers
    would import torch's compiler stack (about 2 s) that an eager pack never needs. Nothing here
    raises: a dataset that fails to load fails its trials, with the reason, later.
    """
    # the packed engine loads only in a process that trains packs, not in the supervisor
    from ..packed import PackMember, train_packed

    spec = objective.spec
    loaded = []
    for index in range(len(spec.datasets)):
        try:
            loaded.append(objective.dataset(index))
        except Exception:  # noqa: BLE001 - reported per trial
            continue
    if not loaded:
        return loaded
    config = dataclasses.replace(spec.train, epochs=1, patience=0)
    arm = spec.arm(spec.arms[0])  # any strategy warms torch up; the first arm's is a valid one
    try:
        member = PackMember({"name": arm.strategy, "params": arm.params}, config)
        train_packed(loaded[0], [member], should_stop=objective.should_stop, compile=False)
    except Exception:  # noqa: BLE001 - the trials meet the same error and fail with it
        pass
    return loaded
