"""The package's folders read as the pipeline: each imports only from the floors below it.

Every relative import counts, at module level or inside a function: a lazy import that
climbs is still a dependency a reader has to hold in mind."""

import ast
import os

import adjoint

PACKAGE = os.path.dirname(adjoint.__file__)

# Lowest first. A module may import from its own floor's unit or any unit below it.
FLOORS = [
    ("errors",),
    ("ir",),
    ("primitives",),
    ("analysis",),
    ("frontend",),
    ("transforms",),
    ("optimize",),
    ("lower",),
    ("pipeline", "options", "backends"),
    ("api",),
    ("testing",),
    ("cli",),
    ("__init__", "__main__"),
]
FLOOR = {unit: level for level, units in enumerate(FLOORS) for unit in units}


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, PACKAGE)[:-3].split(os.sep)
                yield path, parts


def _imports(path, parts):
    """The units (first component under adjoint/) that the module at `parts` imports."""
    package = parts[:-1]
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                yield target[0], node.lineno
            else:                                   # from . import x at the top
                for alias in node.names:
                    yield alias.name if alias.name != "__version__" else "__init__", node.lineno


def test_every_unit_has_a_floor():
    units = {parts[0] if len(parts) > 1 else parts[0] for _, parts in _modules()}
    assert units <= set(FLOOR), units - set(FLOOR)


def test_imports_only_go_down():
    climbing = []
    for path, parts in _modules():
        unit = parts[0]
        for imported, line in _imports(path, parts):
            if imported == "__init__":
                continue                            # __version__, defined before any import
            if FLOOR[imported] > FLOOR[unit]:
                climbing.append(f"{os.path.relpath(path, PACKAGE)}:{line} imports {imported}")
    assert not climbing, "\n".join(climbing)


def test_no_import_cycle_between_modules():
    graph = {}
    for path, parts in _modules():
        name = ".".join(parts)
        package = parts[:-1]
        targets = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - (node.level - 1)]
                module = base + (node.module.split(".") if node.module else [])
                for alias in node.names:
                    candidate = ".".join(module + [alias.name])
                    targets.add(candidate if os.path.exists(os.path.join(PACKAGE, *candidate.split(".")) + ".py")
                                else ".".join(module))
        graph[name] = {t for t in targets if t and t != name}
    seen, on_stack, cycles = set(), [], []

    def visit(node):
        if node in on_stack:
            cycles.append(on_stack[on_stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        on_stack.append(node)
        for target in sorted(graph.get(node, ())):
            visit(target)
        on_stack.pop()

    for node in sorted(graph):
        visit(node)
    real = [c for c in cycles if not any(part.endswith("__init__") or part == "" for part in c)]
    assert not real, real
