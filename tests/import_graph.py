"""The import graph of a package, read from its source with ``ast`` (nothing is imported).

Used by ``test_layers.py``: every ``import`` and ``from … import`` counts, at module level and inside functions
alike, so a cycle cannot hide behind an import placed in a function body. Imports under ``if TYPE_CHECKING:``
do not count: they never run, and a lower layer names a higher one's type there only for annotations.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LazyImport", "PackageImports", "read_package", "cycles", "layer_of", "read_layers"]


@dataclass(frozen=True)
class LazyImport:
    """An import inside a function body, with the comment that says why (on its line or the line above)."""

    module: str
    line: int
    statement: str
    reason: str


@dataclass
class PackageImports:
    modules: dict[str, Path]
    edges: dict[str, set[str]]
    lazy: list[LazyImport]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.Import | ast.ImportFrom, package: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules one import statement loads (a submodule named in ``from . import x`` is that module)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = set()
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in modules:
            found.add(sub)
        elif target in modules:
            found.add(target)
    return found


_PRAGMA = re.compile(r"^(fmt: \w+|noqa\b.*|type: ignore\b.*)$")


def _comment(line: str) -> str:
    """A line's comment, unless it is only a tool's pragma (``fmt: skip``, ``noqa``, ``type: ignore``)."""
    text = line.split("#", 1)[1].strip() if "#" in line else ""
    return "" if _PRAGMA.match(text) else text


def _reason(lines: list[str], lineno: int) -> str:
    """The comment on an import's own line, else the one just above it or above the run of imports it is in."""
    if own := _comment(lines[lineno - 1]):
        return own
    i = lineno - 2
    # Up through the imports of the run (a blank line may split it into groups, as isort does).
    while i >= 0 and (lines[i].strip().startswith(("import ", "from ", ")")) or not lines[i].strip()) and not _comment(lines[i]):
        i -= 1
    return _comment(lines[i]) if i >= 0 and lines[i].strip().startswith(("#", "import ", "from ")) else ""


def _imports_under(tree: ast.AST, kinds: tuple[type, ...]) -> set[int]:
    return {id(n) for f in ast.walk(tree) if isinstance(f, kinds) for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def read_package(root: Path) -> PackageImports:
    """Every module under ``root`` (a package directory) with the package modules it imports."""
    modules = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    lazy: list[LazyImport] = []
    for name, path in modules.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        in_function = _imports_under(tree, (ast.FunctionDef, ast.AsyncFunctionDef))
        type_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block) for n in ast.walk(block)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in type_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            edges[name] |= _targets(node, package, modules) - {name}
            if id(node) in in_function:
                lazy.append(LazyImport(name, node.lineno, lines[node.lineno - 1].strip(), _reason(lines, node.lineno)))
    return PackageImports(modules, edges, lazy)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def read_layers(markdown: str) -> list[tuple[str, list[str]]]:
    """The layers of the ```layers block of an architecture page, top first: ``name: module, module, …`` lines."""
    block = re.search(r"```layers\n(.*?)```", markdown, flags=re.S)
    if block is None:
        raise ValueError("no ```layers block found")
    layers = []
    for line in block.group(1).splitlines():
        if line.strip():
            name, _, modules = line.partition(":")
            layers.append((name.strip(), [m.strip() for m in modules.split(",") if m.strip()]))
    return layers


def layer_of(module: str, layers: list[tuple[str, list[str]]]) -> int | None:
    """The index of the layer (0 = top) whose longest listed name matches ``module``; None when none does.

    A listed name covers the module and everything under it; ``=name`` covers that module alone (a package's
    ``__init__`` that sits in another layer than its submodules).
    """
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(layers):
        for listed in prefixes:
            exact = listed.startswith("=")
            prefix = listed.lstrip("=")
            if module == prefix or (not exact and module.startswith(prefix + ".")):
                rank = len(prefix) + (1 if exact else 0)  # an exact name beats the same name as a prefix
                if best is None or rank > best[1]:
                    best = (i, rank)
    return None if best is None else best[0]
