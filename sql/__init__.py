"""The project's SQL, kept in plain ``.sql`` files and loaded once by name.

``migrations/NNNN_*.sql`` are applied in order by ``export-ledger migrate``; each
is idempotent. ``queries/*.sql`` hold named queries, each introduced by a
``-- name: query_name`` line, as procrastinate does.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def migration_scripts() -> tuple[tuple[str, str], ...]:
    """(file name, SQL text) of every migration, in order."""
    folder = files(__name__) / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return tuple((name, (folder / name).read_text(encoding="utf-8")) for name in names)


@cache
def queries(module: str) -> dict[str, str]:
    """The named queries of ``queries/<module>.sql``."""
    text = (files(__name__) / "queries" / f"{module}.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise ValueError(f"query {name!r} defined twice in {module}.sql")
        found[name] = body.strip().rstrip(";")
    return found


def query(module: str, name: str) -> str:
    try:
        return queries(module)[name]
    except KeyError:
        raise KeyError(f"no query {name!r} in sql/queries/{module}.sql") from None
