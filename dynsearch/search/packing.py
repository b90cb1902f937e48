"""How a worker packs trials: the pack size K, the pack engine's options, and a warm-up before timing.

``--pack N`` (or the study key ``pack = N``) trains up to N trials of the same model shape together;
``auto`` picks N with ``dynsearch.packed.auto_pack_size``: on the CPU, as many members as keep a
training step's activations in cache; on a GPU, from its free memory. ``run`` resolves it once, prints it, and
hands the number to its workers.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import StudySpec

if TYPE_CHECKING:
    from .objective import Objective

__all__ = ["PackChoice", "choose_pack", "auto_pack_size", "warm_up"]



@dataclass(frozen=True)
class PackChoice:
    """The pack size a worker claims and the options it passes to ``train_packed``."""

    size: int
    reason: str
    train_options: dict[str, Any] = field(default_factory=dict)


def auto_pack_size(spec: StudySpec, device: str = "cpu") -> tuple[int, str]:
    """K for ``pack = "auto"`` and a line saying why: ``dynsearch.packed.auto_pack_size`` for the
    study's widest model on each of its datasets (the smallest K wins), capped by its trial budget."""
    from ..data import load_dataset
    from ..packed import auto_pack_size as engine_pack_size

    config = spec.train
    if spec.search.width is not None:
        widest = spec.search.width[1]  # the widest model the search may draw
        config = dataclasses.replace(config, hidden=tuple(widest for _ in config.hidden) or (widest,))
    sizes = []
    for ds in spec.datasets:
        splits = load_dataset(ds.name, split_seed=spec.split_seed, device=device, **dict(ds.options))
        sizes.append(engine_pack_size(splits, config, device=device, trials_left=spec.n_trials))
    k = max(1, min(sizes))
    where = "free GPU memory" if device.startswith("cuda") else "the CPU cache"
    return k, f"{k} (auto: from {where}, the model's shape and {spec.n_trials} trials)"


def _engine_options(spec: StudySpec) -> dict[str, Any]:
    """Options the installed pack engine understands (``compile`` where it has one)."""
    from ..packed import train_packed

    accepted = inspect.signature(train_packed).parameters
    options: dict[str, Any] = {}
    if "compile" in accepted:
        options["compile"] = getattr(spec, "compile", "auto")
    return options


def choose_pack(requested: int | str | None, spec: StudySpec, device: str = "cpu") -> PackChoice:
    """Resolve ``--pack`` / the study's ``pack`` (``None``: the study's) into a pack size."""
    requested = spec.pack if requested is None else requested
    if requested == "auto":
        size, reason = auto_pack_size(spec, device)
    else:
        size = int(requested)
        if size < 1:
            raise ValueError(f"--pack: expected 'auto' or an integer >= 1, got {requested}")
        reason = str(size)
    return PackChoice(size, reason, _engine_options(spec))


def warm_up(objective: Objective) -> None:
    """Load the study's datasets and train one short, untimed run of its model, so the first trial
    of a process does not carry torch's one-off start-up cost in its ``wall_time`` (nor in a
    multi-objective study's time objective)."""
    from ..train import train

    spec = objective.spec
    config = dataclasses.replace(spec.train, epochs=1, patience=0)
    try:
        for index in range(len(spec.datasets)):
            objective.dataset(index)
        arm = spec.arm(spec.arms[0])  # any strategy warms torch up; the first arm's is a valid one
        train(objective.dataset(0), {"name": arm.strategy, "params": arm.params}, config, should_stop=objective.should_stop)
    except Exception:  # noqa: BLE001 - a dataset that fails to load fails its trials, with the reason, later
        return
