"""Functional activations (``F.relu(x)``, ``torch.tanh(x)``, ``x.sigmoid()``) turned into modules with torch.fx.

``dynsearch.apply`` makes sites of activation *modules*. A forward that calls an activation function has
no module to replace, so ``convert_functional`` traces the model with ``torch.fx.symbolic_trace``,
replaces each such call by a call of a new ``nn.ReLU``/``nn.Tanh``/… module (which ``apply`` then turns
into a site) and recompiles the graph. The model's own submodules keep their names, so its parameters
and ``state_dict`` keys are unchanged. A model that does not trace keeps those activations fixed: one
warning names each of them (module path and call, found in the forward's source), or, ``strict``, an error.

Example:
    >>> import torch
    >>> from torch import nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(2, 2)
    ...     def forward(self, x):
    ...         return torch.relu(self.fc(x))
    >>> converted = convert_functional(Net())
    >>> [type(m).__name__ for m in converted.children()]
    ['Linear', 'ReLU']
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import warnings
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import fx, nn

__all__ = ["FUNCTIONS", "METHODS", "convert_functional", "find_functional_calls"]

#: activation functions and the module that computes the same thing, called with the same extra arguments
FUNCTIONS: dict[Callable[..., Any], type[nn.Module]] = {
    F.relu: nn.ReLU, torch.relu: nn.ReLU, F.leaky_relu: nn.LeakyReLU, F.elu: nn.ELU, F.selu: nn.SELU,
    torch.selu: nn.SELU, F.gelu: nn.GELU, F.silu: nn.SiLU, torch.tanh: nn.Tanh, F.tanh: nn.Tanh,
    torch.sigmoid: nn.Sigmoid, F.sigmoid: nn.Sigmoid, F.softplus: nn.Softplus,
}  # fmt: skip
#: tensor methods that are activations (``x.relu()``)
METHODS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_NAMES = {"relu", "leaky_relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid", "softplus"}


def find_functional_calls(model: nn.Module) -> list[str]:
    """``"path: call"`` for each activation call in the forward source of ``model``'s modules.

    Read with ``ast`` (nothing runs), so it also names the calls of a model that does not trace.
    """
    found: list[str] = []
    seen: set[type] = set()
    for path, module in model.named_modules():
        cls = type(module)
        if cls in seen or cls.__module__.startswith("torch."):
            continue
        seen.add(cls)
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls.forward)))
        except (OSError, TypeError, SyntaxError):
            continue  # no source (defined in a REPL, compiled): nothing to name
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _NAMES):
                continue
            owner = node.func.value
            if not (isinstance(owner, ast.Name) and owner.id == "self"):  # self.relu(x) is a module: apply sees it
                found.append(f"{path or type(model).__name__}: {ast.unparse(node)}")
    return found


class _Tracer(fx.Tracer):
    """Keeps the ``leaves`` (sites) and every torch module whole: only the user's own code is traced through."""

    def __init__(self, leaves: tuple[type[nn.Module], ...]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, self.leaves) or super().is_leaf_module(m, module_qualified_name)


def _replacement(node: fx.Node) -> type[nn.Module] | None:
    if node.op == "call_function":
        try:
            return FUNCTIONS.get(node.target)  # type: ignore[arg-type]
        except TypeError:  # an unhashable target
            return None
    if node.op == "call_method" and not node.kwargs and len(node.args) == 1:
        return METHODS.get(str(node.target))
    return None


def _convert(graph_module: fx.GraphModule) -> tuple[int, list[str]]:
    """Replace the activation calls in place; returns how many, and the calls left as they were (and why)."""
    left: list[str] = []
    done = 0
    for index, node in enumerate(list(graph_module.graph.nodes)):
        module_type = _replacement(node)
        if module_type is None:
            continue
        extra = list(node.args[1:]) + list(node.kwargs.values())
        if any(isinstance(a, fx.Node) for a in extra):
            left.append(f"{node.name}: its arguments are computed in forward")
            continue
        try:
            module = module_type(*node.args[1:], **node.kwargs)
        except TypeError as exc:
            left.append(f"{node.name}: {exc}")
            continue
        name = f"{node.name}_act"
        while hasattr(graph_module, name):
            name += f"_{index}"
        graph_module.add_module(name, module)
        with graph_module.graph.inserting_after(node):
            new = graph_module.graph.call_module(name, (node.args[0],))
        node.replace_all_uses_with(new)
        graph_module.graph.erase_node(node)
        done += 1
    graph_module.graph.lint()
    graph_module.recompile()
    return done, left


def convert_functional(model: nn.Module, *, strict: bool = False, leaves: tuple[type[nn.Module], ...] = ()) -> nn.Module:
    """``model`` with its functional activations made modules (a ``GraphModule``), or ``model`` itself.

    Args:
        model: any module; returned unchanged when its forward source calls no activation function.
        strict: raise instead of warning when an activation must stay fixed.
        leaves: module types traced as calls, never through (``apply`` passes its sites, which sit above).

    Raises:
        ValueError: ``strict`` and the model does not trace or a call cannot be converted.
    """
    calls = find_functional_calls(model)
    if not calls:
        return model
    try:
        graph = _Tracer(leaves).trace(model)
    except Exception as exc:  # any tracing failure: data-dependent control flow, unsupported calls, ...
        _fixed(f"{type(model).__name__} does not trace with torch.fx ({type(exc).__name__}: "
               f"{' '.join(str(exc).split())[:200]})", calls, strict)  # fmt: skip
        return model
    converted = fx.GraphModule(model, graph, type(model).__name__)
    done, left = _convert(converted)
    if left:
        _fixed(f"{type(model).__name__}: some calls could not become modules ({'; '.join(left)})", calls, strict)
    return converted if done else model


def _fixed(reason: str, calls: list[str], strict: bool) -> None:
    message = f"{reason}; these activations stay fixed (no site): {', '.join(calls)}"
    if strict:
        raise ValueError(message)
    warnings.warn(message, UserWarning, stacklevel=3)
