"""The package's import graph, read statically (for the import-graph tests and the timing
tests' check that the hand loop shares no code with pairbench).

Every ``import suite...`` / ``from suite... import ...`` counts, also the ones inside
functions: a lazy import still ties two modules together. A package's ``__init__`` counts
as its own module.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "suite"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in SUITE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _owner(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _lazy_exports(mods: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Package -> {name: module} of the names its ``__init__`` imports on first use (a dict literal
    ``_EXPORTS``/``_LAZY`` of strings), so that ``from suite.run import run_selection`` counts as
    an import of ``suite.run.lifecycle``."""
    out: dict[str, dict[str, str]] = {}
    for mod, path in mods.items():
        if path.name != "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if names & {"_EXPORTS", "_LAZY"} and isinstance(node.value, ast.Dict):
                    out[mod] = {
                        k.value: v.value
                        for k, v in zip(node.value.keys, node.value.values, strict=True)
                        if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                    }
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the pairbench modules it imports (anywhere in its source)."""
    mods = _modules()
    lazy = _lazy_exports(mods)
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {_owner(a.name, mods) for a in node.names if a.name.startswith("suite")}
            elif (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").startswith("suite")
            ):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in mods:
                        deps.add(full)
                    elif alias.name in lazy.get(node.module, {}):
                        deps.add(lazy[node.module][alias.name])
                    else:
                        deps.add(_owner(node.module, mods))
        graph[mod] = {d for d in deps if d and d != mod}
    return graph
