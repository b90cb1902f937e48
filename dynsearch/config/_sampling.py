"""The ``[sampler]`` and ``[pruner]`` tables of a study file: Optuna's sampler, objectives and pruner."""

from __future__ import annotations

from typing import Any

from ._errors import Checker, show
from ._sections import HINTS, PRUNER_KEYS, SAMPLER_KEYS, elsewhere
from ._spec import MULTI_OBJECTIVE_SAMPLERS, OBJECTIVES, PRUNERS, SAMPLERS, PrunerSpec, SamplerSpec

__all__ = ["parse_sampler", "parse_pruner"]


def parse_sampler(c: Checker, value: Any) -> SamplerSpec:
    s = c.table("sampler", value)
    c.known_keys("sampler", s, SAMPLER_KEYS, elsewhere("sampler"), HINTS["sampler"])
    name = c.choice("sampler.name", s.get("name", "tpe"), SAMPLERS, "sampler")
    seed = s.get("seed", 0)
    if seed == "none" or seed is None:
        seed = None
    elif isinstance(seed, str):
        raise c.fail("sampler.seed", f'expected an integer >= 0 or "none" (unseeded), got {show(seed)}')
    else:
        seed = c.integer("sampler.seed", seed, 0)
    objectives: tuple[str, ...] = ("metric",)
    if "objectives" in s:
        objectives = c.choices("sampler.objectives", s["objectives"], OBJECTIVES, what="objective")
        if "metric" not in objectives:
            raise c.fail("sampler.objectives", f'the validation metric must be an objective, got {show(list(objectives))}; '
                                               'allowed: ["metric"] or ["metric", "time"]')  # fmt: skip
        objectives = tuple(o for o in OBJECTIVES if o in objectives)  # canonical order: metric first
    multi = len(objectives) > 1
    if multi and name not in MULTI_OBJECTIVE_SAMPLERS:
        raise c.fail("sampler.name", f"{show(name)} cannot optimize several objectives "
                     f"{show(list(objectives))}; allowed: {', '.join(MULTI_OBJECTIVE_SAMPLERS)}")  # fmt: skip
    if name == "nsga2" and not multi:
        raise c.fail("sampler.name", '"nsga2" is a multi-objective sampler but the study has one objective '
                     '["metric"]; use "tpe" (or set objectives = ["metric", "time"])')  # fmt: skip
    return SamplerSpec(name=name, seed=seed, objectives=objectives)


def parse_pruner(c: Checker, value: Any, sampler: SamplerSpec) -> PrunerSpec:
    p = c.table("pruner", value)
    c.known_keys("pruner", p, PRUNER_KEYS, elsewhere("pruner"), HINTS["pruner"])
    # A multi-objective study cannot be pruned: its pruner defaults to "none" instead of "median".
    default = "none" if sampler.multi_objective else "median"
    name = c.choice("pruner.name", p.get("name", default), PRUNERS, "pruner")
    if sampler.multi_objective and name != "none":
        raise c.fail("pruner.name", f"Optuna cannot prune multi-objective studies (objectives "
                     f'{show(list(sampler.objectives))}), got {show(name)}; allowed: "none"')  # fmt: skip
    n_startup = c.integer("pruner.n_startup_trials", p.get("n_startup_trials", 5), 0)
    n_warmup = c.integer("pruner.n_warmup_steps", p.get("n_warmup_steps", 3), 0)
    return PrunerSpec(name=name, n_startup_trials=n_startup, n_warmup_steps=n_warmup)
