"""The design rules of the package, as tests that can fail.

1. No import cycles among czbench's modules.
2. Layers import only downward (errors/context/utils < neighbors/graph < metrics/datasets/
   baselines < tasks < run < front doors < the top package).
3. ``import czbench.tasks`` / ``import czbench.metrics`` stay light (no scanpy, matplotlib,
   dask or lightning).
4. No module over 400 lines.
5. No private top-level modules (``czbench/_*.py``).
6. The task registry holds exactly the built-ins, each importable, instantiable with no
   arguments, and with options read back from its ``__init__`` signature.

The import graph is read from the source with :mod:`ast` (module- and function-level imports;
``if TYPE_CHECKING:`` blocks skipped), so these tests import nothing to check 1, 2, 4 and 5.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "czbench"
MAX_LINES = 400


# --------------------------------------------------------------------------------------------
# the import graph, from the source
# --------------------------------------------------------------------------------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import / ImportFrom node, at any depth, outside ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of the package that ``name`` names (its longest prefix that is a module)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             modules: dict[str, Path]) -> list[str]:
    """The package modules one import statement names explicitly."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[:len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            names.append(sub if sub in modules else base)
    return [t for t in (_resolve(n, modules) for n in names if n.split(".")[0] == "czbench")
            if t is not None]


def _is_ancestor(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def import_edges() -> dict[tuple[str, str], list[str]]:
    """{(importer, imported): ["path:line", ...]} among czbench's modules. An import of an
    ancestor package's ``__init__`` from inside it does not count (the ancestor is always
    imported first anyway)."""
    modules = _modules()
    edges: dict[tuple[str, str], list[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for target, line in _module_imports(tree, module, path.name == "__init__.py", modules):
            where = f"{path.relative_to(ROOT)}:{line}"
            edges.setdefault((module, target), []).append(where)
    return edges


def _module_imports(tree: ast.AST, module: str, is_package: bool,
                    modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported module, line) for each import of a package module in ``tree``."""
    found = []
    for node in _import_nodes(tree):
        for target in _targets(node, module, is_package, modules):
            if target != module and not _is_ancestor(target, module):
                found.append((target, node.lineno))
    return sorted(found, key=lambda item: item[1])


def strongly_connected_components(nodes: list[str],
                                  edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _cycle_in(component: list[str], edges: dict[str, list[str]]) -> list[str]:
    """One cycle through the component's first module (shortest, by BFS)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in edges.get(node, ()):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return component


def test_the_scc_finder_finds_a_planted_cycle():
    # the checker itself can fail: a -> b -> c -> a is one component, d alone
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": []}
    components = strongly_connected_components(list(graph), graph)
    assert sorted(map(tuple, components)) == [("a", "b", "c"), ("d",)]
    assert _cycle_in(["a", "b", "c"], graph) == ["a", "b", "c", "a"]


def test_the_edge_reader_sees_the_imports_it_should():
    source = """
from typing import TYPE_CHECKING
import numpy
import czbench.b.c as c
from czbench.b import c, helper
from . import sibling
from ..b.c import thing
from czbench.a import parent_thing
if TYPE_CHECKING:
    from czbench.typing_only import T
else:
    from czbench.runtime import R
def late():
    import czbench.lazy
"""
    modules = dict.fromkeys(["czbench", "czbench.a", "czbench.a.mod", "czbench.a.sibling",
                             "czbench.b", "czbench.b.c", "czbench.typing_only",
                             "czbench.runtime", "czbench.lazy"], Path())
    found = _module_imports(ast.parse(source), "czbench.a.mod", False, modules)
    assert [t for t, _ in found] == [
        "czbench.b.c",                  # import czbench.b.c as c
        "czbench.b.c", "czbench.b",     # from czbench.b import c (a module), helper (a name)
        "czbench.a.sibling",            # relative, level 1
        "czbench.b.c",                  # relative, level 2
        "czbench.runtime",              # the else branch of TYPE_CHECKING counts
        "czbench.lazy",                 # function level
    ]  # czbench.a (the parent package) and czbench.typing_only are not edges
    edges = import_edges()
    assert ("czbench.tasks.label_prediction", "czbench.tasks.classification") in edges
    assert ("czbench.tasks.perturbation.truth", "czbench.datasets") in edges  # in a function


def test_no_import_cycles():
    edges = import_edges()
    graph: dict[str, list[str]] = {}
    for src, dst in sorted(edges):
        graph.setdefault(src, []).append(dst)
    nodes = sorted(_modules())
    cycles = []
    for component in strongly_connected_components(nodes, graph):
        if len(component) < 2:
            continue
        cycle = _cycle_in(component, graph)
        steps = [f"{a} -> {b} ({', '.join(edges[a, b])})"
                 for a, b in zip(cycle, cycle[1:], strict=False)]
        cycles.append(f"component {component}:\n    " + "\n    ".join(steps))
    assert not cycles, "import cycles among czbench's modules:\n  " + "\n  ".join(cycles)


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------

#: (module or package, rank): a module takes the rank of its longest listed prefix
RANKS = {
    "czbench.errors": 0, "czbench.context": 0, "czbench.utils": 0, "czbench.registry": 0,
    "czbench.neighbors": 1,
    "czbench.metrics": 2, "czbench.datasets": 2, "czbench.baselines": 2,
    "czbench.tasks": 3, "czbench.models": 3,
    "czbench.run": 4,
    "czbench.cli": 5, "czbench.callbacks": 5, "czbench.datamodules": 5,
    "czbench.estimators": 5, "czbench.report": 5, "czbench.packaging": 5,
    "czbench.export": 5, "czbench.plugins": 5, "czbench.testing": 5, "czbench.pages": 5,
    "czbench.serve": 5,
    "czbench": 6, "czbench.__main__": 6,
}
#: same-rank imports across packages that the design allows: baselines read counts; the base
#: modules raise errors; the run context checks its seed with the shared checks; the fuzzy graph
#: reads the kNN graph; the CLI renders reports; the registry mechanism raises errors and loads
#: lazy entries; the report renders its page with the pages' templates
SAME_RANK_ALLOWED = {("baselines", "datasets"), ("context", "errors"), ("utils", "errors"),
                     ("context", "utils"), ("registry", "errors"), ("registry", "utils"),
                     ("cli", "plugins"), ("testing", "callbacks"), ("testing", "datamodules"),
                     ("graph", "neighbors"), ("cli", "report"),
                     ("packaging", "datamodules"), ("cli", "packaging"), ("cli", "datamodules"),
                     ("cli", "export"), ("report", "pages"), ("cli", "serve"),
                     ("serve", "pages")}


def _layer(module: str) -> tuple[str, int] | None:
    """(top-level package, rank) of a module; None if unranked."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in RANKS:
            return (parts[1] if len(parts) > 1 else "", RANKS[prefix])
    return None


def test_every_module_has_a_layer():
    unranked = [m for m in _modules() if _layer(m) is None]
    assert not unranked, f"modules with no layer in RANKS: {unranked}"


def test_layers_import_only_downward():
    violations = []
    for (src, dst), where in sorted(import_edges().items()):
        (src_pkg, src_rank), (dst_pkg, dst_rank) = _layer(src), _layer(dst)
        if dst_rank < src_rank:
            continue
        if dst_rank == src_rank and (src_pkg == dst_pkg
                                     or (src_pkg, dst_pkg) in SAME_RANK_ALLOWED):
            continue
        violations.append(f"{src} (rank {src_rank}) -> {dst} (rank {dst_rank}) at "
                          f"{', '.join(where)}")
    assert not violations, ("imports against the layers (a module may import only lower "
                            "ranks, or its own package):\n  " + "\n  ".join(violations))


# --------------------------------------------------------------------------------------------
# light imports
# --------------------------------------------------------------------------------------------

HEAVY = ("scanpy", "matplotlib", "dask", "lightning")


@pytest.mark.parametrize("module", ["czbench.tasks", "czbench.metrics"])
def test_importing_stays_light(module):
    code = (f"import json, sys; import {module}; "
            f"print(json.dumps(sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert not heavy, f"import {module} imports {heavy}"


# --------------------------------------------------------------------------------------------
# size and private modules
# --------------------------------------------------------------------------------------------

def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in sorted(PACKAGE.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_private_top_level_modules():
    private = [p.name for p in sorted(PACKAGE.glob("_*.py"))
               if p.name not in ("__init__.py", "__main__.py")]
    assert not private, f"private top-level modules in czbench/: {private}"


# --------------------------------------------------------------------------------------------
# the task registry
# --------------------------------------------------------------------------------------------

def test_registry_lists_exactly_the_builtins(registries_at_session_start):
    from czbench.tasks import list_tasks
    from czbench.tasks.registry import BUILTIN_TASKS, REGISTRY

    builtin = [n for n in list_tasks() if REGISTRY.origin(n).source == "builtin"]
    assert builtin == list(BUILTIN_TASKS)
    assert registries_at_session_start["tasks"] == list_tasks()
    # anything else comes from an installed plugin, never from an import side effect
    assert all(REGISTRY.origin(n).source == "plugin" for n in list_tasks()[len(builtin):])


def _builtin_specs() -> list[tuple[str, str]]:
    from czbench.tasks.registry import BUILTIN_TASKS

    return list(BUILTIN_TASKS.items())


@pytest.mark.parametrize("name,spec", _builtin_specs())
def test_builtin_task_imports_instantiates_and_records_its_options(name, spec):
    from czbench.tasks import Task, task_class

    module, attr = spec.split(":")
    cls = getattr(importlib.import_module(module), attr)
    assert isinstance(cls, type) and issubclass(cls, Task)
    assert task_class(name) is cls and cls.name == name
    task = cls()
    names = cls.option_names()
    signature = inspect.signature(cls.__init__)
    assert names == [p for p in signature.parameters if p != "self"]
    assert set(cls.unrecorded_options) <= set(names)
    expected = {n: getattr(task, n) for n in names if n not in cls.unrecorded_options}
    options = task.options()
    assert options == expected
    assert not [k for k in options if k.endswith("_")], options
    assert "seed" not in options
