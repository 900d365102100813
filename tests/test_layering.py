"""The packages import only downward, and no module imports itself back through others (docs/ARCHITECTURE.md).

Layers, bottom first: memsim (knows nothing of DNNs), layout (index algebra, layouts, the Plan), kernels
(OpenCL source and traces of a Plan), compiler (ONNX to Plan, cost models), and the application layer (every
other module of smartmem_sim: CLI, API, zoo, sweeps, calibration). Every import counts, including those
inside functions (a lazy import is still a dependency); imports under ``if TYPE_CHECKING:`` do not run and
are left out.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "smartmem_sim"
LAYERS = ("memsim", "layout", "kernels", "compiler")  # bottom first; everything else is the application


def layer_of(module: str) -> int:
    """0 for smartmem_sim.memsim.*, ... 3 for smartmem_sim.compiler.*, 4 for the rest of smartmem_sim."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return len(LAYERS)


def layer_name(level: int) -> str:
    return LAYERS[level] if level < len(LAYERS) else "application"


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def imports(root: Path) -> list[tuple[str, str, int]]:
    """(importer, imported module of ours, line) for every import in smartmem_sim/ under ``root``."""
    modules = _modules(root)
    out = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_lines(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import sub` imports the submodule pkg.sub when there is one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                if t == PACKAGE or t.startswith(PACKAGE + "."):
                    out.append((name, t, node.lineno))
    return out


def upward_imports(root: Path) -> list[str]:
    """One line per import that points up a layer."""
    return [f"{name} ({layer_name(layer_of(name))}) imports {target} ({layer_name(layer_of(target))}) at line {line}"
            for name, target, line in imports(root) if layer_of(target) > layer_of(name)]


def import_circles(root: Path) -> list[list[str]]:
    """Every set of modules that import each other round a circle (strongly connected, size > 1), sorted.
    A package's __init__ importing its own submodules is not a circle through the submodule's parent."""
    g = nx.DiGraph()
    for name, target, _ in imports(root):
        if name != target and not name.startswith(target + "."):
            g.add_edge(name, target)
    return sorted(sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1)


def test_no_upward_import():
    bad = upward_imports(ROOT)
    assert not bad, "imports that point up a layer (move the code down instead):\n" + "\n".join(bad)


def test_no_import_circle():
    circles = import_circles(ROOT)
    assert not circles, "modules that import each other round a circle:\n" + "\n".join(map(str, circles))


def test_memsim_alias_is_the_same_module():
    import memsim.errors

    import memsim
    from smartmem_sim import memsim as real
    from smartmem_sim.memsim import errors

    assert memsim is real and memsim.errors is errors and memsim.MemsimError is errors.MemsimError


def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_the_checks_fail_on_a_planted_upward_import_and_circle(tmp_path):
    root = _plant(tmp_path, {
        "smartmem_sim/__init__.py": "",
        "smartmem_sim/memsim/__init__.py": "",
        "smartmem_sim/memsim/cache.py": """
            def f():
                from smartmem_sim.compiler import ir  # upward, hidden in a function
            """,
        "smartmem_sim/layout/__init__.py": "",
        "smartmem_sim/layout/expr.py": "from smartmem_sim.memsim import cache\n",  # downward: fine
        "smartmem_sim/compiler/__init__.py": "",
        "smartmem_sim/compiler/ir.py": "from . import passes\n",
        "smartmem_sim/compiler/passes.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from smartmem_sim import cli  # does not run: not an import
            def g():
                from smartmem_sim.compiler.ir import Graph  # closes a circle with ir
            """,
        "smartmem_sim/cli.py": "from smartmem_sim.compiler import ir\n",
    })
    assert upward_imports(root) == [
        "smartmem_sim.memsim.cache (memsim) imports smartmem_sim.compiler.ir (compiler) at line 3"]
    assert import_circles(root) == [["smartmem_sim.compiler.ir", "smartmem_sim.compiler.passes"]]
