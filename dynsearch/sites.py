"""Activation sites: the modules that replace a model's activations and measure their signal.

``apply(model, strategy)`` swaps every ordinary activation module (nn.ReLU, nn.Tanh, …) of any
``nn.Module`` for an ``ActivationSite``; ``adjust(model, epoch)`` (``dynsearch.adjustment``) lets the
strategy read r and set each site's family and α, once per epoch. That is all a user's own training loop needs.

Example:
    >>> import torch, dynsearch
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> model = dynsearch.apply(model, dynsearch.ThresholdSwitch(lower=-0.5, upper=0.5))
    >>> [name for name, _ in dynsearch.sites(model)]
    ['1']
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .activations import ACTIVATION_MODULE_TYPES, Params, family_from_module, family_index, family_names, get_family
from .functional import convert_functional
from .learned import alpha_rows, channel_counts, initial_learned, learned_params
from .signals import PearsonStats, Signal, SignalMeter, get_signal_class
from .strategies import Strategy, strategy_from_config

__all__ = [
    "ActivationSite",
    "apply",
    "sites",
    "observe_output",
    "observe_input",
    "needs_target_signal",
    "needs_input_signal",
    "meter_signal",
    "network_stats",
    "site_stats",
    "target_stats",
    "target_pairs",
    "parameter_groups",
]


class ActivationSite(nn.Module):
    """An activation whose family and α can change while the model trains.

    The family code and α are buffers (they follow ``.to(device)`` and the state_dict); a
    Python mirror of both drives the forward pass, so it never reads a tensor back to the host.
    While training, each forward adds (input, output) pairs to ``stats`` (the io signal, pooled),
    or feeds ``signal_meter`` when the strategy reads another signal (``gradient`` through a hook
    on the input z, whose gradient arrives in the backward pass).
    """

    # The buffers registered in __init__, declared for the type checker.
    family_code: Tensor
    alpha: Tensor

    def __init__(self, family: str, alpha: float | None = None, *, strategy: Strategy | None = None) -> None:
        super().__init__()
        fam = get_family(family)
        alpha = fam.alpha_default if alpha is None else float(alpha)
        self.register_buffer("family_code", torch.tensor(family_index(fam.name), dtype=torch.long))
        self.register_buffer("alpha", torch.tensor(alpha, dtype=torch.float32))
        self.alpha_param: nn.Parameter | None = None
        # Channel count of the layer before this site (set by `apply`), for a per-channel learned α.
        self.channels: int | None = None
        self.stats = PearsonStats()
        # Any other signal the strategy reads (dead, saturation, gradient, io per unit, ...): set by `apply`.
        self.signal_meter: SignalMeter | None = None
        # The network's target-signal statistics live on its first site (set by `apply`), and so does
        # the meter of another per-network signal (data, or target per unit).
        self.target_stats: PearsonStats | None = None
        self.network_meter: SignalMeter | None = None
        self.measure = True
        # Measure one training batch in k: the statistics' per-op cost matters on tiny CPU models.
        self.measure_every = 1
        self._forward_calls = 0
        self.strategy = strategy
        self.initial_family = fam.name
        self.initial_alpha = alpha
        self.last_switch_epoch: int | None = None
        self.n_switches_ = 0
        self._set_mirror(fam.name, alpha)

    def _set_mirror(self, family: str, alpha: float) -> None:
        self._family = get_family(family)
        self._alpha = float(alpha)

    @property
    def family(self) -> str:
        return self._family.name

    @property
    def learned(self) -> bool:
        """Whether α is trained by gradient (an ``nn.Parameter``)."""
        return self.alpha_param is not None

    @property
    def alpha_value(self) -> float:
        """Current α as a float (reads a learned parameter back: one host sync; the mean of a per-channel α)."""
        if self.alpha_param is not None:
            return float(alpha_rows(self.alpha_param.detach(), self._family).mean())
        return self._alpha

    def set_state(self, family: str, alpha: float) -> None:
        """Set the family and α, clipped to the family's range (a learned α is overwritten too)."""
        fam = get_family(family)
        alpha = fam.clip(float(alpha))
        self.family_code.fill_(family_index(fam.name))
        self.alpha.fill_(alpha)
        if self.alpha_param is not None:
            with torch.no_grad():
                alpha_rows(self.alpha_param, self._family).fill_(alpha)
        self._set_mirror(fam.name, alpha)

    def make_alpha_learnable(self, per_channel: bool = False) -> None:
        """Turn α (and a learned-only family's other parameters) into an ``nn.Parameter`` trained with the
        model (the ``learned`` strategy); ``per_channel``: one value per channel of the layer before the site."""
        if self.alpha_param is not None:
            return
        if per_channel and self.channels is None:
            raise ValueError("A per-channel learned α needs the site's channel count, but no linear, convolution or "
                             "batch norm layer comes before this site in the model.")
        start = initial_learned(self._family, self._alpha, self.channels if per_channel else None)
        self.alpha_param = nn.Parameter(start.to(self.alpha.device))

    def keep_alpha_in_range(self) -> None:
        """Clip a learned α into its family's range in place (a learned-only family's other parameters stay free)."""
        if self.alpha_param is None or self._family.alpha_range is None:
            return
        with torch.no_grad():
            alpha_rows(self.alpha_param, self._family).clamp_(*self._family.alpha_range)
        value = self.alpha_value
        self.alpha.fill_(value)
        self._set_mirror(self.family, value)

    def fn_params(self, x: Tensor) -> Params:
        """What the family's fn takes for input ``x``: the float α, or the learned parameter shaped for ``x``
        (per channel on axis 1; ACON-C's (β, p1, p2) as a tuple)."""
        return learned_params(self.alpha_param, self._family, x) if self.alpha_param is not None else self._alpha

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.fn_params(x)
        y = self._family.fn(x, alpha)
        if self.training and self.measure:
            # Counted per epoch (adjust restarts it), so every epoch measures its first batch.
            if self._forward_calls % self.measure_every == 0:
                meter = self.signal_meter
                if meter is None:
                    self.stats.update(x, y)
                elif meter.signal.source == "site":
                    meter.update(x, y, family=self._family.name, alpha=alpha)
                elif x.requires_grad:  # "site_gradient": ∂L/∂z arrives in the backward pass
                    x.register_hook(_gradient_hook(meter, x.detach()))
            self._forward_calls += 1
        return y

    def get_extra_state(self) -> dict[str, Any]:
        # Host-side counters ride along in the state_dict, so a copy or a reload carries them.
        return {
            "forward_calls": self._forward_calls,
            "n_switches": self.n_switches_,
            "last_switch_epoch": self.last_switch_epoch,
        }

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        self._forward_calls = int(state["forward_calls"])
        self.n_switches_ = int(state["n_switches"])
        self.last_switch_epoch = state["last_switch_epoch"]

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        learned = state_dict.get(prefix + "alpha_param")
        if learned is not None and (self.alpha_param is None or self.alpha_param.shape != learned.shape):
            self.alpha_param = nn.Parameter(torch.zeros_like(learned, device=self.alpha.device))  # per channel, or several
        if prefix + "target_stats.gram" in state_dict and self.target_stats is None:
            self.target_stats = PearsonStats().to(self.alpha.device)
        if prefix + "_extra_state" not in state_dict:
            # A state_dict saved before the counters were: keep this site's own.
            state_dict = {**state_dict, prefix + "_extra_state": self.get_extra_state()}
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        # Keep the Python mirror in step with the loaded buffers.
        code = int(self.family_code)
        self._set_mirror(family_names()[code], float(self.alpha))

    def extra_repr(self) -> str:
        learned = ", learned" if self.alpha_param is not None else ""
        return f"family={self.family}, alpha={self.alpha_value:.4g}{learned}"


def _gradient_hook(meter: SignalMeter, z: Tensor) -> Any:
    def hook(grad: Tensor) -> None:
        meter.update(z, grad)

    return hook


def sites(model: nn.Module) -> list[tuple[str, ActivationSite]]:
    """The model's activation sites with their qualified names, in module order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, ActivationSite)]


def apply(model: nn.Module, strategy: Strategy | Mapping[str, Any], *, keep_activations: bool = False,
          strict: bool = False) -> nn.Module:  # fmt: skip
    """Replace every activation module of ``model`` with a site driven by ``strategy``.

    Functional activations in a forward (``F.relu(x)``, ``torch.tanh(x)``) become sites too, through
    ``torch.fx`` (``dynsearch.functional``): the model returned is then a ``GraphModule`` with the same
    parameter names. Use the returned model.

    Works on any module tree (Sequential, ModuleList, ModuleDict, nested custom modules).
    Applying to a model that already has sites re-assigns them to the new strategy.

    Args:
        model: any ``nn.Module``; changed in place and returned.
        strategy: a ``Strategy`` or its config ``{"name": ..., "params": {...}}``. Its ``base`` family
            (set in every exported config) replaces each activation's own family.
        keep_activations: start every site from the model's own activation (nn.Tanh stays tanh),
            ignoring the strategy's ``base``.
        strict: raise when a functional activation cannot become a site (the model does not trace)
            instead of warning once and leaving it fixed.

    Raises:
        ValueError: if the model holds no activation module, or ``strict`` and one stays fixed.
    """
    strategy = strategy_from_config(strategy)
    if keep_activations and strategy.base is not None:
        config = strategy.to_config()
        strategy = strategy_from_config({**config, "params": {**config["params"], "base": None}})
    if isinstance(model, ActivationSite) or family_from_module(model) is not None:
        raise ValueError(f"dynsearch.apply needs a model that contains activations; got a bare {type(model).__name__}.")
    model = convert_functional(model, strict=strict, leaves=(ActivationSite,))
    device = next((p.device for p in model.parameters()), None)
    replaced = _replace_activations(model, strategy, device, channel_counts(model))
    if replaced == 0:
        kinds = ", ".join(f"nn.{t.__name__}" for t in ACTIVATION_MODULE_TYPES if t is not nn.Identity)
        raise ValueError(f"{type(model).__name__} has no activation module to make dynamic (looked for {kinds}).")
    # The target signal is one per network: its statistics live on the first site, as buffers.
    first = sites(model)[0][1]
    first.target_stats = PearsonStats()
    if device is not None:
        first.target_stats.to(device)
    signal = meter_signal(strategy)
    if signal is not None and signal.per_network:
        first.network_meter = SignalMeter(signal)
    return model


def meter_signal(strategy: Strategy) -> Signal | None:
    """The signal a ``SignalMeter`` measures for ``strategy``; None when it reads none, or reads io or
    target pooled, which the sites keep in ``PearsonStats`` (the sums the packed engine shares)."""
    signal = strategy.signal_object() if strategy.uses_signal else None
    if signal is None or (signal.name in ("io", "target") and signal.reduction == "pooled"):
        return None
    return signal


def _replace_activations(
    module: nn.Module, strategy: Strategy, device: torch.device | None, channels: dict[int, int | None], first: int = 0
) -> int:
    """Replace every activation below ``module`` by a site, numbering them in order from ``first``; returns how many."""
    count = 0
    for child_name, child in list(module.named_children()):
        if isinstance(child, ActivationSite):
            family, alpha = strategy.start_state(first + count, child.initial_family, child.initial_alpha)
            site = ActivationSite(family, alpha, strategy=strategy)
        else:
            found = family_from_module(child)
            if found is None:
                count += _replace_activations(child, strategy, device, channels, first + count)
                continue
            family, alpha = strategy.start_state(first + count, *found)
            site = ActivationSite(family, alpha, strategy=strategy)
        site.channels = channels.get(id(child))
        if device is not None:
            site.to(device)
        # Only a per-site signal needs a site's own statistics; the rest would pay for them every batch.
        signal = meter_signal(strategy)
        if signal is None:
            site.measure = strategy.uses_signal and strategy.signal == "io"
        else:
            site.measure = signal.source in ("site", "site_gradient")
            site.signal_meter = SignalMeter(signal) if site.measure else None
        strategy.setup_site(site)
        module._modules[child_name] = site  # keeps the key, so ModuleDict/ModuleList order is unchanged
        count += 1
    return count


def target_stats(model: nn.Module) -> PearsonStats | None:
    """The network's ``target``-signal statistics (kept on its first site), or None."""
    found = sites(model)
    return found[0][1].target_stats if found else None


def network_stats(model: nn.Module) -> PearsonStats | SignalMeter | None:
    """The statistics of the network's per-network signal: a ``SignalMeter`` for ``data`` (or ``target``
    per unit), else the ``target`` statistics; None for a model without sites."""
    found = sites(model)
    if not found:
        return None
    first = found[0][1]
    return first.network_meter if first.network_meter is not None else first.target_stats


def site_stats(site: Any) -> Any:
    """The statistics a site's strategy reads: its ``signal_meter``, else its io ``stats``."""
    meter = getattr(site, "signal_meter", None)
    return meter if meter is not None else site.stats


def _reads_source(model: nn.Module, source: str) -> bool:
    return any(
        s.strategy is not None and s.strategy.uses_signal and get_signal_class(s.strategy.signal).source == source
        for _, s in sites(model)
    )


def needs_target_signal(model: nn.Module) -> bool:
    """Whether any site's strategy reads a signal of the network's output (``target``): then
    ``observe_output`` must see every training batch."""
    return _reads_source(model, "network")


def needs_input_signal(model: nn.Module) -> bool:
    """Whether any site's strategy reads a signal of the network's input (``data``): then
    ``observe_input`` must see every training batch."""
    return _reads_source(model, "input")


@torch.no_grad()
def observe_output(model: nn.Module, output: Tensor, target: Tensor) -> None:
    """Feed one batch to the ``target`` signal: softmax probabilities vs one-hot targets for
    classification (integer targets), prediction vs target for regression."""
    stats = network_stats(model)
    if stats is None:
        raise ValueError("observe_output needs a model prepared by dynsearch.apply.")
    if isinstance(stats, SignalMeter):
        if stats.signal.source == "network":
            stats.update(output.detach(), target)
        return
    stats.update(*target_pairs(output.detach(), target))


@torch.no_grad()
def observe_input(model: nn.Module, x: Tensor, target: Tensor) -> None:
    """Feed one training batch's input and target to the ``data`` signal (a no-op for other signals)."""
    stats = network_stats(model)
    if stats is None:
        raise ValueError("observe_input needs a model prepared by dynsearch.apply.")
    if isinstance(stats, SignalMeter) and stats.signal.source == "input":
        stats.update(x.detach(), target)


def target_pairs(output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """The pairs the ``target`` signal correlates, classes on the last axis of ``output``:
    (softmax probabilities, one-hot targets) for integer targets, else (prediction, target)."""
    if target.dtype in (torch.int64, torch.int32, torch.uint8) and output.dim() >= 2 and output.shape[-1] > 1:
        probs = torch.softmax(output, dim=-1)
        return probs, F.one_hot(target.long(), output.shape[-1]).to(probs.dtype)
    return output, target.to(output.dtype)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups: learned α gets no weight decay (it would pull α toward 0)."""
    alphas = [p for name, p in model.named_parameters() if name.endswith("alpha_param")]
    alpha_ids = {id(p) for p in alphas}
    others = [p for p in model.parameters() if id(p) not in alpha_ids]
    groups: list[dict[str, Any]] = [{"params": others, "weight_decay": weight_decay}]
    if alphas:
        groups.append({"params": alphas, "weight_decay": 0.0})
    return groups
