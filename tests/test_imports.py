"""Imports point one way (__main__ → cli → demo → runner → execute/report → train → grid → models/data →
store → cellspec/metrics → config/registry → atomic/ids/errors), function-local imports included, and no
module imports itself in a circle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import radbench

PACKAGE = Path(radbench.__file__).parent

# top to bottom; a module may import its own package and the layers below its own
LAYERS = [
    {"__main__"},
    {"cli"},
    {"demo"},
    {"runner", "taskinit", "export_mlflow", "explain"},
    {"predict"},
    {"cost"},
    {"execute", "report"},
    {"train"},
    {"grid"},
    {"models", "data"},
    {"sites"},
    {"store", "provenance", "writable", "quiet", "terminal"},
    {"cellspec", "metrics", "cellrecords"},
    {"config", "registry"},
    {"atomic", "ids", "errors"},
]
LAYER = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the radbench modules it imports, anywhere in its source."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def top(module: str) -> str:
    """radbench.models.build → models; radbench.grid → grid."""
    return module.split(".")[1] if module.count(".") else ""


def test_every_top_level_part_has_a_layer():
    parts = {top(m) for m in import_graph() if top(m)}
    assert parts <= set(LAYER), f"give these a layer in LAYERS: {sorted(parts - set(LAYER))}"


def test_imports_point_down_the_layers():
    wrong = sorted(f"{source} imports {target}"
                   for source, targets in import_graph().items() if top(source)
                   for target in targets if top(target) and top(target) != top(source)
                   and LAYER[top(target)] <= LAYER[top(source)])
    assert wrong == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the import circles (components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_module_imports_itself_in_a_circle():
    graph = import_graph()
    # a package's __init__ re-exporting its registry is imported by its own modules' imports of
    # the package; it is not a circle of logic
    for package in [m for m in graph if (PACKAGE.parent / m.replace(".", "/") / "__init__.py")
                    .is_file()]:
        for module in graph:
            graph[module].discard(package)
    assert strongly_connected(graph) == []


def test_the_circle_finder_finds_circles():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []
