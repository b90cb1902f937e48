"""The packed optimizer's fused update gives each member what its own ``torch.optim`` optimizer gives."""

from __future__ import annotations

import pytest
import torch
from tolerances import optimizer_steps

from dynsearch.packed._optim import PackedOptimizer

pytestmark = pytest.mark.numerics

K = 3
SHAPES = [(K, 5, 4), (K, 5), (K, 2, 5), (K, 2)]  # two linear layers' weights and biases, stacked
LR = [1e-2, 3e-2, 5e-3]
DECAY = [0.0, 0.1, 0.05]
MOMENTUM = [0.9, 0.5, 0.0]
ALPHA_MASK = [1.0, 0.0, 1.0]  # the middle member does not learn α: its row must stay put
STEPS_BEFORE, STEPS_AFTER = 4, 3  # steps before and after the pack drops its middle member
KEEP = [0, 2]


def _reference(kind: str, params: list[torch.Tensor], k: int, decay: bool) -> tuple[list[torch.Tensor], torch.optim.Optimizer]:
    """Member ``k``'s own copy of every parameter and its own optimizer, as ``fit.make_optimizer`` builds it."""
    own = [torch.nn.Parameter(p[k].clone()) for p in params]
    wd = DECAY[k] if decay else 0.0
    groups: list[dict] = [{"params": own[:-1], "weight_decay": wd}]
    if ALPHA_MASK[k]:
        groups.append({"params": own[-1:], "weight_decay": 0.0})  # α never decays
    if kind == "adam":
        return own, torch.optim.Adam(groups, lr=LR[k])
    if kind == "adamw":
        return own, torch.optim.AdamW(groups, lr=LR[k])
    return own, torch.optim.SGD(groups, lr=LR[k], momentum=MOMENTUM[k])


def _gradients(generator: torch.Generator, k: int) -> list[torch.Tensor]:
    grads = [torch.randn((k, *s[1:]), generator=generator) for s in SHAPES]
    # A transposed gradient, as a batched product's backward may give: the kernel must see it contiguous.
    grads[0] = torch.randn(k, SHAPES[0][2], SHAPES[0][1], generator=generator).transpose(1, 2)
    return grads + [torch.randn(k, generator=generator)]


def _run(kind: str, decay: bool) -> tuple[list[torch.Tensor], dict[int, list[torch.Tensor]], float]:
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(s, generator=generator) for s in SHAPES] + [torch.rand(K, generator=generator)]
    start = [p.clone() for p in params]
    refs = {k: _reference(kind, params, k, decay) for k in range(K)}
    as_tensor = lambda values: torch.tensor(values, dtype=torch.float32)  # noqa: E731
    packed = PackedOptimizer(
        kind, params, lr=as_tensor(LR), weight_decay=as_tensor(DECAY if decay else [0.0] * K),
        momentum=as_tensor(MOMENTUM), decays=[True] * len(SHAPES) + [False],
        lr_masks=[None] * len(SHAPES) + [as_tensor(ALPHA_MASK)],
    )
    rows = list(range(K))
    for step in range(STEPS_BEFORE + STEPS_AFTER):
        if step == STEPS_BEFORE:  # the pack compacts: the optimizer keeps the survivors' state
            keep = torch.tensor(KEEP)
            packed.select(keep)
            params, start, rows = [p[keep] for p in params], [s[keep] for s in start], KEEP
        grads = _gradients(generator, len(rows))
        packed.step(params, grads)
        for pos, k in enumerate(rows):
            own, optimizer = refs[k]
            for p, g in zip(own, grads):
                p.grad = g[pos].clone()
            optimizer.step()
    moved = min(float((p - s).abs().max()) for p, s in zip(params, start))
    return params, {k: [p.detach() for p in refs[k][0]] for k in KEEP}, moved


@pytest.mark.parametrize("decay", [False, True], ids=["no-decay", "decay"])
@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
def test_each_member_steps_as_its_own_torch_optimizer(kind: str, decay: bool) -> None:
    params, refs, moved = _run(kind, decay)
    scale = max(float(p.abs().max()) for p in params)
    bound = optimizer_steps(STEPS_BEFORE + STEPS_AFTER) * scale
    for pos, k in enumerate(KEEP):
        for index, (p, ref) in enumerate(zip(params, refs[k])):
            worst = float((p[pos] - ref).abs().max())
            assert worst <= bound, f"member {k}, parameter {index}: {worst:.3g} > {bound:.3g}"
    assert moved > 100 * bound  # the bound is far below what a step moves, so a wrong rate or decay fails


def test_alpha_rows_of_members_that_do_not_learn_it_stay_put() -> None:
    generator = torch.Generator().manual_seed(1)
    alpha = torch.rand(K, generator=generator)
    before = alpha.clone()
    packed = PackedOptimizer("adam", [alpha], lr=torch.tensor(LR), weight_decay=torch.zeros(K),
                             momentum=torch.zeros(K), decays=[False], lr_masks=[torch.tensor(ALPHA_MASK)])
    for _ in range(3):
        packed.step([alpha], [torch.randn(K, generator=generator)])
    assert alpha[1] == before[1]
    assert bool((alpha[[0, 2]] != before[[0, 2]]).all())
