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
    """module -> the package's modules it imports; and every use of another module's private name, and
    every assignment to another module's global (a setting passed through a module global)."""
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
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for a in ast.walk(t):
                        if (isinstance(a, ast.Attribute) and isinstance(a.ctx, ast.Store)
                                and isinstance(a.value, ast.Name) and a.value.id in aliases):
                            private.append(f"{mod} sets {aliases[a.value.id]}.{a.attr}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                    and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in aliases):
                private.append(f"{mod} sets {aliases[node.args[0].id]}.<setattr>")
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
    assert {"vmatte.clip", "vmatte.pipeline"} <= graph["vmatte.dispatch"]
    assert cycles(graph) == []


def test_no_module_uses_another_modules_private_names_or_sets_its_globals():
    _, private = import_graph(PACKAGE)
    assert private == []


def _uses(root: Path, attribute: str | None = None, call: str | None = None) -> set[str]:
    """The modules under `root` that read `X.attribute` or call `call(...)` (a name or an attribute)."""
    found = set()
    for mod, path in _modules(root).items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if attribute and isinstance(node, ast.Attribute) and node.attr == attribute:
                found.add(mod)
            if call and isinstance(node, ast.Call):
                f = node.func
                if (isinstance(f, ast.Name) and f.id == call) or (isinstance(f, ast.Attribute) and f.attr == call):
                    found.add(mod)
    return found


def test_the_recipe_alone_reads_effort_and_loads_the_network():
    """A new effort level is one recipe branch: no driver reads --effort, or loads the network, itself."""
    assert _uses(PACKAGE, attribute="effort") == {"vmatte.recipe"}
    assert _uses(PACKAGE, call="load_model") == {"vmatte.recipe"}
    assert _uses(PACKAGE, attribute="downsample_ratio") <= {"vmatte.recipe", "vmatte.realtime", "vmatte.session",
                                                             "vmatte.control", "vmatte.control.look",
                                                             "vmatte.control.server"}


def test_library_code_logs_and_leaves_printing_to_the_command_line():
    """Messages go through the `vmatte` logger, so the command line (or a calling program) decides what
    a terminal shows; the one print outside it is a live session's page addresses, its output."""
    assert _uses(PACKAGE, call="print") == {"vmatte.cli", "vmatte.session"}


def test_the_public_api_imports_from_vmatte_alone():
    """What the API page uses is importable from `vmatte` itself, and is what it says it is."""
    import inspect

    import vmatte

    names = ("convert", "live", "export", "load_model", "LoadedModel", "Summary", "BatchSummary", "LiveStats",
             "MattingOptions", "OutputOptions", "ScaleOptions", "LiveOptions", "ExportOptions", "Recipe",
             "convert_clip", "open_source", "open_sink", "Source", "Sink", "Frame", "SourceInfo", "VmatteError")
    assert set(names) <= set(vmatte.__all__) <= set(dir(vmatte))
    for name in vmatte.__all__:
        assert getattr(vmatte, name).__name__ == name, name
    import vmatte.dispatch  # noqa: F401 - importing every driver module leaves the public names as they were
    import vmatte.exporting  # noqa: F401
    import vmatte.realtime  # noqa: F401

    for name in ("convert", "live", "export", "convert_clip", "load_model", "open_source", "open_sink"):
        assert inspect.isfunction(getattr(vmatte, name)), name
    api = (PACKAGE.parent / "docs" / "reference" / "api.md").read_text()
    imports = [line.split()[1] for line in api.splitlines() if line.startswith(("from ", "import "))]
    assert imports and all(m == "vmatte" for m in imports), imports


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
    (pkg / "f.py").write_text("from . import d\nfrom .sub import e\n\ndef init():\n    d.LIMIT = 4\n"
                              "    setattr(e, 'MODE', 1)\n    local = d\n    local.ok = 1\n")
    return pkg


def test_the_walk_finds_lazy_cycles_and_private_names(toy):
    graph, private = import_graph(toy)
    assert cycles(graph) == [["toy.a", "toy.b"]]  # c -> d is a TYPE_CHECKING import: no c <-> d cycle
    assert sorted(private) == ["toy.c imports toy.b._hidden", "toy.f sets toy.d.LIMIT",
                               "toy.f sets toy.sub.e.<setattr>", "toy.sub.e uses toy.a._secret"]
