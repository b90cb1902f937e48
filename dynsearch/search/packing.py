"""How a worker packs trials: the pack size K, the pack engine's options, and a warm-up before timing.

``--pack N`` (or the study key ``pack = N``) trains up to N trials of the same model shape together;
``auto`` picks N from the device: on the CPU, as many members as keep one batch's activations
within a cache budget; on a GPU, from its free memory. ``run`` resolves it once, prints it, and
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

__all__ = ["PackChoice", "choose_pack", "auto_pack_size", "warm_up", "CPU_CACHE_BYTES", "MAX_AUTO_PACK"]

# A batch's activations (input, output and gradient of every hidden layer, float32) of all members
# of a CPU pack should fit about one core's share of cache.
CPU_CACHE_BYTES = 2 * 1024 * 1024
# On a GPU, the share of free memory a pack's activations may take.
GPU_MEMORY_SHARE = 0.25
MAX_AUTO_PACK = 64
MAX_AUTO_PACK_GPU = 1024


@dataclass(frozen=True)
class PackChoice:
    """The pack size a worker claims and the options it passes to ``train_packed``."""

    size: int
    reason: str
    train_options: dict[str, Any] = field(default_factory=dict)


def _member_bytes(spec: StudySpec) -> int:
    """Bytes of one member's activations for one batch: z, f(z) and the gradient of each hidden unit."""
    widths = list(spec.train.hidden) or [64]
    if spec.search.width is not None:
        widths = [spec.search.width[1]] * len(widths)  # the widest the search may draw
    return spec.train.batch_size * sum(widths) * 4 * 3


def auto_pack_size(spec: StudySpec, device: str = "cpu") -> tuple[int, str]:
    """K for ``pack = "auto"`` and a line saying why."""
    per_member = _member_bytes(spec)
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        k = max(1, min(MAX_AUTO_PACK_GPU, int(free * GPU_MEMORY_SHARE) // per_member))
        return k, f"{k} (auto: {per_member / 1024:.0f} KiB of activations per member, {free / 2**30:.1f} GiB free)"
    k = max(1, min(MAX_AUTO_PACK, CPU_CACHE_BYTES // per_member))
    return k, f"{k} (auto: {per_member / 1024:.0f} KiB of activations per member, {CPU_CACHE_BYTES // 2**20} MiB cache budget)"


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
    multi-objective study's time objective).

    It trains through the pack engine, as the trials do: ``train()``'s ``torch.optim`` optimizers
    would import torch's compiler stack (about 2 s) that an eager pack never needs.
    """
    from ..packed import PackMember, train_packed

    spec = objective.spec
    config = dataclasses.replace(spec.train, epochs=1, patience=0)
    try:
        for index in range(len(spec.datasets)):
            objective.dataset(index)
        arm = spec.arm(spec.arms[0])  # any strategy warms torch up; the first arm's is a valid one
        member = PackMember({"name": arm.strategy, "params": arm.params}, config)
        train_packed(objective.dataset(0), [member], should_stop=objective.should_stop, compile=False)
    except Exception:  # noqa: BLE001 - a dataset that fails to load fails its trials, with the reason, later
        return
