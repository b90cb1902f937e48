"""The keys each section of a study file allows, and hints for keys written in the wrong place."""

from __future__ import annotations

from ._spec import MODEL_KEYS as MODEL_FIELD_KEYS
from ._spec import TRAINING_KEYS

__all__ = ["TOP_KEYS", "MODEL_KEYS", "SEARCH_KEYS", "SAMPLER_KEYS", "PRUNER_KEYS", "SECTIONS", "HINTS", "elsewhere"]

TOP_KEYS = (
    "name", "description", "plugins", "datasets", "n_trials", "timeout", "seeds", "split_seed", "storage",
    "workers", "replicates", "split_seeds", "pack", "equivalence_margin", "model", "training", "search", "sampler", "pruner",
    "objective",
)  # fmt: skip
MODEL_KEYS = (*MODEL_FIELD_KEYS.values(), "factory", "params")  # "kind", "hidden", …: defined once, in _spec
SEARCH_KEYS = ("strategies", "bases", "scopes", "signals", "reductions", "every", "warmup", "lr", "width", "model")  # and each strategy's
SAMPLER_KEYS = ("name", "seed", "objectives")
PRUNER_KEYS = ("name", "n_startup_trials", "n_warmup_steps")

SECTIONS = {"": TOP_KEYS, "model": MODEL_KEYS, "training": TRAINING_KEYS, "search": SEARCH_KEYS,
            "sampler": SAMPLER_KEYS, "pruner": PRUNER_KEYS}  # fmt: skip

# Known mistakes that difflib cannot guess.
HINTS: dict[str, dict[str, str]] = {
    "": {
        "dataset": 'did you mean "datasets"? (an array, e.g. datasets = ["iris", "moons"])',
        "seed": 'set "seeds" for how many training seeds, "split_seed" for the data split, '
        '"sampler.seed" for the sampler',
        "trials": 'did you mean "n_trials"?',
    },
    "model": {"model": 'did you mean "kind"?', "type": 'did you mean "kind"?', "width": 'did you mean "hidden"? '
              '(to search a width, use "search.width")'},  # fmt: skip
    "training": {"seed": 'training seeds are 0 .. seeds-1; set the top-level "seeds" for how many'},
    "search": {"lam": 'did you mean "lambda"?', "strategy": 'did you mean "strategies"?',
               "base": 'did you mean "bases"?', "scope": 'did you mean "scopes"?', "signal": 'did you mean "signals"?', "reduction": 'did you mean "reductions"?'},
    "sampler": {"sampler": 'did you mean "name"?', "objective": 'did you mean "objectives"?'},
    "pruner": {"pruner": 'did you mean "name"?'},
}  # fmt: skip


def elsewhere(section: str) -> dict[str, str]:
    """Keys of the other sections -> the section they belong to (first match wins)."""
    out: dict[str, str] = {}
    for other, keys in SECTIONS.items():
        if other != section:
            for key in keys:
                out.setdefault(key, other)
    return out
