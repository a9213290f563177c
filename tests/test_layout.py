"""The package's imports follow its wings: estimators -> loo -> engine -> optim.

Every ``import`` of every module (those inside functions too) is read with ``ast``. A
module may import from its own wing and from lower ones, never from a higher one, and
the graph of module imports has no cycle. The top-level modules (the package itself,
``solvers``, ``model_selection``, the Display, ``datasets``) sit above all wings.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sklearn_iw"
# Lowest first: a wing may import its own modules and those of the wings before it.
WINGS = ("optim", "engine", "loo", "estimators")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The package modules ``path`` imports (``from x import name`` counts ``x.name``
    where that is a module, else ``x``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return {module for module in found if module in MODULES}


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
GRAPH = {module: _imports(path) for module, path in MODULES.items()}


def _rank(module: str) -> int:
    """The wing's position in :data:`WINGS`; the top-level modules above all."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in WINGS:
        return WINGS.index(parts[1])
    return len(WINGS)


def test_the_walk_sees_the_wings():
    # A walk that found no imports would pass everything below.
    assert "sklearn_iw.optim.iw._qp" in GRAPH["sklearn_iw.optim.iw._importance_weights"]
    assert "sklearn_iw.engine._data" in GRAPH["sklearn_iw.estimators._base"]
    assert {_rank(module) for module in MODULES} == set(range(len(WINGS) + 1))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_higher_wing(module):
    upward = sorted(target for target in GRAPH[module] if _rank(target) > _rank(module))
    assert upward == [], f"{module} imports from a higher wing: {upward}"


def test_no_import_cycles():
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycle = path[path.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module)
