"""The package's shape, read from its source: no import cycles, mlflow behind two
modules, models used through their public contract, no command importing another,
modules under 300 lines and functions under 60."""

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
    assert set(users) == {"recsys.tracking", "recsys.serving", "recsys.serving.model_code",
                          "recsys.serving.server"}, users


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
    """Commands (the CLI's table) share steps through the other pipelines modules, never each other."""
    from pipelines.cli import COMMANDS

    known = modules()
    commands = [f"pipelines.{module}" for module, _ in COMMANDS.values()]
    assert set(commands) <= set(known)
    crossing = {name: sorted(imports(known[name], known) & set(commands)) for name in commands}
    assert {name: found for name, found in crossing.items() if found} == {}


#: the size a reader takes in at once
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60


def test_no_module_is_over_300_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def long_functions(source: str) -> dict[str, int]:
    """Functions and methods (nested ones too) over :data:`MAX_FUNCTION_LINES`, decorators and docstring included."""
    return {node.name: n for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (n := node.end_lineno - min([node.lineno] + [d.lineno for d in node.decorator_list]) + 1)
            > MAX_FUNCTION_LINES}


def test_no_function_is_over_60_lines():
    long = {f"{name}.{function}": n for name, path in modules().items()
            for function, n in long_functions(path.read_text()).items()}
    assert long == {}


def test_a_long_function_is_found():
    body = "".join(f"    x{k} = {k}\n" for k in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def short():\n    pass\n\n\ndef long():\n{body}") == {"long": MAX_FUNCTION_LINES + 1}


def test_uploaded_photos_never_go_through_a_file():
    """Uploads (explorer, served model) are decoded in memory by recsys.photo_scoring: no temporary files there."""
    known = modules()
    writers = sorted(name for name in known if name.startswith(("recsys.serving", "recsys.explorer", "recsys.photo"))
                     and "tempfile" in {alias.name for node in ast.walk(ast.parse(known[name].read_text()))
                                        if isinstance(node, ast.Import) for alias in node.names})
    assert writers == []


def test_the_readme_architecture_names_every_module():
    """Each module but the commands (one per `recsys` command, named after it) is named in the README's table."""
    from pipelines.cli import COMMANDS

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Architecture"):readme.index("### The hybrid model")]
    commands = {f"pipelines.{module}" for module, _ in COMMANDS.values()}
    unnamed = sorted(name for name, path in modules().items() if path.name != "__init__.py" and name not in commands
                     and f"`{name.rsplit('.', 1)[1]}`" not in section)
    assert unnamed == []
