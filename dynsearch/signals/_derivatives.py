"""f′(z) of every activation family in closed form (no autograd), for the dead and saturation signals.

Each formula follows the gradient torch computes for the family's forward pass in
``dynsearch.activations`` (so at z = 0 relu has slope 0 and leaky_relu its α, as ``F.relu`` /
``F.leaky_relu`` do); the tests compare every family against ``torch.autograd``.
α may be a float or a tensor broadcastable to z (one α per member of a packed engine).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from ..activations import get_family

__all__ = ["derivative"]

Alpha = float | Tensor

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SOFTPLUS_THRESHOLD = 20.0  # F.softplus is linear beyond β·z > 20


def _relu(z: Tensor, alpha: Alpha) -> Tensor:
    return torch.where(z > 0, torch.ones_like(z), torch.zeros_like(z) + alpha)


def _elu(z: Tensor, alpha: Alpha) -> Tensor:
    return torch.where(z > 0, torch.ones_like(z), alpha * torch.exp(torch.clamp(z, max=0.0)))


def _selu(z: Tensor, alpha: Alpha) -> Tensor:
    return _SELU_SCALE * torch.where(z > 0, torch.ones_like(z), _SELU_ALPHA * torch.exp(torch.clamp(z, max=0.0)))


def _gelu(z: Tensor, alpha: Alpha) -> Tensor:
    # Exact (erf) GELU: Φ(z) + z·φ(z).
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0))) + z * _INV_SQRT_2PI * torch.exp(-0.5 * z * z)


def _silu(z: Tensor, alpha: Alpha) -> Tensor:
    # d/dz z·σ(βz) = σ(βz) + βz·σ(βz)·(1 − σ(βz))
    s = torch.sigmoid(alpha * z)
    return s + alpha * z * s * (1.0 - s)


def _tanh(z: Tensor, alpha: Alpha) -> Tensor:
    t = torch.tanh(alpha * z)
    return alpha * (1.0 - t * t)


def _sigmoid(z: Tensor, alpha: Alpha) -> Tensor:
    s = torch.sigmoid(alpha * z)
    return alpha * s * (1.0 - s)


def _softplus(z: Tensor, alpha: Alpha) -> Tensor:
    scaled = alpha * z
    return torch.where(scaled > _SOFTPLUS_THRESHOLD, torch.ones_like(z), torch.sigmoid(scaled))


def _acon_c(z: Tensor, alpha: Alpha | tuple[Tensor, ...]) -> Tensor:
    # f = d·z·σ(β·d·z) + p2·z with d = p1 − p2: f′ = d·(σ(u) + u·σ(u)(1 − σ(u))) + p2, u = β·d·z.
    beta, p1, p2 = alpha if isinstance(alpha, tuple) else (alpha, 1.0, 0.0)
    d = p1 - p2
    u = beta * d * z
    s = torch.sigmoid(u)
    return d * (s + u * s * (1.0 - s)) + p2


def _identity(z: Tensor, alpha: Alpha) -> Tensor:
    return torch.ones_like(z)


_DERIVATIVES: dict[str, Callable[[Tensor, Alpha], Tensor]] = {
    "relu": _relu,
    "leaky_relu": _relu,
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "silu": _silu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "identity": _identity,
    "acon_c": _acon_c,
}


def derivative(z: Tensor, family: str, alpha: Alpha | None = None) -> Tensor:
    """f′(z) of ``family`` at parameter ``alpha`` (the family's default when None), element-wise.

    Example:
        >>> import torch
        >>> from dynsearch.signals import derivative
        >>> derivative(torch.tensor([-1.0, 2.0]), "relu").tolist()
        [0.0, 1.0]
        >>> round(derivative(torch.tensor([0.0]), "tanh", 2.0).item(), 6)
        2.0
    """
    fam = get_family(family)
    if fam.name not in _DERIVATIVES:  # a family registered without a derivative
        raise ValueError(f"No derivative is known for family {fam.name!r}; known: {', '.join(_DERIVATIVES)}.")
    return _DERIVATIVES[fam.name](z, fam.alpha_default if alpha is None else alpha)
