"""The house: no import cycles inside vmatte/, and no module reaching for another's private names.

The imports are read from the source (ast), function-level ones included: a cycle that only a lazy
import hides is still a cycle in the design. Imports under `if TYPE_CHECKING:` never run and are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vmatte"


def _modules(root: Path) -> dict[str, Path]:
    mods = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = p
    return mods


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:`."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """module -> the package's modules it imports; and every use of another module's private name."""
    mods = _modules(root)
    graph: dict[str, set[str]] = {}
    private: list[str] = []
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        aliases: dict[str, str] = {}  # a local name bound to one of the package's modules
        nodes = list(_runtime_nodes(ast.parse(path.read_text(), str(path))))
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    name = ".".join(base + ([node.module] if node.module else []))
                else:
                    name = node.module or ""
                if name not in mods:
                    continue
                for a in node.names:
                    if f"{name}.{a.name}" in mods:
                        deps.add(f"{name}.{a.name}")
                        aliases[a.asname or a.name] = f"{name}.{a.name}"
                        continue
                    deps.add(name)
                    if a.name.startswith("_") and not a.name.startswith("__") and name != mod:
                        private.append(f"{mod} imports {name}.{a.name}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods:
                        deps.add(a.name)
                        if a.asname:
                            aliases[a.asname] = a.name
        for node in nodes:  # once every alias is known
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                  and node.attr.startswith("_") and not node.attr.startswith("__")):
                private.append(f"{mod} uses {aliases[node.value.id]}.{node.attr}")
        graph[mod] = deps - {mod}
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_vmatte_has_no_import_cycles():
    graph, _ = import_graph(PACKAGE)
    assert len(graph) > 40  # the walk found the package
    assert {"vmatte.clip", "vmatte.pipeline"} <= graph["vmatte.batch"]
    assert cycles(graph) == []


def test_no_module_uses_another_modules_private_names():
    _, private = import_graph(PACKAGE)
    assert private == []


@pytest.fixture
def toy(tmp_path):
    """A small package with a lazy two-module cycle, a private import, a private attribute and an import
    that only a type checker sees."""
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from . import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import X\n"
                              "from .b import _hidden\n")
    (pkg / "d.py").write_text("from . import c\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "e.py").write_text("from .. import a as mod\nmod._secret()\n")
    return pkg


def test_the_walk_finds_lazy_cycles_and_private_names(toy):
    graph, private = import_graph(toy)
    assert cycles(graph) == [["toy.a", "toy.b"]]  # c -> d is a TYPE_CHECKING import: no c <-> d cycle
    assert private == ["toy.c imports toy.b._hidden", "toy.sub.e uses toy.a._secret"]
