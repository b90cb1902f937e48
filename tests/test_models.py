"""Tests for dynsearch.models: shapes, activation modules, the CNN on digits, argument errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dynsearch.activations import ACTIVATION_MODULE_TYPES, family_names, get_family
from dynsearch.data import load_dataset
from dynsearch.models import SmallCNN, build_model, mlp, small_cnn


def count(model: nn.Module, module_type: type[nn.Module]) -> int:
    return sum(type(m) is module_type for m in model.modules())


def test_mlp_output_shape_and_relu_count() -> None:
    model = mlp(10, (64, 64), 3)
    assert isinstance(model, nn.Sequential)
    assert model(torch.randn(7, 10)).shape == (7, 3)
    assert count(model, nn.ReLU) == 2 and count(model, nn.Linear) == 3
    assert count(model, nn.Dropout) == 0


def test_mlp_empty_hidden_is_linear() -> None:
    model = mlp(4, (), 1)
    assert len(model) == 1 and isinstance(model[0], nn.Linear)
    assert model(torch.randn(2, 4)).shape == (2, 1)


def test_mlp_dropout_after_each_activation() -> None:
    model = mlp(4, (8, 8, 8), 2, activation="tanh", dropout=0.5)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, nn.Tanh, nn.Dropout] * 3 + [nn.Linear]


def test_activation_modules_are_distinct_instances() -> None:
    # Each activation becomes its own site later; a shared instance would merge two sites.
    model = build_model("mlp", input_shape=(4,), n_outputs=2, hidden=(8, 8, 8))
    acts = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len({id(m) for m in acts}) == 3


@pytest.mark.parametrize("family", [f for f in family_names() if not get_family(f).learned_only])
def test_every_family_builds_ordinary_modules(family: str) -> None:
    model = mlp(3, (5, 5), 2, activation=family)
    module_types = {t for t, name in ACTIVATION_MODULE_TYPES.items() if name == family}
    acts = [m for m in model.modules() if type(m) in module_types]
    assert len(acts) == 2
    assert torch.isfinite(model(torch.randn(4, 3))).all()


def test_a_learned_only_family_is_no_model_activation() -> None:
    with pytest.raises(ValueError, match=r"acon_c has no plain torch module.*learned strategy with base = 'acon_c'"):
        mlp(3, (5,), 2, activation="acon_c")


def test_cnn_on_digits() -> None:
    splits = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model("auto", input_shape=splits.input_shape, n_outputs=splits.n_outputs)
    assert isinstance(model, SmallCNN)
    out = model(splits.x_train[:16])
    assert out.shape == (16, 10)
    assert torch.equal(model(splits.x_train[:16].reshape(16, 1, 8, 8)), out)  # flat or image input
    assert count(model, nn.ReLU) == 3 and count(model, nn.Conv2d) == 2  # two convs + head
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_cnn_channels_activation_dropout_and_odd_shapes() -> None:
    model = small_cnn((3, 5, 7), 4, channels=(4, 6, 8), activation="elu", dropout=0.2)
    assert model(torch.randn(2, 3 * 5 * 7)).shape == (2, 4)
    assert count(model, nn.ELU) == 4 and count(model, nn.Dropout) == 1
    assert small_cnn((1, 1, 1), 2)(torch.randn(3, 1)).shape == (3, 2)


def test_cnn_rejects_wrong_input_size() -> None:
    model = small_cnn((1, 8, 8), 10)
    with pytest.raises(ValueError, match=r"expects 64 flat features .* got 63"):
        model(torch.randn(2, 63))
    with pytest.raises(ValueError, match=r"got shape \(8, 8\)|got shape \(2, 8, 8\)"):
        model(torch.randn(2, 8, 8))


def test_build_model_auto_and_mlp_on_images() -> None:
    assert isinstance(build_model("auto", input_shape=(5,), n_outputs=2), nn.Sequential)
    flat = build_model("mlp", input_shape=(1, 8, 8), n_outputs=10, hidden=(32,))
    assert flat[0].in_features == 64 and flat(torch.randn(3, 64)).shape == (3, 10)
    assert count(build_model("cnn", input_shape=(1, 8, 8), n_outputs=3, channels=(4,)), nn.ReLU) == 2


def test_same_seed_same_weights() -> None:
    torch.manual_seed(1)
    a = build_model("mlp", input_shape=(4,), n_outputs=2)
    torch.manual_seed(1)
    b = build_model("mlp", input_shape=(4,), n_outputs=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "transformer"}, r"Unknown model kind 'transformer'; valid kinds: auto, cnn, mlp"),
        ({"hidden": (64, 0)}, r"hidden: expected a sequence of positive integers, got \(64, 0\)"),
        ({"hidden": (-3,)}, r"hidden: .* got \(-3,\)"),
        ({"hidden": "64"}, r"hidden: expected a sequence of positive integers, got '64'"),
        ({"hidden": (True,)}, r"hidden: .* got \(True,\)"),
        ({"dropout": 1.0}, r"dropout: expected a number in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, r"dropout: expected a number in \[0, 1\), got -0.1"),
        ({"n_outputs": 0}, r"n_outputs: expected an integer >= 1, got 0"),
        ({"input_shape": (0,)}, r"input_shape: expected a non-empty sequence of positive integers, got \(0,\)"),
        ({"input_shape": ()}, r"input_shape: expected a non-empty sequence"),
        ({"activation": "swishy"}, r"Unknown activation family 'swishy'; valid names: relu"),
        ({"kind": "cnn"}, r"A cnn needs input_shape \(C, H, W\), got \(4,\)"),
        ({"kind": "cnn", "input_shape": (1, 8, 8), "channels": ()}, r"channels: expected a non-empty sequence"),
        ({"kind": "cnn", "input_shape": (1, 8, 8), "channels": (16, -1)}, r"channels: .* got \(16, -1\)"),
    ],
)
def test_build_model_errors(kwargs: dict, match: str) -> None:
    arguments = {"kind": "mlp", "input_shape": (4,), "n_outputs": 2, **kwargs}
    kind = arguments.pop("kind")
    with pytest.raises(ValueError, match=match) as info:
        build_model(kind, **arguments)
    assert "\n" not in str(info.value)


def test_mlp_errors_on_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"n_inputs: expected an integer >= 1, got -1"):
        mlp(-1, (4,), 2)
    with pytest.raises(ValueError, match=r"Unknown activation family 'nope'"):
        mlp(3, (), 2, activation="nope")  # checked even without hidden layers
