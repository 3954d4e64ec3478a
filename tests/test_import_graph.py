"""The package's import graph has no cycle (issue 13), checked statically.

Every ``import suite...`` / ``from suite... import ...`` counts, also the ones inside
functions: a lazy import still ties two modules together. A package's ``__init__`` counts
as its own module.
"""

from __future__ import annotations

from suite_imports import import_graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_suite_has_no_import_cycle():
    graph = import_graph()
    assert "suite.run.child" in graph and "suite.results.run_dir" in graph
    assert cycles(graph) == []


def test_the_child_never_imports_the_parent():
    graph = import_graph()
    reachable, todo = set(), ["suite.run.child"]
    while todo:
        mod = todo.pop()
        for dep in graph.get(mod, ()):
            if dep not in reachable:
                reachable.add(dep)
                todo.append(dep)
    assert not reachable & {"suite.run.parent", "suite.run.lifecycle", "suite.cli"}


def _area(module: str) -> str:
    """``suite.run.lifecycle`` -> ``run``; a top-level module is its own area."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_lazy_exports_count_as_imports_of_their_modules():
    graph = import_graph()
    assert "suite.run.lifecycle" in graph["suite.commands.run"]  # from suite.run import run_selection


def test_areas_are_layered():
    """The folders of ``suite/`` depend on each other without a cycle: each area can be read
    knowing only the areas below it (the layout of docs/ARCHITECTURE.md)."""
    graph = import_graph()
    areas: dict[str, set[str]] = {}
    for module, deps in graph.items():
        areas.setdefault(_area(module), set()).update(_area(d) for d in deps if _area(d) != _area(module))
    assert cycles(areas) == []
    below = {"results": {"report", "compare", "run", "ops", "commands"}, "zoo": {"run", "measure"}}
    for low, high in below.items():
        assert not areas.get(low, set()) & high, f"{low} imports {areas[low] & high}"
