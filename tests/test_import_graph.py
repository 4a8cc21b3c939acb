"""The project's modules import each other without a cycle (issue 17): a reader can follow a
path from the CLI down to the store without crossing back up a layer. Every import counts,
at the top of a module or inside a function; those only for type checkers do not."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ledger", "projections", "commands")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_checking = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                     and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                     for node in ast.walk(block)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, modules) - {name} for name, path in paths.items()}


def test_no_import_cycle_among_the_projects_modules():
    graph = import_graph()
    assert "commands.cli" in graph and graph["commands.cli"], "the graph was read"
    cycles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_write_side_does_not_import_the_read_side():
    graph = import_graph()
    crossing = {(module, target) for module, targets in graph.items() if module.startswith("ledger")
                for target in targets if target.startswith(("projections", "commands"))}
    assert crossing == set()


def test_command_handling_does_not_import_the_read_side():
    """A command is load, check, record, save: the handlers, the bus and the worker pool
    compute an invoice through the write side's bill (`ledger.billing`), never a projection."""
    graph = import_graph()
    writers = ("commands.handlers", "commands.bus", "commands.parallel", "commands.models", "commands.memory")
    reach: set[str] = set()
    todo = [module for module in writers if module in graph]
    assert len(todo) == len(writers), "every command-handling module was read"
    while todo:
        module = todo.pop()
        for target in graph[module] - reach:
            reach.add(target)
            todo.append(target)
    assert {module for module in reach if module.startswith("projections")} == set()
