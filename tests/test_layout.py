"""The shipped packages' import graph: arrows point one way (no cycle), and nothing shipped
imports the tests' model builders."""

import ast
from pathlib import Path

from conftest import REPO

SHIPPED = ("qbench_tasks", "model_wrappers")
TEST_ONLY = {"fixture_models", "fixture_judge", "model_matrix", "conftest"}


def shipped_modules() -> dict[str, Path]:
    modules = {}
    for package in SHIPPED:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def module_level_imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """Project modules ``path`` imports when it is imported (not those imported inside functions)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(targets)
    return found


def test_no_shipped_module_imports_a_test_builder():
    known = shipped_modules()
    offenders = {name: sorted(imported & TEST_ONLY | {m for m in imported if m.startswith("tests")})
                 for name, path in known.items() if (imported := module_level_imports(path, name, known))}
    assert {name: found for name, found in offenders.items() if found} == {}
    for path in known.values():  # also not from inside a function
        text = path.read_text()
        assert not any(f"import {name}" in text or f"from {name} " in text for name in TEST_ONLY), path


def test_the_import_graph_has_no_cycle():
    known = shipped_modules()
    graph = {name: {m for m in module_level_imports(path, name, known) if m in known and m != name}
             for name, path in known.items()}
    state: dict[str, str] = {}
    cycles = []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
    assert len(graph) > 40  # the walk saw the packages
