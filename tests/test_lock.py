"""Installs match what was tested: the project's venv holds exactly requirements.lock, and README says the same."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, str]:
    """requirements.lock as {canonical name: version}."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not 'name==version'"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _base(version: str) -> str:
    return version.split("+", 1)[0]  # torch's CPU wheel is 2.13.0+cpu, locked as 2.13.0


def test_the_lock_covers_every_runtime_test_and_lint_dependency() -> None:
    pins = locked()
    pyproject = (ROOT / "pyproject.toml").read_text()
    declared = re.findall(r'^\s*"([^"]+)",?\s*$', pyproject.split("[project.scripts]")[0], flags=re.M)
    declared += re.findall(r'"([A-Za-z][^"]*[<>=][^"]*)"', pyproject.split("[project.optional-dependencies]")[1].split("[project.scripts]")[0])
    names = {canonicalize_name(Requirement(d).name) for d in declared if re.match(r"^[A-Za-z]", d) and not d.startswith("dynsearch")}
    assert {"torch", "optuna", "pytest", "ruff", "mypy", "pyarrow"} <= names
    assert names <= set(pins), f"not in requirements.lock: {sorted(names - set(pins))}; run `make lock`"
    for d in declared:
        req = Requirement(d)
        if canonicalize_name(req.name) in pins:
            assert req.specifier.contains(pins[canonicalize_name(req.name)], prereleases=True), (d, pins[canonicalize_name(req.name)])


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(), reason="checks the project's own .venv only")
def test_the_venv_holds_exactly_the_locked_versions() -> None:
    pins = locked()
    # Only what pip installed into the venv: setuptools puts its vendored copies on sys.path once imported.
    site = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions(path=site)}
    wrong = {name: (installed[name], pins[name]) for name in pins if name in installed and _base(installed[name]) != pins[name]}
    assert not wrong, f"installed != requirements.lock (installed, locked): {wrong}"
    requires = importlib.metadata.requires("dynsearch") or []
    needed = {canonicalize_name(Requirement(r).name) for r in requires if "extra" not in r or 'extra == "test"' in r}
    assert needed <= set(installed), f"missing from .venv: {sorted(needed - set(installed))}"


def test_readme_tested_versions_are_the_locked_ones() -> None:
    readme = (ROOT / "README.md").read_text()
    paragraph = readme.split("**Tested versions.**", 1)[1].split("\n\n", 1)[0]
    named = dict(re.findall(r"\b([a-z][a-z0-9-]+) (\d+\.\d+(?:\.\d+)?(?:\.post\d+)?)\b", paragraph))
    named.pop("python", None)
    pins = locked()
    assert len(named) >= 10, named
    mismatched = {name: (version, pins.get(canonicalize_name(name))) for name, version in named.items() if pins.get(canonicalize_name(name)) != version}
    assert not mismatched, f"README's Tested versions (README, lock): {mismatched}"
