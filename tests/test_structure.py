"""The package's shape: no import cycles, layers that import only downwards.

The import graph is read from the source with ``ast``: every ``import`` and ``from ...
import``, also those inside functions, so a cycle that a lazy import would hide at run
time still fails here. Imports under ``if TYPE_CHECKING:`` are left out: they never
run, and they are how an agent names its model's type for the type checker.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parent.parent / "sim"

# Lower layers never import higher ones: the schema and the shipped-scenario catalog, the
# metric registry, the model, experiments, then the faces (command line, page, API).
LAYERS = {
    "sim.schema": 0,
    "sim.catalog": 0,
    "sim.metrics": 1,
    "sim.model": 2,
    "sim.experiments": 3,
    "sim.cli": 4,
    "sim.app": 4,
    "sim.api": 4,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SIM.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache  # parsed once: every module's test reads the same graph (~0.5 s a parse)
def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SIM.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {
            id(inner)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for inner in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from sim.x import y` imports the submodule sim.x.y when there is one
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                # A package's own parents are imported first anyway: not an edge.
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def layer_of(module: str) -> int | None:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def test_no_import_cycle_in_sim():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(import_graph()))
def test_layers_import_only_downwards(module):
    here = layer_of(module)
    if here is None:
        return
    upward = [t for t in import_graph()[module] if (layer_of(t) or -1) > here]
    assert not upward, f"{module} imports a higher layer: {upward}"
