"""The package's shape, kept by tests: a few modules at the top, small modules, no import cycles
(imports inside functions count; ``if TYPE_CHECKING:`` blocks do not, since they never run), and
no convention compared by name outside the Layout.

The import graph is read from the source with ``ast``: nothing is imported to build it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "derive"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "_rules" not in p.parts}


def _runtime_imports(tree: ast.AST) -> list[ast.ImportFrom | ast.Import]:
    """Every import statement that can run: at module level, in functions, in classes; not under
    ``if TYPE_CHECKING:``."""
    found: list[ast.ImportFrom | ast.Import] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the derive modules it imports (``from derive.x import y`` counts derive.x.y when
    that is a module, else derive.x; a package's ``__init__`` is imported on the way)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _runtime_imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                           else node.module for a in node.names]
            for target in targets:
                if not target.startswith("derive"):
                    continue
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target != name and target in modules:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_few_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_no_module_over_500_lines():
    long = {name: n for name, p in _modules().items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert long == {}


def test_the_data_flow_reads_from_the_folder_names():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert {"core", "catalogue", "network", "layers", "engine", "check", "numbers", "stability",
            "jacobian", "handout", "parse", "render", "cli"} <= packages
    graph = import_graph()
    # the core knows no network, layer or feature; the engine knows no feature
    features = ("derive.check", "derive.numbers", "derive.stability", "derive.jacobian",
                "derive.handout", "derive.parse", "derive.render", "derive.cli")
    for name, deps in graph.items():
        if name.startswith("derive.core"):
            assert all(d.startswith(("derive.core", "derive.errors")) for d in deps), (name, deps)
        if name.startswith(("derive.engine", "derive.layers", "derive.network")):
            assert not any(d.startswith(features) for d in deps), (name, deps)


def test_only_the_layout_compares_convention_names():
    compared = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                text = ast.unparse(node)
                if "'columns'" in text or "'rows'" in text:
                    compared.append(f"{name}: {text}")
    assert compared == []


def test_the_parser_and_help_import_neither_sympy_nor_numpy():
    # `derive --help` and the argument parser of every command stay fast: command modules import
    # the heavy parts inside run (a module-level `from derive import layers` once pulled in both)
    import subprocess
    import sys

    code = ("import sys, derive.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('sympy', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"
