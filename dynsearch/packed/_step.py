"""One packed training step: forward, per-member loss, gradients, optimizer update, signal sums.

The forward pass (with the signal sums) is a pure function of tensors and a static layer plan, so
``torch.compile`` can compile it with static shapes. Compiled functions live for the process: a
later pack of the same shape reuses them. The optimizer update stays eager: it is torch's fused
kernel already, on which ``torch.compile`` fails (see ``_optim``).
"""

from __future__ import annotations

import shutil
import sys
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ..sites import target_pairs
from ..train import batch_loss
from ._net import Op, observe, packed_forward
from ._optim import PackedOptimizer
from ._plans import SitePlan

__all__ = [
    "PackedStep",
    "compile_available",
    "parse_compile",
    "expected_compile_seconds",
    "COMPILED_SPEEDUP",
]

# Graphs per compiled function: batch sizes (the last batch is shorter), measuring or not,
# first batch of an epoch, and pack sizes after compaction each need their own.
_RECOMPILE_LIMIT = 64
_COMPILED: dict[str, Callable[..., Any]] = {}
_FAILED: list[str] = []  # the first compile failure of this process; later packs stay eager
_SHAPES_SEEN: set[tuple[Any, ...]] = set()  # pack shapes this process has compiled a step for

#: How much faster a compiled step is than an eager one, by device type: what ``compile="auto"``
#: counts on. On this project's CPU machine the compiled step measured no faster than the eager
#: one (benchmarks/pack_sweep.py), so "auto" does not compile there; on CUDA, where fusing
#: kernels saves launches, it is an estimate not yet measured.
COMPILED_SPEEDUP = {"cpu": 1.0, "cuda": 3.0}
#: Seconds a first compilation takes in a process (imports and the C++ toolchain), and a later one.
FIRST_COMPILE_SECONDS, LATER_COMPILE_SECONDS = 60.0, 20.0


def expected_compile_seconds(device: torch.device, shape: tuple[Any, ...] | None = None) -> float:
    """The compile time ``compile="auto"`` expects: none for a shape compiled before in this process."""
    if shape is not None and shape in _SHAPES_SEEN:
        return 0.0
    return LATER_COMPILE_SECONDS if _SHAPES_SEEN else FIRST_COMPILE_SECONDS


def parse_compile(value: object) -> str | bool:
    """Validate a ``compile`` setting: ``"auto"``, True or False (also "true"/"false" strings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("auto", "true", "false"):
        text = value.strip().lower()
        return "auto" if text == "auto" else text == "true"
    raise ValueError(f"compile: expected auto, true or false, got {value!r}.")


def compile_available(device: torch.device) -> bool:
    """Whether ``torch.compile`` can be expected to work here: CUDA, or a CPU with a C++ compiler."""
    if _FAILED:
        return False
    if device.type == "cuda":
        return True
    return device.type == "cpu" and any(shutil.which(c) for c in ("g++", "c++", "clang++"))


def forward_loss(
    plan: Sequence[Op], task: str, params: Sequence[Tensor], alphas: Sequence[Tensor], site_plans: Sequence[SitePlan],
    xb: Tensor, yb: Tensor, sums: Sequence[Tensor], shifts: Sequence[Tensor], fresh: Sequence[Tensor] | None,
    io: bool, target: bool, taps: Sequence[Any] | None = None, observers: Sequence[Any] = (),
) -> Tensor:
    """The members' losses ``[K]`` on one batch; adds this batch's signal sums into ``sums``, and feeds
    the other signals' meters (``taps`` per site; ``observers``, the pack's meter sets, get the network's
    output and input; eager only)."""
    output, site_grams = packed_forward(
        plan, params, alphas, site_plans, xb,
        shifts=shifts[:-1] if io else None, fresh=fresh[:-1] if io and fresh is not None else None, taps=taps,
    )
    loss = batch_loss(output, yb, task)
    with torch.no_grad():
        for total, batch in zip(sums, site_grams):
            total.add_(batch)
        if target:
            k = output.shape[0]
            x, y = target_pairs(output.detach(), yb)
            sums[-1].add_(observe(x.reshape(k, -1), y.reshape(k, -1), shifts[-1], None if fresh is None else fresh[-1]))
        for meters in observers:
            meters.observe_network(output, yb)
            meters.observe_input(xb, yb)
    return loss


def _compiled(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if name not in _COMPILED:
        # torch.compile's machinery loads only when a step is compiled
        import torch._dynamo

        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, _RECOMPILE_LIMIT)
        torch._dynamo.config.accumulated_cache_size_limit = max(
            torch._dynamo.config.accumulated_cache_size_limit, 4 * _RECOMPILE_LIMIT
        )
        _COMPILED[name] = torch.compile(fn, dynamic=False)
    return _COMPILED[name]


class PackedStep:
    """The training step of one pack: eager, or compiled once ``try_compile`` succeeded."""

    def __init__(self, plan: Sequence[Op], task: str) -> None:
        self.plan, self.task = list(plan), task
        self.forward: Callable[..., Tensor] = forward_loss
        self.compiled = False

    def try_compile(self, optimizer: PackedOptimizer, trainable: Sequence[Tensor], *args: Any) -> bool:
        """Compile the forward pass, proving it and its gradients on a dry run over copies of the state.

        ``args``: params, alphas, site plans, a batch (x, y), sums, shifts, and the io and target flags.
        The optimizer's update stays eager (its fused kernel is one pass per tensor already).

        A failure prints one line and leaves the step eager; nothing of the pack has changed.
        """
        forward = _compiled("forward", forward_loss)
        clone = lambda ts: [t.detach().clone().requires_grad_(t.requires_grad) for t in ts]  # noqa: E731
        params, alphas, site_plans, xb, yb, sums, shifts, io, target = args
        dry_params, dry_alphas = clone(params), clone(alphas)
        dry_trainable = dry_params + (dry_alphas if len(trainable) > len(params) else [])
        try:
            loss = forward(self.plan, self.task, dry_params, dry_alphas, site_plans, xb, yb, clone(sums), clone(shifts),
                           None, io, target)
            torch.autograd.grad(loss.sum(), dry_trainable)
        except Exception as error:  # noqa: BLE001 - any compiler failure: one line, then eager
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            print(f"dynsearch: torch.compile failed ({type(error).__name__}: {first_line}); training eagerly.",
                  file=sys.stderr)
            _FAILED.append(first_line)
            return False
        self.forward, self.compiled = forward, True
        _SHAPES_SEEN.add(self.shape_key(xb, optimizer))
        return True

    def shape_key(self, xb: Tensor, optimizer: PackedOptimizer) -> tuple[Any, ...]:
        """What makes a compiled step reusable: the plan, task, optimizer and batch shape."""
        return (tuple(self.plan), self.task, optimizer.kind, tuple(xb.shape))

    def __call__(
        self, params: Sequence[Tensor], alphas: Sequence[Tensor], site_plans: Sequence[SitePlan],
        optimizer: PackedOptimizer, trainable: Sequence[Tensor], xb: Tensor, yb: Tensor, *,
        sums: Sequence[Tensor], shifts: Sequence[Tensor], fresh: Sequence[Tensor] | None, io: bool, target: bool,
        taps: Sequence[Any] | None = None, observers: Sequence[Any] = (),
    ) -> Tensor:
        """Train one batch; returns the members' losses ``[K]``.

        ``sums`` and ``shifts`` hold one entry per site and a last one for the target signal;
        ``io`` says whether this batch measures the sites, ``target`` whether the target signal
        is watched; ``fresh`` (first batch of an epoch only) marks sums that start afresh.
        """
        if taps is not None or observers:
            loss = self.forward(self.plan, self.task, params, alphas, site_plans, xb, yb, sums, shifts, fresh, io, target,
                                taps, observers)
        else:
            loss = self.forward(self.plan, self.task, params, alphas, site_plans, xb, yb, sums, shifts, fresh, io, target)
        optimizer.step(trainable, torch.autograd.grad(loss.sum(), trainable))
        return loss.detach()
