"""README's "Your own strategy" runs as written: its class registers and passes the conformance suite,
and its study file (plugins aside) validates into the arms the README names."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from dynsearch.config import parse_study
from dynsearch.strategies.registry import _REGISTRY
from dynsearch.testing import check_strategy

README = Path(__file__).resolve().parents[1] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Your own strategy"):text.index("## Train once")]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), flags=re.S)


@pytest.fixture()
def registered():
    namespace: dict = {}
    exec(compile(_blocks("python")[0], "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    yield namespace
    _REGISTRY.pop("damped_linear", None)


def test_readme_strategy_passes_the_conformance_suite(registered) -> None:
    check_strategy("damped_linear")


def test_readme_study_file_gives_the_arms_it_names(registered) -> None:
    data = tomllib.loads(_blocks("toml")[0])
    assert data.pop("plugins") == ["my_package.my_strategies"]  # the class is already registered above
    spec = parse_study(data, "studies/mine.toml")
    assert {"damped_linear-layer", "damped_linear-global"} <= set(spec.arms)
    assert spec.search.strategy("damped_linear").as_dict()["mode"] == ("towards", "away")
    assert "damped_linear-layer, damped_linear-global" in _section()
