"""Built-in datasets: scikit-learn's bundled ones and synthetic generators, with validated options."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from numbers import Real
from typing import Any, Callable

import numpy as np

from .._constraints import SEED, Integer
from . import _packaged
from ._core import DatasetError, RawDataset
from ._real_tables import is_real_table, load_real_table
from ._synthetic_suite import is_suite_member, load_member

__all__ = ["builtin_names", "dataset_origin", "is_builtin", "load_builtin"]

Arrays = tuple[np.ndarray, np.ndarray, list[str], list[str]]  # x, y, feature names, class names


def _skd() -> Any:
    """scikit-learn's datasets module, imported on first use (a worker reading cached splits never needs it)."""
    # scikit-learn loads on first use: a search worker that does not need it never imports it
    from sklearn import datasets

    return datasets


@dataclass(frozen=True)
class _Builtin:
    task: str
    defaults: dict[str, Any]  # the allowed options and their defaults
    make: Callable[..., Arrays]
    input_shape: tuple[int, ...] | None = None


def _read_only(*arrays: np.ndarray) -> None:
    # Cached arrays are shared by every load in the process; make accidental mutation loud.
    for array in arrays:
        array.setflags(write=False)


@cache
def _bundled(name: str) -> Arrays:
    """Data shipped with scikit-learn or plotly, read from disk once per process."""
    if name in ("tips", "gapminder"):
        x, y, features, classes = getattr(_packaged, name)()
        _read_only(x, y)
        return x, y, features, classes
    loader = {
        "iris": _skd().load_iris,
        "wine": _skd().load_wine,
        "breast_cancer": _skd().load_breast_cancer,
        "digits": _skd().load_digits,
        "diabetes": _skd().load_diabetes,
    }[name]
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    y = y.astype(np.int64) if name != "diabetes" else y.astype(np.float64)
    classes = [str(c) for c in getattr(bunch, "target_names", [])] if name != "diabetes" else []
    _read_only(x, y)
    return x, y, [str(f) for f in bunch.feature_names], classes


def _xy_names(n_features: int) -> list[str]:
    return ["x", "y"] if n_features == 2 else [f"x{i}" for i in range(n_features)]


def _moons(n_samples: int, noise: float, seed: int) -> Arrays:
    x, y = _skd().make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return x, y.astype(np.int64), _xy_names(2), ["0", "1"]


def _circles(n_samples: int, noise: float, seed: int) -> Arrays:
    x, y = _skd().make_circles(n_samples=n_samples, noise=noise, factor=0.5, random_state=seed)
    return x, y.astype(np.int64), _xy_names(2), ["0", "1"]


_SPIRAL_TURNS = 1.5  # turns per arm: enough that no straight cut separates the arms


def _spirals(n_samples: int, noise: float, seed: int, n_classes: int) -> Arrays:
    """``n_classes`` interleaved Archimedean arms, radius 0 → 1, with Gaussian noise in x and y."""
    if n_samples < n_classes:
        raise DatasetError(
            f"Option n_samples={n_samples} for dataset 'spirals' is below n_classes={n_classes}; "
            "every arm needs a point."
        )
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples, dtype=np.int64) % n_classes
    radius = rng.uniform(0.0, 1.0, size=n_samples)
    angle = 2 * math.pi * (y / n_classes + _SPIRAL_TURNS * radius)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x = x + noise * rng.standard_normal(x.shape)
    return x, y, _xy_names(2), [str(c) for c in range(n_classes)]


def _classification(
    n_samples: int, noise: float, seed: int, n_features: int, n_classes: int, n_informative: int | None
) -> Arrays:
    informative = min(n_features, 10) if n_informative is None else n_informative
    clusters = 2  # per class, as scikit-learn's default: classes are not single blobs
    if informative > n_features:
        raise DatasetError(
            f"Option n_informative={informative} for dataset 'classification' exceeds n_features={n_features}."
        )
    if n_classes * clusters > 2**informative:
        raise DatasetError(
            f"Options n_classes={n_classes} and n_informative={informative} for dataset 'classification' are "
            f"incompatible; n_classes * 2 must be at most 2 ** n_informative."
        )
    x, y = _skd().make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=informative,
        n_redundant=min(2, n_features - informative),
        n_classes=n_classes,
        n_clusters_per_class=clusters,
        flip_y=noise,  # noise here is the fraction of labels assigned at random
        random_state=seed,
    )
    return x, y.astype(np.int64), _xy_names(n_features), [str(c) for c in range(n_classes)]


def _friedman1(n_samples: int, noise: float, seed: int, n_features: int) -> Arrays:
    x, y = _skd().make_friedman1(n_samples=n_samples, n_features=n_features, noise=noise, random_state=seed)
    return x, y.astype(np.float64), _xy_names(n_features), []


def _bundled_maker(name: str) -> Callable[..., Arrays]:
    return lambda: _bundled(name)


_SYNTHETIC = {"n_samples": 1000, "seed": 0}

_REGISTRY: dict[str, _Builtin] = {
    "iris": _Builtin("classification", {}, _bundled_maker("iris")),
    "wine": _Builtin("classification", {}, _bundled_maker("wine")),
    "breast_cancer": _Builtin("classification", {}, _bundled_maker("breast_cancer")),
    "digits": _Builtin("classification", {}, _bundled_maker("digits"), input_shape=(1, 8, 8)),
    "diabetes": _Builtin("regression", {}, _bundled_maker("diabetes")),
    "tips": _Builtin("regression", {}, _bundled_maker("tips")),
    "gapminder": _Builtin("regression", {}, _bundled_maker("gapminder")),
    "moons": _Builtin("classification", {**_SYNTHETIC, "noise": 0.2}, _moons),
    "circles": _Builtin("classification", {**_SYNTHETIC, "noise": 0.1}, _circles),
    "spirals": _Builtin("classification", {**_SYNTHETIC, "noise": 0.05, "n_classes": 3}, _spirals),
    "classification": _Builtin(
        "classification",
        {**_SYNTHETIC, "noise": 0.01, "n_features": 20, "n_classes": 2, "n_informative": None},
        _classification,
    ),
    "friedman1": _Builtin("regression", {**_SYNTHETIC, "noise": 1.0, "n_features": 10}, _friedman1),
}

# Lower bound of each integer option; noise is a float >= 0.
_INT_MINIMUM = {"n_samples": 1, "seed": 0, "n_classes": 2, "n_informative": 1, "n_features": 1}
_MINIMUM_OVERRIDES = {("friedman1", "n_features"): 5}  # its formula reads the first five features


def builtin_names() -> list[str]:
    """Names of the built-in datasets, in a stable order."""
    return list(_REGISTRY)


def _canonical(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def is_builtin(name: str) -> bool:
    """Whether ``name`` (case and ``-``/``_`` insensitive) is a built-in dataset or a suite member."""
    canonical = _canonical(name)
    return canonical in _REGISTRY or is_suite_member(canonical) or is_real_table(canonical)


def dataset_origin(name: str) -> str:
    """Where a dataset's rows come from: ``"synthetic"`` for a generator or a synthetic suite member,
    ``"real"`` for everything else (bundled sets, R tables, the user's files and plugins).

    Example:
        >>> dataset_origin("moons"), dataset_origin("synthetic_03"), dataset_origin("iris")
        ('synthetic', 'synthetic', 'real')
    """
    canonical = _canonical(name)
    entry = _REGISTRY.get(canonical)
    generated = entry is not None and "n_samples" in entry.defaults  # only the generators take a sample count
    return "synthetic" if generated or is_suite_member(canonical) else "real"


def _check_option(dataset: str, key: str, value: Any) -> Any:
    if key == "noise":
        if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= float(value) < math.inf:
            raise DatasetError(
                f"Option noise={value!r} for dataset {dataset!r} is not allowed; it must be a finite number >= 0."
            )
        return float(value)
    if value is None and key == "n_informative":
        return None
    allowed = SEED if key == "seed" else Integer(_MINIMUM_OVERRIDES.get((dataset, key), _INT_MINIMUM[key]))
    if not allowed.accepts(value):
        raise DatasetError(f"Option {key}={value!r} for dataset {dataset!r} is not allowed; it must be {allowed}.")
    return int(value)


def _options(dataset: str, spec: _Builtin, options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        allowed = ", ".join(spec.defaults) or "none"
        raise DatasetError(f"Unknown option {unknown[0]!r} for dataset {dataset!r}; allowed: {allowed}.")
    merged = {**spec.defaults, **options}
    return {key: _check_option(dataset, key, value) for key, value in merged.items()}


@lru_cache(maxsize=64)
def _generate(dataset: str, frozen_options: tuple[tuple[str, Any], ...]) -> Arrays:
    """Synthetic data, generated once per process for each option set (the search reloads per trial)."""
    x, y, features, classes = _REGISTRY[dataset].make(**dict(frozen_options))
    x = np.asarray(x, dtype=np.float64)
    _read_only(x, y)
    return x, y, features, classes


def load_builtin(name: str, options: dict[str, Any]) -> RawDataset:
    """The unsplit data of a built-in dataset; unknown names and bad options raise DatasetError."""
    dataset = _canonical(name)
    if is_suite_member(dataset):
        return load_member(dataset, options)
    if is_real_table(dataset):
        return load_real_table(dataset, options)
    spec = _REGISTRY.get(dataset)
    if spec is None:
        match = difflib.get_close_matches(dataset, list(_REGISTRY), n=1, cutoff=0.6)
        hint = f" (did you mean {match[0]!r}?)" if match else ""
        raise DatasetError(
            f"Unknown dataset {name!r}{hint}; built-in names: {', '.join(_REGISTRY)}, synthetic suite members "
            "synthetic_00, synthetic_01, …, real-tables members rdata_mass_boston, …; or a file as 'csv:PATH' or 'parquet:PATH'."
        )
    checked = _options(dataset, spec, options)
    x, y, features, classes = _generate(dataset, tuple(sorted(checked.items())))
    if spec.task == "classification" and len(np.unique(y)) < 2:
        raise DatasetError(f"Dataset {name!r} with options {checked} has a single class; use more samples.")
    return RawDataset(
        name=dataset,
        task=spec.task,
        y=y,
        features=lambda train_rows: (x, features),
        class_names=classes,
        input_shape=spec.input_shape,
    )
