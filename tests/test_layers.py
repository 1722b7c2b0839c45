"""The shape of the house, checked: dependencies point one way (web -> live -> inventory), there
is no import cycle anywhere in the tree (counting imports inside functions too, so none can be
dodged by importing late), and no route module imports another route module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("inventory", "live", "web")
LAYER = {"inventory": 0, "live": 1, "web": 2}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {t for t in targets if t in modules}
        graph[name] = found - {name}
    return graph


def test_dependencies_point_one_way() -> None:
    wrong = sorted(
        (module, target)
        for module, targets in _imports().items()
        for target in targets
        if LAYER[target.split(".")[0]] > LAYER[module.split(".")[0]]
    )
    assert wrong == [], f"imports against web -> live -> inventory: {wrong}"


def test_no_import_cycle_anywhere() -> None:
    graph = _imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            # A package's __init__ re-exporting its own modules is not a cycle of meaning.
            if module == target.rsplit(".", 1)[0] and target.startswith(module + "."):
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target] if target in path else [module, target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == [], f"import cycles: {cycles}"


def test_no_route_module_imports_another() -> None:
    crossing = sorted(
        (module, target)
        for module, targets in _imports().items() if module.startswith("web.routes.")
        for target in targets if target.startswith("web.routes.") and target != "web.routes"
    )
    assert crossing == [], crossing
