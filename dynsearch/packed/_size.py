"""How many trials to pack: from the device (cache on a CPU, free memory on a GPU), the trials
left and a memory budget.

Example:
    >>> from dynsearch.data import load_dataset
    >>> from dynsearch.train import TrainConfig
    >>> splits = load_dataset("iris")
    >>> auto_pack_size(splits, TrainConfig(hidden=(8,)), trials_left=3)
    3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data import DatasetSplits
from ..models import build_model
from ..train import TrainConfig

__all__ = ["auto_pack_size", "member_footprint", "MemberFootprint", "cpu_cache_bytes", "MAX_PACK"]

#: No pack grows beyond this many members: past it a step gains nothing on any device we know.
MAX_PACK = 1024
# Bytes per activation value a training step keeps: pre-activation, output, their gradients.
_ACTIVATION_COPIES = 4
# Per parameter: the value, its gradient, two optimizer moments and a best-weights snapshot.
_PARAMETER_COPIES = 5
# Share of a GPU's free memory a pack may take (the rest is headroom for the allocator and others).
_GPU_SHARE = 0.5


@dataclass(frozen=True)
class MemberFootprint:
    """Bytes one member of a pack needs: its training step's activations, and everything."""

    step_bytes: int
    total_bytes: int


def member_footprint(splits: DatasetSplits, config: TrainConfig) -> MemberFootprint:
    """Estimate one member's memory for this dataset and model shape (float32)."""
    with torch.device("meta"):  # shapes only: no memory, no draw from the random generator
        model = build_model(config.model, input_shape=splits.input_shape, n_outputs=splits.n_outputs,
                            hidden=config.hidden, channels=config.channels, activation=config.activation)
    n_params = sum(p.numel() for p in model.parameters())
    per_sample = _activations_per_sample(model, splits.input_shape)
    batch = min(config.batch_size, splits.x_train.shape[0])
    step = 4 * _ACTIVATION_COPIES * batch * per_sample
    # Each member's shuffled copy of the training split, and its share of a validation pass.
    data = 4 * splits.x_train.shape[0] * splits.n_features
    evaluation = 4 * min(splits.x_val.shape[0], 4096) * per_sample
    return MemberFootprint(step, step + 4 * _PARAMETER_COPIES * n_params + data + evaluation)


def _activations_per_sample(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    total = 0
    spatial = math.prod(input_shape[1:]) if len(input_shape) == 3 else 1
    for m in model.modules():
        if isinstance(m, nn.Linear):
            total += m.out_features
        elif isinstance(m, nn.Conv2d):
            total += m.out_channels * spatial  # 3x3 convolutions with padding 1 keep the size
    return total


def cpu_cache_bytes() -> int:
    """The per-core cache a CPU worker can keep a batch in: its L2 (2 MiB if unknown)."""
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (index / "level").read_text().strip() == "2":
                return _parse_size((index / "size").read_text().strip())
        except (OSError, ValueError):
            continue
    return 2 << 20


def _parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def auto_pack_size(
    splits: DatasetSplits,
    config: TrainConfig,
    *,
    device: torch.device | str | None = None,
    trials_left: int | None = None,
    memory_budget: int | None = None,
) -> int:
    """The pack size K for these trials on ``device`` (default: where ``splits`` lives).

    On a CPU, the members whose training-step activations fit in the core's cache
    (``cpu_cache_bytes``) times ``CPU_CACHE_FACTOR``; on a GPU, those that fit in half its free
    memory. Then capped by ``trials_left``, by ``memory_budget`` bytes (never exceeded, counting
    each member's whole footprint) and by ``MAX_PACK``; at least 1.
    """
    device = torch.device(device) if device is not None else splits.x_train.device
    footprint = member_footprint(splits, config)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        k = int(free * _GPU_SHARE // footprint.total_bytes)
    else:
        k = int(CPU_CACHE_FACTOR * cpu_cache_bytes() // footprint.step_bytes)
    if memory_budget is not None:
        if memory_budget < footprint.total_bytes:
            raise ValueError(
                f"memory budget: {memory_budget} bytes cannot hold one trial of this model, "
                f"which needs about {footprint.total_bytes}."
            )
        k = min(k, memory_budget // footprint.total_bytes)
    if trials_left is not None:
        k = min(k, trials_left)
    return max(1, min(k, MAX_PACK))


#: How many core caches' worth of batch activations a CPU pack may span. A step streams its
#: activations layer by layer, so a pack a few times the cache still runs from it (see the
#: pack-size sweep in benchmarks/pack_sweep.py).
CPU_CACHE_FACTOR = 4
