"""The end-of-epoch adjustment: each site's strategy reads its signal and sets the site's family and α.

``adjust(model, epoch)`` is what a user's own training loop calls once per epoch; ``adjust_sites`` is the
same rule on anything shaped like a network's sites, so ``train()`` and the packed engine's per-member
views decide alike.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from torch import nn

from .signals import PearsonResult, PearsonStats, SignalMeter, get_signal_class
from .sites import network_stats, site_stats, sites
from .strategies import SiteState, Strategy

__all__ = ["adjust", "adjust_sites"]

_WARNED_ATTR = "_dynsearch_warned_unobserved_target"


def adjust(model: nn.Module, epoch: int) -> list[dict[str, Any]]:
    """End of an epoch: read r, let each site's strategy decide, and return one record per site.

    Call it once per epoch in your own loop (the trainer does). Statistics accumulate until an
    adjustment actually runs (after warmup, every k epochs), then start afresh.

    Returns:
        ``[{"site", "r", "n", "degenerate", "family", "alpha", "switched"}, ...]`` in site order;
        ``r`` is the value the decision used (the pooled one for global scope).
    """
    all_sites = sites(model)
    target = network_stats(model)
    _warn_unobserved_target(model, all_sites, target, epoch)
    records = adjust_sites(all_sites, target, epoch)
    for _, site in all_sites:
        site._forward_calls = 0
    return records


def adjust_sites(all_sites: Sequence[tuple[str, Any]], target: Any, epoch: int) -> list[dict[str, Any]]:
    """The end-of-epoch adjustment of one network, on anything shaped like its sites.

    Each site offers ``strategy``, ``stats`` (``compute``/``moments``/``reset``) or a
    ``signal_meter`` (``compute``/``reset``, read instead when set), ``family``,
    ``alpha_value``, ``learned``, ``initial_family``, ``initial_alpha``, ``last_switch_epoch``,
    ``n_switches_``, ``set_state`` and ``keep_alpha_in_range``; ``target`` (the per-network signal's
    statistics) offers ``compute``/``reset``. ``ActivationSite``
    is one such site; the packed trainer's per-member views are another, so both follow this
    one rule.
    """
    groups: dict[int, list[tuple[str, Any]]] = {}
    for name, site in all_sites:
        groups.setdefault(id(site.strategy), []).append((name, site))
    results: dict[str, PearsonResult] = {}
    fed_from: dict[str, str] = {}  # a site whose decision reads another site's value (the shuffled control)
    for group in groups.values():
        strategy = group[0][1].strategy
        results.update(_group_signal(target, strategy, group))
        if strategy is not None:
            fed_from.update(_feed(strategy, group, results, epoch))
        if strategy is None or not strategy.should_adjust(epoch):
            continue
        for name, site in group:
            if strategy.uses_signal and results[name].n == 0:
                continue  # nothing measured since the last adjustment: no evidence to act on
            _decide(strategy, results[name].r, site, epoch)
            site_stats(site).reset()
        if strategy.uses_signal and get_signal_class(strategy.signal).per_network and target is not None:
            target.reset()
    return [
        {
            "site": name,
            "r": results[name].r,
            "n": results[name].n,
            "degenerate": results[name].degenerate,
            "family": site.family,
            "alpha": site.alpha_value,
            "switched": site.last_switch_epoch == epoch,
            **({"source": fed_from[name]} if name in fed_from else {}),
        }
        for name, site in all_sites
    ]


def _feed(strategy: Strategy, group: list[tuple[str, Any]], results: dict[str, PearsonResult], epoch: int) -> dict[str, str]:
    """Give each site of ``group`` the value its strategy says it reads (``Strategy.value_sources``)."""
    sources = strategy.value_sources(len(group), epoch)
    if sources is None:
        return {}
    names = [name for name, _ in group]
    measured = [results[name] for name in names]
    for name, source in zip(names, sources):
        results[name] = measured[source]
    return {name: names[source] for name, source in zip(names, sources)}


def _warn_unobserved_target(
    model: nn.Module, all_sites: Sequence[tuple[str, Any]], target: PearsonStats | SignalMeter | None, epoch: int
) -> None:
    # A per-network signal acts only on what observe_output/observe_input fed it: say so once, not silently do nothing.
    if getattr(model, _WARNED_ATTR, False) or (target is not None and target.compute().n > 0):
        return
    for _, site in all_sites:
        strategy = site.strategy
        if strategy is None or not strategy.uses_signal or not strategy.should_adjust(epoch):
            continue
        signal = get_signal_class(strategy.signal)
        if signal.per_network:
            call = "observe_input(model, x, target)" if signal.source == "input" else "observe_output(model, output, target)"
            object.__setattr__(model, _WARNED_ATTR, True)
            warnings.warn(
                f"dynsearch.adjust: the strategy reads the {strategy.signal!r} signal but dynsearch.{call} was not "
                "called since the last adjustment, so no site changes; call it after "
                "each training step",
                UserWarning,
                stacklevel=3,
            )
            return


def _decide(strategy: Strategy, r: float, site: Any, epoch: int) -> None:
    alpha = site.alpha_value
    state = SiteState(
        family=site.family,
        alpha=alpha,
        initial_family=site.initial_family,
        initial_alpha=site.initial_alpha,
        epoch=epoch,
        last_switch_epoch=site.last_switch_epoch,
    )
    new = strategy.decide(r, state)
    if new.family != site.family:
        site.last_switch_epoch = epoch
        site.n_switches_ += 1
    if new.family != site.family or new.alpha != alpha:
        site.set_state(new.family, new.alpha)
    elif site.learned:
        # A learned α may wander out of its family's range: keep it inside.
        site.keep_alpha_in_range()


def _group_signal(target: Any, strategy: Strategy | None, group: list[tuple[str, Any]]) -> dict[str, PearsonResult]:
    if strategy is not None and get_signal_class(strategy.signal).per_network:
        pooled = target.compute() if target is not None else PearsonResult(0.0, 0, True)
        return {name: pooled for name, _ in group}
    if strategy is not None and strategy.effective_scope == "global":
        stats = [site_stats(site) for _, site in group]
        pool = type(stats[0]).pooled if hasattr(type(stats[0]), "pooled") else PearsonStats.pooled
        pooled = pool(stats)
        return {name: pooled for name, _ in group}
    return {name: site_stats(site).compute() for name, site in group}
