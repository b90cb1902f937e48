"""The synthetic suite: many small datasets of varied size, noise, classes, features and difficulty.

Member ``synthetic_NN`` of suite seed ``s`` is drawn from its own random stream ``(s, NN)``, so a
member is the same dataset whatever the suite's size (``n = 10`` is the first ten of ``n = 30``), and
each member loads on its own: ``load_dataset("synthetic-07")`` or ``load_dataset("synthetic_07",
suite_seed=3)``. ``synthetic_recipe`` says how a member is made (generator and its settings).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import numpy as np

from .._constraints import SEED
from ._core import DatasetError, RawDataset

__all__ = ["SUITE_PREFIX", "is_suite_member", "member_name", "synthetic_recipe", "load_member"]

SUITE_PREFIX = "synthetic_"
_MEMBER_RE = re.compile(r"synthetic_(\d{2,})")
_OPTIONS = ("suite_seed",)
_STREAM_TAG = 0x5EED  # separates the recipe stream from any other use of (seed, index)

# One "deck" of generators, dealt in a seeded order to every 13 consecutive members, so that any
# 13 in a row cover every generator; classification makes up 9 of 13, as in the studies.
_DECK = ("classification",) * 4 + ("gaussian_quantiles",) * 2 + ("moons", "circles", "spirals") + (
    "regression", "friedman1", "friedman2", "friedman3")  # fmt: skip
_REGRESSORS = ("regression", "friedman1", "friedman2", "friedman3")
_N_SAMPLES = (200, 3000)  # log-uniform, rounded to tens


def member_name(index: int) -> str:
    """``synthetic_07`` for index 7 (two digits at least)."""
    return f"{SUITE_PREFIX}{index:02d}"


def is_suite_member(name: str) -> bool:
    """Whether a canonical dataset name is a synthetic suite member (``synthetic_00``, ``synthetic_01``, …)."""
    match = _MEMBER_RE.fullmatch(name)
    return match is not None and member_name(int(match.group(1))) == name


def _generator(index: int, suite_seed: int) -> str:
    deck, position = divmod(index, len(_DECK))
    order = np.random.default_rng((suite_seed, deck, _STREAM_TAG, 2)).permutation(len(_DECK))
    return _DECK[int(order[position])]


def _log_int(rng: np.random.Generator, low: int, high: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


def synthetic_recipe(index: int, suite_seed: int = 0) -> dict[str, Any]:
    """How member ``index`` of the suite with ``suite_seed`` is generated (JSON-safe).

    Keys: ``task``, ``generator`` (a scikit-learn ``make_*`` generator or moons / circles / spirals
    with extra noise features), ``n_samples``, ``n_features``, ``n_classes`` (classification) and the
    generator's difficulty settings (``class_sep``, ``label_noise``, ``noise``, ``n_informative``).

    Example:
        >>> from dynsearch.data import synthetic_recipe
        >>> synthetic_recipe(7) == synthetic_recipe(7)
        True
        >>> synthetic_recipe(7)["task"] in ("classification", "regression")
        True
    """
    rng = np.random.default_rng((int(suite_seed), int(index), _STREAM_TAG))
    generator = _generator(int(index), int(suite_seed))
    n_samples = int(round(_log_int(rng, *_N_SAMPLES), -1))
    if generator in _REGRESSORS:
        return {"task": "regression", "n_samples": n_samples, **_regressor_recipe(rng, generator)}
    return {"task": "classification", "n_samples": n_samples, **_classifier_recipe(rng, generator)}


def _classifier_recipe(rng: np.random.Generator, generator: str) -> dict[str, Any]:
    label_noise = round(float(rng.uniform(0.0, 0.1)), 3)  # share of labels replaced at random
    if generator == "classification":
        n_features = _log_int(rng, 2, 40)
        n_informative = int(rng.integers(2, min(n_features, 10) + 1))
        n_classes = int(rng.integers(2, 7))
        clusters = int(rng.integers(1, 3))
        while n_classes * clusters > 2**n_informative:  # scikit-learn's constraint
            n_classes -= 1
        return {"generator": generator, "n_features": n_features, "n_informative": n_informative,
                "n_classes": n_classes, "clusters_per_class": clusters,
                "class_sep": round(float(rng.uniform(0.5, 2.0)), 3), "label_noise": label_noise}  # fmt: skip
    if generator == "gaussian_quantiles":
        return {"generator": generator, "n_features": _log_int(rng, 2, 20), "n_classes": int(rng.integers(2, 6)),
                "label_noise": label_noise}  # fmt: skip
    # 2-D shapes, embedded among pure-noise features (the network must find the two that matter).
    n_classes = int(rng.integers(2, 5)) if generator == "spirals" else 2
    return {"generator": generator, "n_features": 2 + int(rng.integers(0, 9)), "n_classes": n_classes,
            "noise": round(float(rng.uniform(0.02, 0.3)), 3), "label_noise": label_noise}  # fmt: skip


def _regressor_recipe(rng: np.random.Generator, generator: str) -> dict[str, Any]:
    noise = round(float(rng.uniform(0.0, 0.5)), 3)  # noise std as a share of the clean target's std
    if generator == "regression":
        n_features = _log_int(rng, 2, 40)
        return {"generator": generator, "n_features": n_features,
                "n_informative": int(rng.integers(1, min(n_features, 10) + 1)), "noise": noise}  # fmt: skip
    if generator == "friedman1":
        return {"generator": generator, "n_features": int(rng.integers(5, 21)), "noise": noise}
    return {"generator": generator, "n_features": 4, "noise": noise}


def _flip_labels(rng: np.random.Generator, y: np.ndarray, share: float, n_classes: int) -> np.ndarray:
    flip = rng.random(len(y)) < share
    y = y.copy()
    y[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
    return y


def _with_noise_features(rng: np.random.Generator, x: np.ndarray, n_features: int) -> np.ndarray:
    extra = rng.standard_normal((len(x), n_features - x.shape[1])) * x.std()
    return np.concatenate([x, extra], axis=1)


def _spiral_arms(rng: np.random.Generator, n: int, n_classes: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n, dtype=np.int64) % n_classes
    radius = rng.uniform(0.0, 1.0, size=n)
    angle = 2 * math.pi * (y / n_classes + 1.5 * radius)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x + noise * rng.standard_normal(x.shape), y


def _make_classification(recipe: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets as skd  # on first use: a search worker on cached splits never loads it

    n, gen, state = recipe["n_samples"], recipe["generator"], int(rng.integers(2**31))
    if gen == "classification":
        x, y = skd.make_classification(
            n_samples=n, n_features=recipe["n_features"], n_informative=recipe["n_informative"],
            n_redundant=min(2, recipe["n_features"] - recipe["n_informative"]), n_classes=recipe["n_classes"],
            n_clusters_per_class=recipe["clusters_per_class"], class_sep=recipe["class_sep"], flip_y=0.0,
            random_state=state,
        )  # fmt: skip
    elif gen == "gaussian_quantiles":
        x, y = skd.make_gaussian_quantiles(
            n_samples=n, n_features=recipe["n_features"], n_classes=recipe["n_classes"], random_state=state
        )
    else:
        if gen == "moons":
            x, y = skd.make_moons(n_samples=n, noise=recipe["noise"], random_state=state)
        elif gen == "circles":
            x, y = skd.make_circles(n_samples=n, noise=recipe["noise"], factor=0.5, random_state=state)
        else:
            x, y = _spiral_arms(rng, n, recipe["n_classes"], recipe["noise"])
        x = _with_noise_features(rng, x, recipe["n_features"])
    y = _flip_labels(rng, y.astype(np.int64), recipe["label_noise"], recipe["n_classes"])
    return x, y


def _make_regression(recipe: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn loads on first use: a search worker that does not need it never imports it
    from sklearn import datasets as skd

    n, gen, state = recipe["n_samples"], recipe["generator"], int(rng.integers(2**31))
    if gen == "regression":
        x, y = skd.make_regression(
            n_samples=n, n_features=recipe["n_features"], n_informative=recipe["n_informative"], random_state=state
        )
    elif gen == "friedman1":
        x, y = skd.make_friedman1(n_samples=n, n_features=recipe["n_features"], random_state=state)
    else:
        maker = skd.make_friedman2 if gen == "friedman2" else skd.make_friedman3
        x, y = maker(n_samples=n, random_state=state)
    y = y + recipe["noise"] * y.std() * rng.standard_normal(n)
    return x, y.astype(np.float64)


@lru_cache(maxsize=128)
def _generate(index: int, suite_seed: int) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """A member's arrays, generated once per process (the search reloads datasets every trial)."""
    recipe = synthetic_recipe(index, suite_seed)
    rng = np.random.default_rng((suite_seed, index, _STREAM_TAG, 1))  # the data stream, apart from the recipe's
    make = _make_classification if recipe["task"] == "classification" else _make_regression
    x, y = make(recipe, rng)
    x = np.asarray(x, dtype=np.float64)
    x.setflags(write=False)
    y.setflags(write=False)
    return recipe, x, y


def _check_options(name: str, options: dict[str, Any]) -> int:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise DatasetError(f"Unknown option {unknown[0]!r} for dataset {name!r}; allowed: {', '.join(_OPTIONS)}.")
    seed = options.get("suite_seed", 0)
    if not SEED.accepts(seed):
        raise DatasetError(f"Option suite_seed={seed!r} for dataset {name!r} is not allowed; it must be {SEED}.")
    return int(seed)


def load_member(name: str, options: dict[str, Any]) -> RawDataset:
    """The unsplit data of suite member ``name`` (canonical, e.g. ``synthetic_07``)."""
    suite_seed = _check_options(name, options)
    recipe, x, y = _generate(int(name[len(SUITE_PREFIX) :]), suite_seed)
    features = [f"x{i}" for i in range(x.shape[1])]
    classes = [str(c) for c in range(recipe["n_classes"])] if recipe["task"] == "classification" else []
    return RawDataset(name=name, task=recipe["task"], y=y, features=lambda train_rows: (x, features),
                      class_names=classes)  # fmt: skip
