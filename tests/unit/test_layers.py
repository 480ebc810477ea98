"""The project's modules import one another without a cycle, and only down the layers.

``sql`` imports nothing of ours; ``domain`` only ``domain``; ``projections`` only ``domain``
and ``sql``; ``api`` any of them. Within each, every subpackage (and loose module) says what
else of ours it may import, in :data:`MAY_IMPORT`: the log's formats (``domain.tlog``) import
nothing else of ours, the read model (``projections.readmodel``) nothing of the sealed log,
the console nothing of the routes or the app that mounts it. Every module falls under one
entry: its longest prefix there. A module may always import within its own entry.

Every import statement counts, those inside functions too (read with ``ast``, nothing run).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "projections", "api", "sql")

_DOMAIN_TOP = {"domain.exceptions", "domain.privacy", "domain.topics"}

# What each entry may import of ours, besides itself; "domain" stands for all of it.
MAY_IMPORT: dict[str, set[str]] = {
    "sql": set(),
    "domain.exceptions": set(),
    "domain.topics": set(),
    "domain.privacy": {"domain.exceptions", "domain.topics"},
    "domain.tlog": set(),
    "domain.exports": _DOMAIN_TOP,
    "domain.sync": {*_DOMAIN_TOP, "domain.exports"},
    "domain.retention": {*_DOMAIN_TOP, "domain.exports"},
    "domain.ledger": {*_DOMAIN_TOP, "domain.exports", "domain.retention", "domain.sync"},
    "projections.db": {"domain.exceptions", "sql"},
    "projections.export_keys": {*_DOMAIN_TOP, "sql"},
    "projections.subject_keys": {*_DOMAIN_TOP, "projections.db", "projections.export_keys", "sql"},
    "projections.readmodel": {
        *_DOMAIN_TOP,
        "domain.exports",
        "domain.retention",
        "domain.sync",
        "projections.db",
        "projections.subject_keys",
        "sql",
    },
    "projections.reads": {"domain", "projections.db", "projections.readmodel", "sql"},
    "projections.tlog": {"domain", "projections.db", "sql"},
    "projections.audit": {
        "domain",
        "projections.db",
        "projections.readmodel",
        "projections.subject_keys",
        "projections.tlog",
        "sql",
    },
    "projections.importing": {"domain", "projections.db", "projections.readmodel", "sql"},
    "projections.streams": {
        "domain",
        "projections.db",
        "projections.subject_keys",
        "projections.tlog",
        "sql",
    },
    "projections.sinks": {"domain", "projections.db", "projections.streams", "sql"},
    "projections.projector": {
        "domain",
        "projections.db",
        "projections.importing",
        "projections.readmodel",
        "projections.sinks",
        "projections.tlog",
        "sql",
    },
    "api.wiring": {"domain", "projections", "sql"},
    "api.witness": {"domain.tlog", "projections.tlog"},
    "api.http": {"api.wiring", "domain", "projections", "sql"},
    "api.http.console": {
        "api.http.deps",
        "api.http.ownership",
        "api.http.problems",
        "api.wiring",
        "domain",
        "projections",
        "sql",
    },
    "api.cli": {"api.http", "api.wiring", "api.witness", "domain", "projections", "sql"},
}


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


def entry_of(module: str) -> str | None:
    """The longest entry of :data:`MAY_IMPORT` that ``module`` falls under."""
    found = [entry for entry in MAY_IMPORT if within(module, entry)]
    return max(found, key=len) if found else None


def test_every_module_falls_under_an_entry() -> None:
    loose = sorted(name for name in graph() if name not in PACKAGES and entry_of(name) is None)
    assert not loose, "modules no entry of MAY_IMPORT covers: " + ", ".join(loose)


def test_layers() -> None:
    broken = []
    for importer, targets in sorted(graph().items()):
        entry = entry_of(importer)
        if entry is None:
            continue
        allowed = {entry, *MAY_IMPORT[entry]}
        for target in sorted(targets):
            if not any(within(target, package) for package in allowed):
                broken.append(f"{importer} ({entry}) imports {target}")
    assert not broken, "\n".join(broken)


def test_the_walk_sees_module_and_function_level_imports() -> None:
    edges = graph()
    assert "api.http.console.mount" in edges["api.http.app"]  # at module level
    assert "api.http.app" in edges["api.cli.server"]  # inside a function
    assert "sql.names" in edges["projections.readmodel.follower"]  # ``from sql.names import ...``
    assert "domain.tlog.merkle" in edges["projections.tlog.sealer"]  # ``from domain.tlog import``


def test_find_cycle() -> None:
    assert find_cycle({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset()}) is None
    cycle = find_cycle({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})})
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}


def test_no_import_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
