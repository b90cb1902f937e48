"""``SignalRecorder``: measure any signals on any model through hooks, e.g. to calibrate thresholds.

It attaches forward hooks to a model's activations (ordinary modules such as ``nn.ReLU``, or
dynsearch's sites) and, for ``site_gradient`` signals, a backward hook on each activation's input;
the model is not changed. Network-level signals are fed by the caller once per training batch:
``observe_output(output, target)`` (``target``) and ``observe_input(x, target)`` (``data``).
Statistics stay on the device; ``epoch_values()`` reads them (one host sync) and starts afresh.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from dynsearch.signals import SignalRecorder
    >>> model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> recorder = SignalRecorder(model, ["io", "dead", "gradient"])
    >>> model(torch.randn(16, 3)).sum().backward()
    >>> sorted(recorder.epoch_values()["1"])
    ['dead', 'gradient', 'io']
    >>> recorder.close()
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from torch import Tensor, nn

from ..activations import family_from_module, get_family
from ._base import Signal, signal_from_config
from ._stats import State

__all__ = ["SignalRecorder", "NETWORK"]

#: The key under which per-network signals (target, data) are reported.
NETWORK = "(network)"


def _family_of(module: nn.Module) -> tuple[str, Any] | None:
    """(family, α) an activation module computes now; α may be a tensor (no host sync)."""
    found = family_from_module(module)
    if found is not None:
        return found
    family = getattr(module, "family", None)  # an ActivationSite
    if isinstance(family, str) and hasattr(module, "alpha"):
        alpha = getattr(module, "alpha_param", None)
        return get_family(family).name, (alpha if alpha is not None else module.alpha)
    return None


class SignalRecorder:
    """Record signals per activation (and per network) while a model trains, through hooks.

    Args:
        model: any ``nn.Module`` with activation modules or dynsearch sites.
        signals: signal names, configs or instances (``["io", {"name": "saturation", "params": {"eps": 0.1}}]``).
        train_only: measure only forward passes in training mode (not evaluation).
    """

    def __init__(self, model: nn.Module, signals: Sequence[str | Mapping[str, Any] | Signal], *, train_only: bool = True) -> None:
        self.signals = [signal_from_config(s) for s in signals]
        names = [s.name for s in self.signals]
        if len(set(names)) != len(names):
            raise ValueError(f"SignalRecorder records each signal once; got {names}.")
        self.train_only = train_only
        self.activations = [(name, m) for name, m in model.named_modules() if _family_of(m) is not None and name]
        if not self.activations:
            raise ValueError(f"{type(model).__name__} has no activation module to record signals from.")
        self.states: dict[tuple[str, str], State] = {}
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in self.activations]

    def _hook(self, site: str):
        def forward_hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if self.train_only and not module.training:
                return
            z = inputs[0]
            family, alpha = _family_of(module)  # type: ignore[misc]
            if getattr(module, "learned", False):  # a learned α per channel, or ACON-C's (β, p1, p2), shaped for z
                alpha = module.fn_params(z)  # type: ignore[operator]
            for signal in self.signals:
                if signal.source == "site":
                    self._update(site, signal, z, output, family=family, alpha=alpha)
                elif signal.source == "site_gradient" and z.requires_grad:
                    z.register_hook(self._gradient_hook(site, signal, z.detach()))

        return forward_hook

    def _gradient_hook(self, site: str, signal: Signal, z: Tensor):
        def hook(grad: Tensor) -> None:
            self._update(site, signal, z, grad)

        return hook

    def _update(self, key: str, signal: Signal, a: Tensor, b: Tensor, **kw: Any) -> None:
        self.states[(key, signal.name)] = signal.update(self.states.get((key, signal.name)), a, b, **kw)

    def observe_output(self, output: Tensor, target: Tensor) -> None:
        """Feed the ``network`` signals (target) one training batch's output and target."""
        for signal in self.signals:
            if signal.source == "network":
                self._update(NETWORK, signal, output, target)

    def observe_input(self, x: Tensor, target: Tensor) -> None:
        """Feed the ``input`` signals (data) one training batch's input and target."""
        for signal in self.signals:
            if signal.source == "input":
                self._update(NETWORK, signal, x, target)

    def epoch_values(self, reset: bool = True) -> dict[str, dict[str, tuple[float, int, bool]]]:
        """``{site: {signal: (value, n, degenerate)}}`` for everything measured (network signals under
        ``NETWORK``), then forget it unless ``reset`` is False. One host sync per value."""
        out: dict[str, dict[str, tuple[float, int, bool]]] = {}
        by_name = {s.name: s for s in self.signals}
        for (key, name), state in self.states.items():
            out.setdefault(key, {})[name] = by_name[name].value(state).item()
        if reset:
            self.states.clear()
        return out

    def global_values(self) -> dict[str, tuple[float, int, bool]]:
        """Each per-site signal over all sites at once (a global scope), without resetting."""
        out = {}
        for signal in self.signals:
            states = [s for (key, name), s in self.states.items() if name == signal.name and key != NETWORK]
            if states:
                out[signal.name] = signal.value(states).item()
        return out

    def close(self) -> None:
        """Remove the hooks; the model is as it was."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
