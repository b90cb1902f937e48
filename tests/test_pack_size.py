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


# --- the search's "auto": the same rule over the study's datasets, within the stated budget -----------


def _spec(datasets: list, width: list[int] | None = None):
    from dynsearch.config import StudySpec

    data: dict = {"name": "s", "datasets": datasets, "model": {"kind": "mlp", "hidden": [32, 32]}}
    if width is not None:
        data["search"] = {"width": width}
    return StudySpec.from_dict(data)


def test_search_auto_is_the_engine_rule_over_every_dataset_at_the_widest_model(digits) -> None:
    from dynsearch.search.packing import choose_pack, cpu_memory_budget

    iris = load_dataset("iris")
    spec = _spec(["iris", "digits"], width=[16, 256])
    choice = choose_pack("auto", spec, "cpu", [iris, digits], workers=2)
    widest = TrainConfig(model="mlp", hidden=(256, 256))  # the width search's upper end, at every layer
    budget = cpu_memory_budget(2)
    assert budget is not None and budget > 0
    assert choice.size == min(auto_pack_size(s, widest, memory_budget=budget) for s in (iris, digits))
    assert choice.size < choose_pack("auto", _spec(["iris", "digits"]), "cpu", [iris, digits], workers=2).size
    assert choice.size * member_footprint(digits, widest).total_bytes <= budget
    assert "memory budget" in choice.reason and str(choice.size) in choice.reason


def test_search_auto_never_exceeds_the_budget_and_falls_to_one_below_it(digits, monkeypatch) -> None:
    from dynsearch.search import packing

    spec = _spec(["digits"])
    per_member = member_footprint(digits, spec.train).total_bytes
    monkeypatch.setattr(packing, "cpu_memory_budget", lambda workers=1: 3 * per_member + 1)
    assert packing.choose_pack("auto", spec, "cpu", [digits]).size == 3
    monkeypatch.setattr(packing, "cpu_memory_budget", lambda workers=1: per_member // 2)
    assert packing.choose_pack("auto", spec, "cpu", [digits]).size == 1  # one trial at a time, no error


def test_search_auto_without_any_loaded_dataset_is_one() -> None:
    from dynsearch.search.packing import choose_pack

    choice = choose_pack("auto", _spec(["iris"]), "cpu", [])
    assert (choice.size, choice.reason) == (1, "1 (auto: no dataset of the study loaded)")
    assert choose_pack(7, _spec(["iris"]), "cpu", []).size == 7


def _queued(tmp_path, datasets: str, n_trials: int = 2) -> str:
    from study_helpers import study_toml

    from dynsearch.config import load_study_file
    from dynsearch.search import open_storage, prepare_study

    path = tmp_path / "p.toml"
    path.write_text(study_toml("p", datasets=datasets, n_trials=n_trials, epochs=1, strategies=("fixed",)))
    url = f"journal:{tmp_path / 'p.journal'}"
    prepare_study(load_study_file(path), open_storage(url), url, n_trials)
    return url


def test_a_worker_sizes_auto_on_the_splits_it_loaded(tmp_path) -> None:
    from dynsearch.config import load_study_file
    from dynsearch.search import run_worker
    from dynsearch.search.packing import choose_pack
    from dynsearch.search.worker import StopFlag

    url = _queued(tmp_path, '["iris"]')
    result = run_worker("p", url, stop=StopFlag(), pack="auto")
    expected = choose_pack("auto", load_study_file(tmp_path / "p.toml"), "cpu", [load_dataset("iris")])
    assert expected.size > 1 and result.pack_size == expected.size
    assert (result.ran, result.complete) == (2, 2)


def test_a_worker_whose_dataset_no_longer_loads_fails_its_trials_and_does_not_crash(tmp_path) -> None:
    import pandas as pd

    from dynsearch.search import run_worker
    from dynsearch.search.worker import StopFlag

    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": [0.1 * i for i in range(40)], "y": [i % 2 for i in range(40)]}).to_csv(csv, index=False)
    url = _queued(tmp_path, f'[{{ name = "csv:{csv}", target = "y" }}]')
    csv.unlink()  # after prepare_study's check, before the worker loads it
    result = run_worker("p", url, stop=StopFlag(), pack="auto")
    assert result.pack_size == 1 and result.ran == result.failed > 0
