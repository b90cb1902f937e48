"""The pack interface: a pack's results equal train() per member, and a stopped member leaves alone."""

from __future__ import annotations

import pytest
import tolerances as tol

from dynsearch.data import load_dataset
from dynsearch.packed import PackMember, pack_key, train_packed
from dynsearch.train import TrainConfig, train


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def test_pack_equals_train_per_member(iris):
    members = [
        PackMember({"name": "fixed", "params": {"base": "tanh"}}, TrainConfig(epochs=3, seed=0, lr=0.01, hidden=(8,))),
        PackMember({"name": "linear", "params": {"lam": 0.5, "base": "elu"}}, TrainConfig(epochs=3, seed=1, hidden=(8,))),
    ]
    packed = train_packed(iris, members)
    for member, result in zip(members, packed):
        alone = train(iris, member.strategy, member.config)
        assert result.best_epoch == alone.best_epoch
        assert result.best_val_metric == pytest.approx(alone.best_val_metric, abs=tol.PACKED)
        assert [r.val_metric for r in result.history] == pytest.approx([r.val_metric for r in alone.history], abs=tol.PACKED)


def test_stopped_member_leaves_the_others_running(iris):
    members = [PackMember({"name": "fixed", "params": {}}, TrainConfig(epochs=4, seed=s, hidden=(8,), patience=0)) for s in (0, 1)]
    results = train_packed(iris, members, on_epoch=lambda index, epoch, value: index == 0 and epoch == 1)
    assert results[0].status == "pruned" and results[0].epochs_run == 2
    assert results[1].status == "ok" and results[1].epochs_run == 4


def test_members_of_different_shapes_are_refused(iris):
    members = [PackMember({"name": "fixed", "params": {}}, TrainConfig(hidden=h)) for h in ((8,), (16,))]
    assert pack_key(members[0].config) != pack_key(members[1].config)
    with pytest.raises(ValueError, match="same model shape"):
        train_packed(iris, members)
