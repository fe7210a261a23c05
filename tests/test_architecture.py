"""The package's shape, read from its source: no import cycles, mlflow behind two
modules, models used through their public contract, no command importing another,
modules under 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGES = ("recsys", "pipelines")


def modules() -> dict[str, Path]:
    """Module name -> file, for every module of recsys and pipelines."""
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that ``path`` imports anywhere (at the top or inside a function):
    ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                out.add(target if target in known else node.module)
    return {name for name in out if name in known}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    assert cycles(graph) == []


def test_a_cycle_is_found_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_tracking_and_serving_import_mlflow():
    known = modules()
    users = sorted(name for name, path in known.items() for node in ast.walk(ast.parse(path.read_text()))
                   if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "mlflow" for a in node.names))
                   or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mlflow"))
    assert set(users) == {"recsys.tracking", "recsys.serving", "recsys.serving.model_code"}, users


def test_nothing_outside_the_models_reads_private_attributes():
    """Outside recsys/models, ``x._name`` only on ``self`` or ``cls``: jobs use the public model contract."""
    offenders = []
    for name, path in modules().items():
        if name.startswith("recsys.models"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_no_command_imports_another():
    known = modules()
    shared = {"pipelines", "pipelines.cli", "pipelines.common", "pipelines.config", "pipelines.tracked"}
    commands = [name for name in known if name.startswith("pipelines.") and name not in shared]
    crossing = {name: sorted(imports(known[name], known) & set(commands)) for name in commands}
    assert {name: found for name, found in crossing.items() if found} == {}


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}
