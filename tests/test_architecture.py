"""The shape of the code: imports point one way, modules stay readable, every command is reachable.

Read with `ast`, so imports inside functions count too. `if TYPE_CHECKING:` blocks are not
imports at run time and are skipped.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "curation"
MAX_LINES = 500
DATA_TABLES = {"curation/ingest/licenses.py"}  # SPDX tables: data, not logic


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST):
    """Import nodes, skipping the bodies of `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_package = path.name == "__init__.py"
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if is_package else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path a -> b -> ... -> a, or None (iterative DFS, deterministic order)."""
    state: dict[str, int] = {}
    for root in sorted(graph):
        if root in state:
            continue
        path, iters = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while path:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted(graph.get(nxt, ()))))
    return None


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = defaultdict(set)
    for mod, targets in import_graph().items():
        packages[package_of(mod)] |= {package_of(t) for t in targets} - {package_of(mod)}
    cycle = find_cycle(dict(packages))
    assert cycle is None, "package import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_names_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_config_schemas_import_no_step():
    """Steps read typed config sections; the schemas never reach back into the steps."""
    graph = import_graph()
    for mod in (m for m in graph if m.startswith("curation.config")):
        bad = sorted(t for t in graph[mod] if not t.startswith(("curation.config", "curation.schema")))
        assert not bad, f"{mod} imports {bad}"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")))
def test_modules_stay_readable(path):
    lines = len((ROOT / path).read_text().splitlines())
    assert path in DATA_TABLES or lines <= MAX_LINES, f"{path}: {lines} lines (> {MAX_LINES}): split it by job"


def test_no_private_stdlib_modules():
    for path in PACKAGE.rglob("*.py"):
        for node in _runtime_imports(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            private = [n for n in names if n.split(".")[0] in ("re", "sre_parse", "sre_constants") and
                       (n.startswith("sre") or any(p.startswith("_") for p in n.split(".")[1:]))]
            assert not private, f"{path}: imports CPython internals {private}"


def test_every_package_ships():
    """pyproject lists packages explicitly: a new package missing there is absent from a wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
