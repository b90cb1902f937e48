"""auto_pack_size: from the device's cache, capped by the trials left and never above a memory budget."""

from __future__ import annotations

import pytest
import torch

from dynsearch.data import load_dataset
from dynsearch.packed import MAX_PACK, auto_pack_size, member_footprint
from dynsearch.packed._size import CPU_CACHE_FACTOR, cpu_cache_bytes
from dynsearch.train import TrainConfig


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_cpu_size_follows_the_cache_and_the_model(digits) -> None:
    small, large = TrainConfig(model="mlp", hidden=(16,)), TrainConfig(model="mlp", hidden=(256, 256))
    k_small, k_large = auto_pack_size(digits, small), auto_pack_size(digits, large)
    assert k_small > k_large >= 1
    expected = CPU_CACHE_FACTOR * cpu_cache_bytes() // member_footprint(digits, large).step_bytes
    assert k_large == max(1, min(expected, MAX_PACK))


def test_capped_by_trials_left(digits) -> None:
    config = TrainConfig(model="mlp", hidden=(16,))
    assert auto_pack_size(digits, config, trials_left=3) == 3
    assert auto_pack_size(digits, config, trials_left=0) == 1


@pytest.mark.parametrize("budget_members", [1, 2, 7])
def test_never_above_the_memory_budget(digits, budget_members: int) -> None:
    config = TrainConfig(model="cnn")
    per_member = member_footprint(digits, config).total_bytes
    budget = budget_members * per_member + per_member // 2
    k = auto_pack_size(digits, config, memory_budget=budget)
    assert k * per_member <= budget
    assert k == min(budget_members, auto_pack_size(digits, config))


def test_a_budget_below_one_trial_is_one_clear_error(digits) -> None:
    with pytest.raises(ValueError, match=r"memory budget: 1000 bytes cannot hold one trial of this model, which needs about \d+\."):
        auto_pack_size(digits, TrainConfig(model="mlp"), memory_budget=1000)


def test_footprint_draws_nothing_from_the_random_generator(digits) -> None:
    torch.manual_seed(5)
    before = torch.get_rng_state()
    member_footprint(digits, TrainConfig(model="cnn"))
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_size_from_free_memory(digits) -> None:
    config = TrainConfig(model="mlp")
    free, _ = torch.cuda.mem_get_info()
    k = auto_pack_size(digits.to("cuda"), config)
    assert 1 <= k <= MAX_PACK and k * member_footprint(digits, config).total_bytes <= free
