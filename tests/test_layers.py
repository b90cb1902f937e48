"""The package's layers hold: no import cycles, no import that climbs a layer, every lazy import says why.

The layers are the ```layers block of docs/architecture.md (top first), so the page and the code cannot drift
apart. Imports inside functions count like any other: one placed there to dodge a cycle is still a cycle.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from pathlib import Path

import pytest
from import_graph import cycles, layer_of, read_layers, read_package

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = read_package(ROOT / "dynsearch")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
LAYERS = read_layers(ARCHITECTURE)


def test_no_import_cycles() -> None:
    found = cycles(PACKAGE.edges)
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in PACKAGE.modules if layer_of(m, LAYERS) is None]
    assert not unplaced, f"modules in no layer of docs/architecture.md: {unplaced}"


def climbs(edges: dict[str, set[str]], layers: list[tuple[str, list[str]]]) -> list[str]:
    """Each import of a module from a layer above its own (layer 0 is the top)."""
    found = []
    for module, targets in sorted(edges.items()):
        own = layer_of(module, layers)
        for target in sorted(targets):
            theirs = layer_of(target, layers)
            if own is not None and theirs is not None and theirs < own:
                found.append(f"{module} ({layers[own][0]}) imports {target} ({layers[theirs][0]})")
    return found


def test_no_import_climbs_a_layer() -> None:
    found = climbs(PACKAGE.edges, LAYERS)
    assert not found, "imports that climb a layer:\n" + "\n".join(found)


def test_every_import_inside_a_function_says_why() -> None:
    """They are listed here: each keeps an optional or heavy dependency out of start-up, with a comment saying so."""
    silent = [f"{i.module}:{i.line} {i.statement}" for i in PACKAGE.lazy if not i.reason]
    assert not silent, "imports in function bodies without a comment saying why:\n" + "\n".join(silent)
    assert PACKAGE.lazy, "the walk found no import in a function body: it is not reading the package"


def test_the_walk_fails_on_a_planted_cycle_and_a_climb(tmp_path: Path) -> None:
    pkg = tmp_path / "planted"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "top.py").write_text("from .low import base\n")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "base.py").write_text("def f():\n    from ..low import other  # why: planted\n    return other\n")
    (pkg / "low" / "other.py").write_text("from . import base\nfrom .. import top\n")
    planted = read_package(pkg)
    assert cycles(planted.edges) == [["planted.low.base", "planted.low.other", "planted.top"]]
    assert [(i.module, i.reason) for i in planted.lazy] == [("planted.low.base", "why: planted")]
    layers = read_layers("```layers\ntop: planted.top\nlow: planted.low, planted\n```\n")
    assert layer_of("planted.low.other", layers) == 1 and layer_of("planted.top", layers) == 0
    assert climbs(planted.edges, layers) == ["planted.low.other (low) imports planted.top (top)"]


def test_the_architecture_page_names_only_what_exists() -> None:
    """Every `dynsearch.…` name in docs/architecture.md imports: a module, or an attribute of one.

    The page may name a deprecated alias module; importing it warns, which is not what this checks.
    """
    names = sorted(set(re.findall(r"`(dynsearch(?:\.\w+)+)(?:\(\))?`", ARCHITECTURE)))
    assert len(names) >= 20, names
    missing = []
    for name in names:
        module, _, attr = name.rpartition(".")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                importlib.import_module(name)
            continue
        except ImportError:
            pass
        try:
            if not hasattr(importlib.import_module(module), attr):
                missing.append(name)
        except ImportError:
            missing.append(name)
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


@pytest.mark.parametrize("path", sorted((ROOT / "dynsearch").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path: Path) -> None:
    source = path.read_text()
    assert len(source.splitlines()) <= 400, f"{path.name} has {len(source.splitlines())} lines; split it by concern"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]  # fmt: skip
    assert not long, f"{path.name}: functions over 60 lines: {long}"
