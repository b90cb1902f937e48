"""Real tabular datasets that installed packages ship on disk (no download): plotly's ``tips`` and ``gapminder``.

scikit-learn's bundled sets (iris, wine, breast_cancer, digits, diabetes) live in ``_builtin``; its
``load_linnerud`` (20 rows) is too small to split, and its ``fetch_*`` loaders download. plotly is a
dependency of dynsearch (report figures), so these two are always there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["tips", "gapminder", "REAL_DATASETS"]

#: Built-in datasets measured in the real world (the ``real`` suite), in a stable order.
REAL_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes", "tips", "gapminder")

Arrays = tuple[np.ndarray, np.ndarray, list[str], list[str]]


def _encode(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    # Category columns become one-hot blocks over their sorted values (an input-only encoding: it
    # sees no target, so fitting it on all rows leaks nothing into the test split).
    import pandas as pd  # on first use: a search worker on cached splits never loads pandas

    encoded = pd.get_dummies(frame, prefix_sep="=", dtype=np.float64)
    encoded = encoded[sorted(encoded.columns)]
    return encoded.to_numpy(dtype=np.float64), [str(c) for c in encoded.columns]


def tips() -> Arrays:
    """Restaurant bills (244 rows): predict the tip from the bill, party size, day, time, sex and smoker."""
    # plotly loads on first use: a search worker that does not need it never imports it
    import plotly.data

    frame = plotly.data.tips()
    x, names = _encode(frame.drop(columns=["tip"]))
    return x, frame["tip"].to_numpy(dtype=np.float64), names, []


def gapminder() -> Arrays:
    """Country-years 1952–2007 (1704 rows): predict life expectancy from continent, year, log population
    and log GDP per capita (country names and codes are left out: they would identify the answer)."""
    # plotly loads on first use: a search worker that does not need it never imports it
    import plotly.data

    frame = plotly.data.gapminder()
    # pandas loads on first use: a search worker that does not need it never imports it
    import pandas as pd

    inputs = pd.DataFrame(
        {
            "continent": frame["continent"].astype(str),
            "year": frame["year"].astype(np.float64),
            "log10_pop": np.log10(frame["pop"].astype(np.float64)),
            "log10_gdp_per_capita": np.log10(frame["gdpPercap"].astype(np.float64)),
        }
    )
    x, names = _encode(inputs)
    return x, frame["lifeExp"].to_numpy(dtype=np.float64), names, []
