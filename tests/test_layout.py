"""The package's imports follow its wings: estimators -> loo -> engine -> optim -> utils.

Every ``import`` of every module (those inside functions too) is read with ``ast``. A
module may import from its own wing and from lower ones, never from a higher one, and
the graph of module imports has no cycle. The top-level modules (the package itself,
``solvers``, ``model_selection``, ``datasets``) sit above all wings. The leave-one-out
wing calls no private method of another object, and the names of one module's internals
appear in no other.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sklearn_iw"
# Lowest first: a wing may import its own modules and those of the wings before it.
WINGS = ("utils", "optim", "engine", "loo", "estimators")


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


def _private_calls(path: Path) -> list[str]:
    """``obj._name(...)`` calls in ``path`` on anything but ``self``, ``cls`` and the
    libraries (torch's ``_foreach`` functions)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, owner = node.func.attr, node.func.value
            private = name.startswith("_") and not name.startswith("__")
            if private and not (
                isinstance(owner, ast.Name) and owner.id in ("self", "cls", "torch")
            ):
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node.func)}")
    return found


def test_the_private_call_finder_finds_one(tmp_path):
    path = tmp_path / "module.py"
    path.write_text("def f(estimator, X):\n    self._ok(X)\n    return estimator._forward(X)\n")
    assert _private_calls(path) == ["module.py:3 estimator._forward"]


def test_leave_one_out_calls_no_private_method_of_an_estimator():
    calls = [call for path in (PACKAGE / "loo").glob("*.py") for call in _private_calls(path)]
    assert calls == []


# Internals of one module that no other module may name.
OWN_NAMES = {
    "last_step": (),
    "last_losses": (),
    "misses_": (),
    "dynamic_threshold_": (),
    "'plateau'": ("optim/_schedules.py", "optim/_registry.py"),
    '"plateau"': ("optim/_schedules.py",),
}


@pytest.mark.parametrize("name", sorted(OWN_NAMES))
def test_internal_names_stay_in_their_module(name):
    allowed = {PACKAGE / own for own in OWN_NAMES[name]}
    where = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path not in allowed and re.search(rf"(?<![\w]){re.escape(name)}", path.read_text())
    )
    assert where == []


# What torch's Optimizer and the PerSampleOptimizer protocol offer.
OPTIMIZER_PROTOCOL = {"state_dict", "load_state_dict", "sample_memory", "load_sample_memory"}


def test_leave_one_out_reads_the_optimizer_through_its_protocol_only():
    read = set()
    for path in (PACKAGE / "loo").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            owner = getattr(node, "value", None)
            if isinstance(node, ast.Attribute) and isinstance(owner, ast.Attribute):
                if owner.attr == "optimizer_":
                    read.add(node.attr)
    assert read and read <= OPTIMIZER_PROTOCOL, read - OPTIMIZER_PROTOCOL
