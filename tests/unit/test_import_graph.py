"""The tree's layer rules, read from the import statements of every module (function-level imports included).

- No import cycles among crmio's modules.
- schemas/ depends on nothing of ours but schemas/; services/ never imports faust or streams/.
- The local stack manager (stack/) is a development tool: only the CLI's entry point starts it.
- The CLI uses the API only through its app factory; API routes never reach into the pipeline.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOPS = ("services", "streams", "schemas", "stack")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for top in TOPS:
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imported(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def _ours(name: str) -> str | None:
    """The module of ours ``name`` is, or is an attribute of."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        found = {_ours(i) for i in _imported(path)}
        # A package's own __init__ is imported on the way to its modules: not an edge back.
        edges[name] = {m for m in found if m and m != name and not name.startswith(m + ".")}
    return edges


EDGES = _edges()


def _external(name: str) -> set[str]:
    return {i.split(".")[0] for i in _imported(MODULES[name])}


def test_there_is_no_import_cycle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in EDGES[v]:
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
                cycles.append(sorted(component))

    for v in EDGES:
        if v not in index:
            visit(v)
    assert cycles == [], f"modules that import each other: {cycles}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("schemas")))
def test_schemas_depend_on_nothing_of_ours(name: str) -> None:
    assert {m for m in EDGES[name] if not m.startswith("schemas")} == set()


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("services")))
def test_services_never_import_faust_or_streams(name: str) -> None:
    assert not _external(name) & {"faust", "mode", "streams"}


def test_only_the_cli_starts_the_local_stack() -> None:
    users = {m for m, deps in EDGES.items() if any(d.startswith("stack") for d in deps) and not m.startswith("stack")}
    assert users <= {"services.cli.main"}, users


def test_the_cli_uses_the_api_only_through_its_app_factory() -> None:
    reached = {
        d for m, deps in EDGES.items() if m.startswith("services.cli") for d in deps if d.startswith("services.api")
    }
    assert reached <= {"services.api"}, reached


def test_api_routes_never_reach_into_the_pipeline() -> None:
    reached = {
        (m, d)
        for m, deps in EDGES.items()
        if m.startswith("services.api")
        for d in deps
        if d.startswith(("services.apply", "streams"))
    }
    assert reached == set(), reached
