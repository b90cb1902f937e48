"""Model builders: an MLP and a small CNN made of ordinary torch activation modules.

Every activation is a separate ``activation_module(name)`` instance (``nn.ReLU``, ``nn.Tanh``, …),
so a built model is a plain torch model, and ``dynsearch.apply(model, strategy)`` can later turn
each activation into its own dynamic site.

Example:
    >>> from torch import nn
    >>> from dynsearch.models import build_model
    >>> model = build_model("mlp", input_shape=(4,), n_outputs=3, hidden=(64, 64))
    >>> sum(isinstance(m, nn.ReLU) for m in model.modules())
    2
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ._constraints import Integer, Real, Sizes, check
from .activations import activation_module, get_family

__all__ = ["MODEL_KINDS", "SmallCNN", "build_model", "mlp", "small_cnn"]

MODEL_KINDS: tuple[str, ...] = ("auto", "cnn", "mlp")
CNN_HEAD_WIDTH = 64  # width of the CNN's hidden fully connected layer
_CNN_POOL = 4  # the CNN pools its feature maps to at most 4x4 before the head


def _positive_int(value: Any, what: str) -> int:
    return int(check(value, Integer(1), what))


def _widths(values: Sequence[int], what: str, *, allow_empty: bool) -> tuple[int, ...]:
    return tuple(int(v) for v in check(values, Sizes(allow_empty), what))


def _dropout(value: Any) -> float:
    return float(check(value, Real(0, 1, high_open=True), "dropout"))


def _shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    return _widths(input_shape, "input_shape", allow_empty=False)


def mlp(
    n_inputs: int,
    hidden: Sequence[int],
    n_outputs: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Sequential:
    """A multilayer perceptron: ``Linear → activation → (Dropout)`` per hidden layer, then ``Linear``.

    Args:
        n_inputs: Number of input features.
        hidden: Hidden layer widths; empty gives a linear model (no activation).
        n_outputs: Number of outputs (classes, or 1 for regression).
        activation: Activation family name (see ``dynsearch.activations.family_names``).
        dropout: Dropout probability after each activation; 0 adds no Dropout module.

    Example:
        >>> import torch
        >>> model = mlp(2, (16, 16), 3, activation="tanh")
        >>> tuple(model(torch.zeros(5, 2)).shape)
        (5, 3)
    """
    n_inputs = _positive_int(n_inputs, "n_inputs")
    n_outputs = _positive_int(n_outputs, "n_outputs")
    widths = _widths(hidden, "hidden", allow_empty=True)
    dropout = _dropout(dropout)
    get_family(activation)  # fail with the list of names even when hidden is empty
    layers: list[nn.Module] = []
    previous = n_inputs
    for width in widths:
        layers += [nn.Linear(previous, width), activation_module(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        previous = width
    layers.append(nn.Linear(previous, n_outputs))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """``conv3x3 → activation`` blocks, adaptive average pooling, then a ``Linear(64) → activation → Linear`` head.

    Accepts flat input ``(n, C*H*W)`` (how ``DatasetSplits`` stores images) or ``(n, C, H, W)``.
    Build it with ``small_cnn``, which validates the arguments.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        n_outputs: int,
        channels: tuple[int, ...],
        activation: str,
        dropout: float,
    ) -> None:
        super().__init__()
        self.input_shape = input_shape
        in_channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for out_channels in channels:
            blocks += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), activation_module(activation)]
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)
        # Pool to a small grid rather than 1x1: on 8x8 digits, where a stroke is matters.
        pooled = (min(height, _CNN_POOL), min(width, _CNN_POOL))
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        head: list[nn.Module] = [
            nn.Flatten(),
            nn.Linear(in_channels * pooled[0] * pooled[1], CNN_HEAD_WIDTH),
            activation_module(activation),
        ]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(CNN_HEAD_WIDTH, n_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            if x.shape[1] != math.prod(self.input_shape):
                raise ValueError(
                    f"SmallCNN expects {math.prod(self.input_shape)} flat features for input_shape "
                    f"{self.input_shape}, got {x.shape[1]}."
                )
            x = x.reshape(x.shape[0], *self.input_shape)
        elif x.dim() != 4:
            raise ValueError(f"SmallCNN expects input (n, C*H*W) or (n, C, H, W), got shape {tuple(x.shape)}.")
        return self.head(self.pool(self.features(x)))


def small_cnn(
    input_shape: tuple[int, int, int],
    n_outputs: int,
    *,
    channels: Sequence[int] = (16, 32),
    activation: str = "relu",
    dropout: float = 0.0,
) -> SmallCNN:
    """A small CNN for image-like data such as 8x8 digits (``input_shape=(1, 8, 8)``).

    Args:
        input_shape: ``(C, H, W)`` of one sample.
        n_outputs: Number of outputs.
        channels: Output channels of each 3x3 convolution (padding 1, so H and W are kept).
        activation: Activation family name, used after every convolution and in the head.
        dropout: Dropout probability before the last Linear layer.

    Example:
        >>> import torch
        >>> model = small_cnn((1, 8, 8), 10)
        >>> tuple(model(torch.zeros(4, 64)).shape)
        (4, 10)
    """
    shape = _shape(input_shape)
    if len(shape) != 3:
        raise ValueError(f"A cnn needs input_shape (C, H, W), got {tuple(input_shape)!r}; use an mlp for flat features.")
    get_family(activation)
    return SmallCNN(
        (shape[0], shape[1], shape[2]),
        _positive_int(n_outputs, "n_outputs"),
        _widths(channels, "channels", allow_empty=False),
        activation,
        _dropout(dropout),
    )


def build_model(
    kind: str,
    *,
    input_shape: tuple[int, ...],
    n_outputs: int,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    dropout: float = 0.0,
    channels: Sequence[int] = (16, 32),
) -> nn.Module:
    """Build a model by kind: ``"mlp"``, ``"cnn"``, or ``"auto"`` (cnn for a 3-dim ``input_shape``, else mlp).

    An mlp on image-like data reads the flat ``prod(input_shape)`` features. ``hidden`` is used by
    the mlp, ``channels`` by the cnn.

    Raises:
        ValueError: An unknown kind, non-positive sizes, dropout outside [0, 1), an unknown
            activation, or a cnn on an ``input_shape`` that is not ``(C, H, W)``.

    Example:
        >>> from dynsearch.data import load_dataset
        >>> splits = load_dataset("digits")
        >>> model = build_model("auto", input_shape=splits.input_shape, n_outputs=splits.n_outputs)
        >>> type(model).__name__
        'SmallCNN'
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"Unknown model kind {kind!r}; valid kinds: {', '.join(MODEL_KINDS)}.")
    shape = _shape(input_shape)
    if kind == "auto":
        kind = "cnn" if len(shape) == 3 else "mlp"
    if kind == "cnn":
        return small_cnn(shape, n_outputs, channels=channels, activation=activation, dropout=dropout)  # type: ignore[arg-type]
    return mlp(math.prod(shape), hidden, n_outputs, activation=activation, dropout=dropout)
