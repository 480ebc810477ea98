"""The project's modules import one another without a cycle, and only down the layers:

- ``sql`` imports nothing of ours; ``domain`` only ``domain``;
- ``projections`` only ``domain`` and ``sql``;
- in ``api``, ``api.wiring`` none of ``api.http``, ``api.cli``, ``api.console``; and
  ``api.http`` neither ``api.cli`` nor ``api.console``, but for the app mounting the console.

Every import statement counts, those inside functions too (read with ``ast``, nothing run).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "projections", "api", "sql")

# What each top-level package may import of ours, besides itself.
MAY_IMPORT = {
    "sql": set(),
    "domain": set(),
    "projections": {"domain", "sql"},
    "api": {"domain", "projections", "sql"},
}
# (low, high): no module under low may import one under high ...
FORBIDDEN = [
    ("api.wiring", "api.http"),
    ("api.wiring", "api.cli"),
    ("api.wiring", "api.console"),
    ("api.http", "api.cli"),
    ("api.http", "api.console"),
]
# ... but for these (importing module, imported module).
EXCEPTIONS = {("api.http.app", "api.console.mount")}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_by(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{parent}.{base}".rstrip(".")
            # ``from a import b`` imports the module a.b when there is one, else a.
            targets.update(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            )
    ours: set[str] = set()
    for target in targets:
        while target and target not in known:  # ``import a.b.c`` of a name in a.b
            target = target.rpartition(".")[0]
        if target and target != name:
            ours.add(target)
    return ours


@cache
def graph() -> dict[str, frozenset[str]]:
    found = modules()
    return {name: frozenset(imported_by(name, path, set(found))) for name, path in found.items()}


def find_cycle(edges: dict[str, frozenset[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for following in sorted(edges.get(node, ())):
            if (cycle := visit(following)) is not None:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(edges):
        if (cycle := visit(start)) is not None:
            return cycle
    return None


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_walk_sees_module_and_function_level_imports() -> None:
    edges = graph()
    assert "api.console.mount" in edges["api.http.app"]  # at module level
    assert "api.http.app" in edges["api.cli.server"]  # inside a function
    assert "sql.names" in edges["projections.follower"]  # ``from sql.names import ...``
    assert "domain.merkle" in edges["projections.sealer"]  # ``from domain import merkle``


def test_find_cycle() -> None:
    assert find_cycle({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset()}) is None
    cycle = find_cycle({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})})
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}


def test_no_import_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_layers() -> None:
    broken = []
    for importer, targets in sorted(graph().items()):
        layer = importer.partition(".")[0]
        for target in sorted(targets):
            if target.partition(".")[0] not in {layer, *MAY_IMPORT[layer]}:
                broken.append(f"{importer} imports {target}")
            elif (importer, target) not in EXCEPTIONS and any(
                within(importer, low) and within(target, high) for low, high in FORBIDDEN
            ):
                broken.append(f"{importer} imports {target}")
    assert not broken, "\n".join(broken)
