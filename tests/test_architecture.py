"""The README's architecture holds: imports go one way (no cycles, even for type hints),
only the commands print through `pmcrm.cli`, and the sandbox is written without the
connector (a mistake in the declarations must fail a test, not be mirrored)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The pmcrm modules `path` imports (an imported name that is a module counts as it)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


GRAPH = {}
_MODULES = {module_name(path): path for path in SRC.rglob("*.py")}
for _name, _path in _MODULES.items():
    GRAPH[_name] = imports_of(_path, set(_MODULES)) - {_name}


def test_there_are_no_import_cycles():
    def visit(module: str, path: list[str]) -> None:
        for target in GRAPH[module]:
            assert target not in path, " -> ".join(path[path.index(target):] + [target])
            if target not in done:
                visit(target, path + [target])
        done.add(module)

    done: set[str] = set()
    for module in GRAPH:
        visit(module, [module])


COMMANDS = ("pmcrm.cli", "pmcrm.__main__")  # `python -m pmcrm` is the command too


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m not in COMMANDS and not m.startswith(("pmcrm.cli.", "pmcrm.sandbox"))))
def test_the_library_never_imports_the_commands(module):
    assert not {t for t in GRAPH[module] if t == "pmcrm.cli" or t.startswith("pmcrm.cli.")}


def test_only_commands_import_the_terminal_output():
    users = {m for m, targets in GRAPH.items() if "pmcrm.cli.output" in targets}
    assert users and all(m.startswith("pmcrm.cli.") for m in users)


def test_the_sandbox_imports_nothing_of_the_connector():
    for module, targets in GRAPH.items():
        if module.startswith("pmcrm.sandbox"):
            assert all(t.startswith("pmcrm.sandbox") for t in targets), module


def test_no_two_modules_share_a_file_name():
    names = [path.name for path in SRC.rglob("*.py") if path.name not in ("__init__.py", "__main__.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
