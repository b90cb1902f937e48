"""Activation families by name, each with one adjustable parameter α.

A family is a function ``f(x, α)`` plus what α means, its default and its valid range.
α is a Python float on the fast path (set once per adjustment, so the forward pass needs no
host sync) or a tensor when it is trained by gradient (the ``learned`` strategy).

A family may learn further parameters besides α (``extra_params``: ACON-C learns p1 and p2
besides β). Such a family is *learned only*: the ``learned`` strategy trains all of them, and
its ``fn`` then takes α as a tuple ``(α, *extras)``; given a plain α it uses the extras' initial
values (ACON-C at p1 = 1, p2 = 0 is Swish-β).

Example:
    >>> from dynsearch.activations import get_family
    >>> get_family("swish").name
    'silu'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Alpha = float | Tensor
# What a family's fn takes: α, or for a learned-only family the tuple (α, *extras).
Params = Alpha | tuple[Tensor, ...]

__all__ = [
    "Family",
    "get_family",
    "family_names",
    "family_index",
    "family_from_module",
    "activation_module",
    "ACTIVATION_MODULE_TYPES",
]


@dataclass(frozen=True)
class Family:
    """One activation family: ``fn(x, alpha)`` and the meaning, default and range of α.

    Families without a parameter have ``alpha_range=None``; α is ignored for them.
    ``extra_params`` names the further learned parameters with their initial values (never
    clipped); a family with any is learned only.
    """

    name: str
    fn: Callable[[Tensor, Any], Tensor]  # (x, α) -> f(x); see ``Params``
    alpha_meaning: str | None
    alpha_default: float
    alpha_range: tuple[float, float] | None
    extra_params: tuple[tuple[str, float], ...] = ()

    @property
    def has_alpha(self) -> bool:
        return self.alpha_range is not None

    @property
    def learned_only(self) -> bool:
        """Whether the family learns parameters besides α, so only the ``learned`` strategy can use it."""
        return bool(self.extra_params)

    def clip(self, alpha: float) -> float:
        """Clip α into this family's range (families without α return the default)."""
        if self.alpha_range is None:
            return self.alpha_default
        low, high = self.alpha_range
        return float(min(max(alpha, low), high))

    def __call__(self, x: Tensor, alpha: Params | None = None) -> Tensor:
        return self.fn(x, self.alpha_default if alpha is None else alpha)


def _is_one(alpha: Alpha) -> bool:
    return isinstance(alpha, float) and alpha == 1.0


def _relu(x: Tensor, alpha: Alpha) -> Tensor:
    if isinstance(alpha, float):
        return F.relu(x) if alpha == 0.0 else F.leaky_relu(x, alpha)
    return torch.where(x >= 0, x, alpha * x)


def _elu(x: Tensor, alpha: Alpha) -> Tensor:
    if isinstance(alpha, float):
        return F.elu(x, alpha)
    return torch.where(x > 0, x, alpha * torch.expm1(torch.clamp(x, max=0.0)))


def _silu(x: Tensor, alpha: Alpha) -> Tensor:
    return F.silu(x) if _is_one(alpha) else x * torch.sigmoid(alpha * x)


def _acon_c(x: Tensor, alpha: Params) -> Tensor:
    # ACON-C (Ma et al., CVPR 2021): (p1 − p2)·x·σ(β(p1 − p2)x) + p2·x; a plain α is β at p1 = 1, p2 = 0.
    beta, p1, p2 = alpha if isinstance(alpha, tuple) else (alpha, 1.0, 0.0)
    scaled = (p1 - p2) * x
    return scaled * torch.sigmoid(beta * scaled) + p2 * x


def _tanh(x: Tensor, alpha: Alpha) -> Tensor:
    return torch.tanh(x) if _is_one(alpha) else torch.tanh(alpha * x)


def _sigmoid(x: Tensor, alpha: Alpha) -> Tensor:
    return torch.sigmoid(x) if _is_one(alpha) else torch.sigmoid(alpha * x)


def _softplus(x: Tensor, alpha: Alpha) -> Tensor:
    if isinstance(alpha, float):
        return F.softplus(x, beta=alpha)
    # Same threshold as F.softplus: linear beyond βx > 20 to avoid overflow in exp.
    scaled = alpha * x
    return torch.where(scaled > 20, x, torch.log1p(torch.exp(torch.clamp(scaled, max=20.0))) / alpha)


_FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("relu", _relu, "negative-side slope (relu is α = 0)", 0.0, (0.0, 1.0)),
        Family("leaky_relu", _relu, "negative-side slope", 0.01, (0.0, 1.0)),
        Family("elu", _elu, "saturation value α of α·(exp(x) − 1) for x < 0", 1.0, (0.0, 3.0)),
        Family("selu", lambda x, a: F.selu(x), None, 1.0, None),
        Family("gelu", lambda x, a: F.gelu(x), None, 1.0, None),
        Family("silu", _silu, "β in x·σ(βx)", 1.0, (0.0, 10.0)),
        Family("tanh", _tanh, "gain α in tanh(αx)", 1.0, (0.1, 10.0)),
        Family("sigmoid", _sigmoid, "gain α in σ(αx)", 1.0, (0.1, 10.0)),
        Family("softplus", _softplus, "β in log(1 + exp(βx))/β", 1.0, (0.1, 20.0)),
        Family("identity", lambda x, a: x, None, 1.0, None),
        # Appended last: a family's index is stored in the sites' state_dicts.
        Family("acon_c", _acon_c, "β in ACON-C's (p1 − p2)·x·σ(β(p1 − p2)x) + p2·x; p1, p2 learned too", 1.0,
               (-10.0, 10.0), extra_params=(("p1", 1.0), ("p2", 0.0))),
    )
}

_ALIASES: dict[str, str] = {
    "swish": "silu",
    "leakyrelu": "leaky_relu",
    "linear": "identity",
    "none": "identity",
}

_NAMES: tuple[str, ...] = tuple(_FAMILIES)


def family_names() -> list[str]:
    """The canonical family names, in a stable order (their index is ``family_index``)."""
    return list(_NAMES)


def get_family(name: str) -> Family:
    """Look a family up by name or alias; an unknown name lists the valid ones."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _FAMILIES:
        valid = ", ".join(list(_NAMES) + sorted(_ALIASES))
        raise ValueError(f"Unknown activation family {name!r}; valid names: {valid}.")
    return _FAMILIES[key]


def family_index(name: str) -> int:
    """Stable integer code of a family, used for the site's state_dict buffer."""
    return _NAMES.index(get_family(name).name)


# Ordinary torch activation modules that `dynsearch.apply` turns into sites.
ACTIVATION_MODULE_TYPES: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.LeakyReLU: "leaky_relu",
    nn.ELU: "elu",
    nn.SELU: "selu",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.Softplus: "softplus",
    nn.Identity: "identity",
}


def family_from_module(module: nn.Module) -> tuple[str, float] | None:
    """The (family, α) an ordinary activation module computes, or None if it is not one.

    ``nn.Identity`` is not treated as an activation (it is often a placeholder layer).
    """
    if type(module) is nn.Identity:
        return None
    name = ACTIVATION_MODULE_TYPES.get(type(module))
    if name is None:
        return None
    family = get_family(name)
    if isinstance(module, nn.LeakyReLU):
        return name, float(module.negative_slope)
    if isinstance(module, nn.ELU):
        return name, float(module.alpha)
    if isinstance(module, nn.Softplus):
        return name, float(module.beta)
    return name, family.alpha_default


def activation_module(name: str) -> nn.Module:
    """An ordinary torch module computing the named family at its default α.

    Model builders use these, so a plain model is a plain model and `dynsearch.apply`
    can turn its activations into sites.
    """
    family = get_family(name)
    if family.learned_only:
        extras = ", ".join(n for n, _ in family.extra_params)
        raise ValueError(f"{family.name} has no plain torch module: its α and its {extras} are learned; build "
                         f"the model with another activation and apply the learned strategy with base = {family.name!r}.")
    for module_type, family_name in ACTIVATION_MODULE_TYPES.items():
        if family_name == family.name:
            if module_type is nn.LeakyReLU:
                return nn.LeakyReLU(family.alpha_default)
            return module_type()
    raise AssertionError(f"no module for family {family.name!r}")  # every family has one
