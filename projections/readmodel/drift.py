"""How a live read table differs from what the events say (a rebuilt shadow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from projections.readmodel.store import Connection
from sql import statement
from sql.names import LIVE_TABLE, VERSIONS_TABLE

_EXAMPLES = 20


@dataclass
class Differences:
    missing: int = 0
    extra: int = 0
    different: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None  # why the tables could not be compared row by row
    versions: int = 0  # versions of export_log_versions missing, extra or different
    every_version: bool = False  # all versions compared, not only the open ones

    @property
    def total(self) -> int:
        return self.missing + self.extra + self.different

    @property
    def drifted(self) -> bool:
        return self.total > 0 or self.versions > 0 or self.problem is not None

    def versions_summary(self) -> str:
        """What differs in export_log_versions, for people."""
        which = "version" if self.every_version else "current version"
        plural = "" if self.versions == 1 else "s"
        return f"export_log_versions differs from the events in {self.versions:,} {which}{plural}"


def compare(conn: Connection, shadow: str, examples: int = _EXAMPLES) -> Differences:
    """How the live table differs from ``shadow`` (what the events say)."""
    differing = statement("rebuild", "differences", table=LIVE_TABLE, shadow=shadow)
    found = conn.execute(differing).fetchall()
    kinds = {row[0]: row[1] for row in found}
    differences = Differences(
        missing=sum(k == "missing" for k in kinds.values()),
        extra=sum(k == "extra" for k in kinds.values()),
        different=sum(k == "different" for k in kinds.values()),
    )
    if kinds:
        sample = sorted(kinds, key=str)[:examples]
        pairs = conn.execute(
            statement("rebuild", "row_pairs", table=LIVE_TABLE, shadow=shadow), {"ids": sample}
        ).fetchall()
        kind_by_export = {
            (live or expected)["export_id"]: (live, expected) for _, live, expected in pairs
        }
        differences.examples = [
            _example(export_id, _kind(live, expected), live, expected)
            for export_id, (live, expected) in sorted(kind_by_export.items())
        ]
    return differences


def compare_versions(conn: Connection, shadow_versions: str) -> int:
    """How many versions the live history lacks, has extra, or holds otherwise."""
    row = conn.execute(
        statement("rebuild", "version_differences", table=VERSIONS_TABLE, shadow=shadow_versions)
    ).fetchone()
    return sum(row) if row else 0


def compare_open_versions(conn: Connection, shadow: str) -> int:
    """How many open versions of the live history differ from ``shadow``'s rows.

    The open versions are the read table's rows, valid from their own
    position and update time: a check of the history's present that costs
    one scan, where comparing every version costs a rebuilt history.
    """
    row = conn.execute(
        statement("rebuild", "open_version_differences", versions=VERSIONS_TABLE, shadow=shadow)
    ).fetchone()
    return int(row[0]) if row else 0


def _kind(live: Any, expected: Any) -> str:
    return "extra" if expected is None else "missing" if live is None else "different"


def _example(export_id: str, kind: str, live: Any, expected: Any) -> dict[str, Any]:
    example: dict[str, Any] = {"export_id": export_id, "kind": kind}
    if live and expected:
        example["columns"] = {
            key: {"live": live.get(key), "expected": value}
            for key, value in expected.items()
            if live.get(key) != value
        }
    return example
