"""Helpers of the point-in-time tests: export_log_versions as stored, as the
domain says it should be, and export_logs as of a moment two ways (the API's
as-of list, and the domain's ``state_as_of`` of each export)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from domain.exceptions import ExportNotFound
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.fold import COLUMNS, VERSION_COLUMNS
from projections.reads.read_store import ListFilters, Principal, ReadStore
from tests.integration.readmodel_helpers import state_row

Row = dict[str, Any]
Key = tuple[UUID, int]
ADMIN = Principal(user_id="auditor", admin=True)


def stored_versions(url: str, table: str = "export_log_versions") -> dict[Key, Row]:
    """Every version in the history table, read as the owner."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
    return {(r["id"], r["version"]): {c: r[c] for c in VERSION_COLUMNS} for r in rows}


def domain_versions(ledger: ExportLedger, export_ids: Iterable[str]) -> dict[Key, Row]:
    """The versions each export should have, from the domain alone: its state
    after each event but a Deleted one, valid from that event's position and
    time until the next event's."""
    found: dict[Key, Row] = {}
    for export_id in export_ids:
        entries = ledger.history(export_id)
        for index, entry in enumerate(entries):
            if entry.type == "Deleted":
                continue
            state = ledger.state_as_of(export_id, version=entry.version)
            after = entries[index + 1] if index + 1 < len(entries) else None
            row = state_row(state, entry.position)
            row.update(
                valid_from=entry.position,
                valid_from_time=entry.timestamp,
                valid_to=after.position if after else None,
                valid_to_time=after.timestamp if after else None,
            )
            found[(row["id"], entry.version)] = row
    return found


def states_as_of(ledger: ExportLedger, export_ids: Iterable[str], at: datetime) -> dict[str, Row]:
    """Each export that was in the table at ``at``, per ``ledger.state_as_of``
    (positions left out: the state does not carry them)."""
    found: dict[str, Row] = {}
    for export_id in export_ids:
        try:
            state = ledger.state_as_of(export_id, at=at)
        except ExportNotFound:  # not requested yet
            continue
        if state.status != "deleted":
            found[export_id] = {k: v for k, v in state_row(state, None).items() if k != "position"}
    return found


def listed_as_of(
    url: str, at: datetime, principal: Principal = ADMIN, **filters: Any
) -> dict[str, Row]:
    """The API's as-of list, every page of it, through ``ReadStore.page``."""
    store = ReadStore(Database(url), size=1).open()
    found: dict[str, Row] = {}
    try:
        page = 1
        while True:
            result = store.page(principal, ListFilters(limit=200, page=page, as_of=at, **filters))
            for row in result.rows[:200]:
                found[row["export_id"]] = {c: row[c] for c in COLUMNS if c != "position"}
            if len(result.rows) <= 200:
                return found
            page += 1
    finally:
        store.close()


def table_rows(url: str, table: str) -> dict[str, Row]:
    """A table of export_logs' shape, by export id (positions left out)."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
    return {r["export_id"]: {c: r[c] for c in COLUMNS if c != "position"} for r in rows}


def differences(actual: dict[Any, Row], expected: dict[Any, Row]) -> list[str]:
    out = [f"missing {k}" for k in expected.keys() - actual.keys()]
    out += [f"extra {k}" for k in actual.keys() - expected.keys()]
    for key in actual.keys() & expected.keys():
        for column, value in expected[key].items():
            if actual[key][column] != value:
                out.append(f"{key}.{column}: {actual[key][column]!r} != {value!r}")
    return sorted(out)
