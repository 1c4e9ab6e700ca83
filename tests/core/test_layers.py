"""The import graph of the app: no circles, and nothing imported from a higher layer.

The graph is read from the source with `ast`, so it holds every import a module can make:
at module level, inside functions (a lazy import still runs, only later) and under
`if TYPE_CHECKING:`. TYPE_CHECKING imports count too, for layers and for circles: they never
run, but a module that names another's types depends on it, and a type checker follows them.

Layers, low to high (ARCHITECTURE.md says the same): a module may import its own layer or a
lower one. scripts/ and tests/ stand outside the layers and may import anything.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("core", "ui", "pages", "streamlit_app.py")

# Low to high; a name is a module, or a package and everything in it. `core` itself (its
# __init__, which only documents) is in the lowest layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core.errors", "core.examples", "core.jobs", "core.runfiles", "core.disjoint_sets"),
    ("core.models",),
    ("core.attention",),
    ("core.analysis",),
    ("core.render",),
    ("core.compare", "core.corpus", "core.probing", "core.tutorial", "core.explain", "core.generate"),
    ("core.requests",),
    ("ui",),
    ("pages", "streamlit_app"),
)

# Within the top core layer the packages are peers that do not know each other (what two of
# them share belongs lower, e.g. the padded batches of corpus and probing in core.attention).
# A package's command line (its __main__) may use its peers, as scripts/ may: nothing imports
# it (test_nothing_imports_a_command_line), so it ties no library code together.
TOP_CORE = LAYERS.index(("core.compare", "core.corpus", "core.probing", "core.tutorial", "core.explain", "core.generate"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    files: list[Path] = []
    for entry in SOURCES:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def _imported_names(tree: ast.AST, importer: str, is_package: bool) -> list[tuple[str, int]]:
    """(dotted name, line) of every import in the tree; `from x import y` gives x.y, which
    `resolve` shortens to x when y is not a module. (A package's __init__ runs first too; ours
    only document, so they are no edge.)"""
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importer's package
                package = importer.split(".")
                if not is_package:
                    package = package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            out.extend((f"{base}.{alias.name}" if base else alias.name, node.lineno) for alias in node.names)
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """importer -> {imported module: first line}, for our own modules only."""
    files = source_files()
    modules = {module_name(p): p for p in files}
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, int] = {}
        for dotted, line in _imported_names(tree, name, path.name == "__init__.py"):
            target = resolve(dotted, modules)
            if target is not None and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def resolve(dotted: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `dotted` that is one of our modules, or None (a library)."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def layer_of(module: str) -> tuple[int, str]:
    """(rank, group) of the most specific LAYERS entry that names the module."""
    if module == "core":
        return 0, "core"
    best: tuple[int, int, str] | None = None
    for rank, names in enumerate(LAYERS):
        for prefix in names:
            if module == prefix or module.startswith(prefix + "."):
                key = (len(prefix), rank, prefix)
                best = key if best is None or key > best else best
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[1], best[2]


def _group_of(module: str) -> str:
    """The package a top-layer module belongs to, e.g. core.corpus."""
    return ".".join(module.split(".")[:2])


def layer_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    out = []
    for importer, edges in sorted(graph.items()):
        rank, mine = layer_of(importer)
        for imported, line in sorted(edges.items()):
            their_rank, theirs = layer_of(imported)
            where = f"{importer} -> {imported} ({_file_of(importer)}:{line})"
            if their_rank > rank:
                out.append(f"{where}: {mine} (layer {rank + 1}) is below {theirs} (layer {their_rank + 1})")
            elif rank == their_rank == TOP_CORE and not importer.endswith(".__main__"):
                mine, theirs = _group_of(importer), _group_of(imported)
                if mine != theirs:
                    out.append(f"{where}: {mine} and {theirs} are peers")
    return out


def _file_of(module: str) -> str:
    path = ROOT.joinpath(*module.split("."))
    return str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(ROOT))


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each as one
    closed path through it, e.g. [a, b, c, a]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_closed_path(sorted(c), graph) for c in components]


def _closed_path(component: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest circle through the component's first module, found breadth-first."""
    start, members = component[0], set(component)
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt in members and nxt != start and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no circle through {start}")  # a component of 2+ always has one


def _describe(path: list[str], graph: dict[str, dict[str, int]]) -> str:
    steps = [f"{a} ({_file_of(a)}:{graph[a][b]})" for a, b in zip(path, path[1:])]
    return " -> ".join(steps + [path[-1]])


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph()


def test_every_module_has_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_no_import_circles(graph):
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(_describe(c, graph) for c in found)


def test_nothing_imported_from_a_higher_layer(graph):
    found = layer_violations(graph)
    assert not found, "imports against the layer order:\n" + "\n".join(found)


def test_nothing_imports_a_command_line(graph):
    found = [f"{a} -> {b} ({_file_of(a)}:{line})" for a, edges in sorted(graph.items())
             for b, line in sorted(edges.items()) if b.endswith(".__main__")]
    assert not found, "imports of a command line (__main__):\n" + "\n".join(found)


def test_the_checks_see_lazy_and_type_checking_imports():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from core.render.matrix import DrawMatrix\n"
        "def f():\n    from ui import state\n    import pages.about\n"
    )
    names = {name for name, _ in _imported_names(tree, "core.analysis.x", False)}
    assert {"core.render.matrix.DrawMatrix", "ui.state", "pages.about"} <= names


def test_a_planted_circle_and_upward_import_are_reported():
    planted = {
        "core.analysis.a": {"core.analysis.b": 3},
        "core.analysis.b": {"core.analysis.c": 4, "ui.state": 9},
        "core.analysis.c": {"core.analysis.a": 5},
        "core.probing.run": {"core.corpus.batch": 7},
        "core.corpus.__main__": {"core.probing.run": 8},
        "core.corpus.batch": {},
        "ui.state": {},
    }
    assert cycles(planted) == [["core.analysis.a", "core.analysis.b", "core.analysis.c", "core.analysis.a"]]
    assert [v.split(" (")[0] for v in layer_violations(planted)] == [
        "core.analysis.b -> ui.state", "core.probing.run -> core.corpus.batch"]
