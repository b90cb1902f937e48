"""Activation families: registry, aliases, α meaning/default/range, and the learned (tensor α) path."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import tolerances as tol
import torch
import torch.nn.functional as F
from torch import nn

from dynsearch.activations import (
    ACTIVATION_MODULE_TYPES,
    Family,
    activation_module,
    family_from_module,
    family_index,
    family_names,
    get_family,
)

ALL_FAMILIES = ["relu", "leaky_relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid", "softplus", "identity", "acon_c"]
MODULE_FAMILIES = ALL_FAMILIES[:-1]  # acon_c is learned only: no plain torch module computes it
WITH_ALPHA = [n for n in ALL_FAMILIES if get_family(n).has_alpha]

# What each family's α means, its default and its range, as DESIGN.md §2 fixes them.
EXPECTED_ALPHA = {
    "relu": ("slope", 0.0, (0.0, 1.0)),
    "leaky_relu": ("slope", 0.01, (0.0, 1.0)),
    "elu": ("α", 1.0, (0.0, 3.0)),
    "silu": ("β", 1.0, (0.0, 10.0)),
    "tanh": ("gain", 1.0, (0.1, 10.0)),
    "sigmoid": ("gain", 1.0, (0.1, 10.0)),
    "softplus": ("β", 1.0, (0.1, 20.0)),
    "acon_c": ("β", 1.0, (-10.0, 10.0)),
}


@pytest.fixture
def x() -> torch.Tensor:
    torch.manual_seed(0)
    # Both signs, zero itself, and large values that hit softplus's linear branch.
    return torch.cat([torch.randn(200) * 3, torch.tensor([0.0, -0.0, 25.0, -25.0, 1e-6, -1e-6])])


def test_registry_names_are_canonical_and_indexed() -> None:
    assert family_names() == ALL_FAMILIES
    for i, name in enumerate(family_names()):
        assert family_index(name) == i
        fam = get_family(name)
        assert isinstance(fam, Family)
        assert fam.name == name


def test_family_names_returns_a_copy() -> None:
    names = family_names()
    names.append("bogus")
    assert "bogus" not in family_names()


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("swish", "silu"), ("leakyrelu", "leaky_relu"), ("linear", "identity"), ("none", "identity")],
)
def test_aliases_resolve_to_the_canonical_family(alias: str, canonical: str) -> None:
    assert get_family(alias) is get_family(canonical)
    assert get_family(alias).name == canonical
    assert family_index(alias) == family_index(canonical)


def test_lookup_ignores_case_and_surrounding_space() -> None:
    assert get_family("  ReLU ").name == "relu"
    assert get_family("SWISH").name == "silu"


def test_swish_computes_silu(x: torch.Tensor) -> None:
    torch.testing.assert_close(get_family("swish")(x), F.silu(x))


def test_unknown_family_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown activation family 'mish'; valid names: relu, leaky_relu, .*identity") as info:
        get_family("mish")
    message = str(info.value)
    for name in ALL_FAMILIES + ["swish", "leakyrelu", "linear", "none"]:
        assert re.search(rf"\b{name}\b", message), name


def test_unknown_family_index_raises() -> None:
    with pytest.raises(ValueError, match="Unknown activation family 'prelu'"):
        family_index("prelu")


@pytest.mark.parametrize("name", WITH_ALPHA)
def test_alpha_meaning_default_and_range(name: str) -> None:
    fam = get_family(name)
    word, default, rng = EXPECTED_ALPHA[name]
    assert fam.has_alpha
    assert word in fam.alpha_meaning
    assert fam.alpha_default == default
    assert fam.alpha_range == rng
    low, high = rng
    assert low <= fam.alpha_default <= high


@pytest.mark.parametrize("name", ["selu", "gelu", "identity"])
def test_families_without_alpha(name: str, x: torch.Tensor) -> None:
    fam = get_family(name)
    assert not fam.has_alpha
    assert fam.alpha_range is None
    assert fam.alpha_meaning is None
    # α is ignored: any value gives the same output, and clip returns the default.
    torch.testing.assert_close(fam(x, 0.3), fam(x))
    torch.testing.assert_close(fam(x, torch.tensor(5.0)), fam(x))
    assert fam.clip(123.0) == fam.alpha_default


def test_families_without_alpha_compute_the_torch_function(x: torch.Tensor) -> None:
    torch.testing.assert_close(get_family("selu")(x), F.selu(x))
    torch.testing.assert_close(get_family("gelu")(x), F.gelu(x))
    torch.testing.assert_close(get_family("identity")(x), x)


@pytest.mark.parametrize("name", WITH_ALPHA)
def test_clip_keeps_alpha_in_range(name: str) -> None:
    fam = get_family(name)
    low, high = fam.alpha_range
    assert fam.clip(low - 1.0) == low
    assert fam.clip(high + 1.0) == high
    mid = (low + high) / 2
    assert fam.clip(mid) == mid
    assert isinstance(fam.clip(int(high) + 5), float)


# α values to compare the float and tensor paths at: the default, 1 (fast paths), and in between.
def _alphas(name: str) -> list[float]:
    fam = get_family(name)
    low, high = fam.alpha_range
    return sorted({fam.alpha_default, fam.clip(1.0), fam.clip(0.5), low + 0.3 * (high - low), high})


@pytest.mark.parametrize("name", WITH_ALPHA)
def test_float_alpha_equals_tensor_alpha(name: str, x: torch.Tensor) -> None:
    fam = get_family(name)
    for alpha in _alphas(name):
        expected = fam(x, alpha)
        learned = fam(x, torch.tensor(alpha, requires_grad=True))
        torch.testing.assert_close(learned, expected, rtol=tol.closed_form(10, torch.float32), atol=tol.closed_form(10, torch.float32), msg=f"{name} at α={alpha}")


@pytest.mark.parametrize("name", WITH_ALPHA)
def test_tensor_alpha_gets_a_finite_gradient(name: str, x: torch.Tensor) -> None:
    fam = get_family(name)
    alpha = torch.tensor(fam.clip(0.7), requires_grad=True)
    fam(x, alpha).sum().backward()
    assert alpha.grad is not None
    assert torch.isfinite(alpha.grad)
    assert alpha.grad != 0


@pytest.mark.parametrize("name", WITH_ALPHA)
def test_parametrised_families_match_torch(name: str, x: torch.Tensor) -> None:
    fam = get_family(name)
    a = fam.clip(0.7)
    reference = {
        "relu": lambda: F.leaky_relu(x, a),
        "leaky_relu": lambda: F.leaky_relu(x, a),
        "elu": lambda: F.elu(x, a),
        "silu": lambda: x * torch.sigmoid(a * x),
        "tanh": lambda: torch.tanh(a * x),
        "sigmoid": lambda: torch.sigmoid(a * x),
        "softplus": lambda: F.softplus(x, beta=a),
        "acon_c": lambda: x * torch.sigmoid(a * x),  # a plain α is β at p1 = 1, p2 = 0
    }[name]()
    torch.testing.assert_close(fam(x, a), reference)


def test_relu_is_alpha_zero(x: torch.Tensor) -> None:
    relu = get_family("relu")
    assert relu.alpha_default == 0.0
    torch.testing.assert_close(relu(x), F.relu(x))
    torch.testing.assert_close(relu(x, 0.0), F.relu(x))
    torch.testing.assert_close(relu(x, torch.tensor(0.0)), F.relu(x))
    # and the same rule with α > 0 is leaky ReLU
    torch.testing.assert_close(relu(x, 0.2), get_family("leaky_relu")(x, 0.2))


def test_default_alpha_is_used_when_none(x: torch.Tensor) -> None:
    torch.testing.assert_close(get_family("leaky_relu")(x), F.leaky_relu(x, 0.01))
    torch.testing.assert_close(get_family("elu")(x, None), F.elu(x, 1.0))


def test_softplus_tensor_path_is_finite_for_large_inputs() -> None:
    x = torch.tensor([-1e4, -100.0, 0.0, 100.0, 1e4])
    beta = torch.tensor(20.0)
    out = get_family("softplus")(x, beta)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, F.softplus(x, beta=20.0))


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (nn.LeakyReLU(0.2), ("leaky_relu", 0.2)),
        (nn.ELU(alpha=0.5), ("elu", 0.5)),
        (nn.Softplus(beta=2), ("softplus", 2.0)),
        (nn.ReLU(), ("relu", 0.0)),
        (nn.LeakyReLU(), ("leaky_relu", 0.01)),
        (nn.Tanh(), ("tanh", 1.0)),
        (nn.Sigmoid(), ("sigmoid", 1.0)),
        (nn.SiLU(), ("silu", 1.0)),
        (nn.GELU(), ("gelu", 1.0)),
        (nn.SELU(), ("selu", 1.0)),
    ],
)
def test_family_from_module(module: nn.Module, expected: tuple[str, float]) -> None:
    name, alpha = family_from_module(module)
    assert name == expected[0]
    assert alpha == pytest.approx(expected[1])
    assert isinstance(alpha, float)


@pytest.mark.parametrize("module", [nn.LeakyReLU(0.2), nn.ELU(alpha=0.5), nn.Softplus(beta=2), nn.Tanh(), nn.SiLU()])
def test_family_from_module_computes_what_the_module_computes(module: nn.Module, x: torch.Tensor) -> None:
    name, alpha = family_from_module(module)
    torch.testing.assert_close(get_family(name)(x, alpha), module(x))


@pytest.mark.parametrize("module", [nn.Identity(), nn.Linear(2, 2), nn.Sequential(nn.ReLU()), nn.Softmax(dim=1)])
def test_family_from_module_rejects_non_activations(module: nn.Module) -> None:
    assert family_from_module(module) is None


def test_every_module_type_maps_to_a_known_family() -> None:
    for module_type, name in ACTIVATION_MODULE_TYPES.items():
        assert get_family(name).name == name, module_type


@pytest.mark.parametrize("name", MODULE_FAMILIES + ["swish"])
def test_activation_module_round_trips(name: str, x: torch.Tensor) -> None:
    module = activation_module(name)
    fam = get_family(name)
    assert ACTIVATION_MODULE_TYPES[type(module)] == fam.name
    torch.testing.assert_close(module(x), fam(x))
    if fam.name != "identity":
        found = family_from_module(module)
        assert found == (fam.name, fam.alpha_default)
        assert math.isfinite(found[1])


def test_a_learned_only_family_has_no_plain_module() -> None:
    assert get_family("acon_c").learned_only and not get_family("silu").learned_only
    with pytest.raises(ValueError, match=r"acon_c has no plain torch module: its α and its p1, p2 are learned"):
        activation_module("acon_c")


def _acon_c_reference(x: np.ndarray, beta: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    # Ma et al. (CVPR 2021), eq. for ACON-C, written out in numpy.
    d = (p1 - p2) * x
    return d / (1.0 + np.exp(-beta * d)) + p2 * x


def test_acon_c_matches_a_numpy_reference_per_site_and_per_channel() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5)) * 3
    acon = get_family("acon_c")
    for beta, p1, p2 in [(1.0, 1.0, 0.0), (0.3, 1.5, -0.2), (-2.0, 0.25, 0.8), (4.0, -0.5, 0.5)]:
        params = tuple(torch.tensor(v, dtype=torch.float64) for v in (beta, p1, p2))
        got = acon(torch.from_numpy(x), params).numpy()
        np.testing.assert_allclose(got, _acon_c_reference(x, beta, p1, p2), rtol=tol.closed_form(20), atol=tol.closed_form(20))
    per_channel = [rng.normal(size=5) for _ in range(3)]
    got = acon(torch.from_numpy(x), tuple(torch.from_numpy(v) for v in per_channel)).numpy()
    np.testing.assert_allclose(got, _acon_c_reference(x, *per_channel), rtol=tol.closed_form(20), atol=tol.closed_form(20))
    # At its initial p1 = 1, p2 = 0 it is Swish-β; β → large approaches max(p1·x, p2·x).
    torch.testing.assert_close(acon(torch.from_numpy(x), 1.0), F.silu(torch.from_numpy(x)))
    big = tuple(torch.tensor(v, dtype=torch.float64) for v in (200.0, 1.2, 0.1))
    np.testing.assert_allclose(acon(torch.from_numpy(x), big).numpy(), np.maximum(1.2 * x, 0.1 * x),
                               atol=0.2785 / 200)  # not rounding: max over t of t·σ(−βt) is 0.2785/β


def test_acon_c_gradients_reach_beta_p1_and_p2() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 4, dtype=torch.float64)
    params = tuple(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.0, 1.0, 0.0))
    get_family("acon_c")(x, params).pow(2).sum().backward()
    for name, p in zip(("β", "p1", "p2"), params):
        assert p.grad is not None and torch.isfinite(p.grad) and p.grad != 0, name
    assert torch.autograd.gradcheck(lambda b, a, c: get_family("acon_c")(x, (b, a, c)),
                                    tuple(torch.tensor(v, dtype=torch.float64, requires_grad=True)
                                          for v in (0.7, 1.3, -0.4)))
