"""The core's import graph (docs/contributing.md, "The layers"): no cycle between modules, and
every import points down the layer list (or stays in its own package). Imports under
`if TYPE_CHECKING:` are annotations only and are not counted; imports inside functions are."""

import ast
from pathlib import Path

import networkx as nx

import xcompass

CORE = Path(xcompass.__file__).parent
LAYERS = (
    "codesign",
    "explore",
    "serving",
    "search",
    "viz",
    "engine",
    "layer",
    "cost",
    "hardware",
    "model",
    "",  # errors, names, fileio, _cache: the base every layer may use
)
RANK = {name: i for i, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANK) else ""


def imported(tree: ast.AST) -> list[str]:
    """Modules imported anywhere in `tree` except under `if TYPE_CHECKING:`."""
    out: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.module and not child.level:
                out.append(child.module)
                out.extend(f"{child.module}.{a.name}" for a in child.names)
            elif isinstance(child, ast.Import):
                out.extend(a.name for a in child.names)
            visit(child)

    visit(tree)
    return out


def import_graph() -> nx.DiGraph:
    files = {module_name(p): p for p in CORE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        for target in imported(ast.parse(path.read_text())):
            if target in files and target != name and not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def test_every_core_package_is_a_declared_layer():
    packages = {p.parent.name for p in CORE.glob("*/__init__.py")}
    assert packages <= set(RANK), packages - set(RANK)


def test_the_core_imports_have_no_cycle():
    cycles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert cycles == []


def test_every_import_points_down_the_layers():
    upward = [
        f"{a} -> {b}" for a, b in import_graph().edges if RANK[layer_of(b)] < RANK[layer_of(a)]
    ]
    assert upward == []


def test_the_core_never_imports_the_ir_side():
    ir_side = ("xdsl", "xcompass.dialects", "xcompass.passes", "xcompass.tools")
    bad = [
        f"{module_name(p)} -> {t}"
        for p in CORE.rglob("*.py")
        for t in imported(ast.parse(p.read_text()))
        if t.split(".")[0] == "xdsl" or t.startswith(ir_side[1:])
    ]
    assert bad == []


def test_no_private_name_is_imported_across_modules():
    crossing = [
        f"{module_name(p)} imports {node.module}.{alias.name}"
        for p in CORE.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xcompass")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert crossing == []
