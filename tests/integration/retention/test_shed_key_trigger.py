"""Storing RetentionApplied destroys the export's key in the same transaction."""

from __future__ import annotations

from typing import Any

import psycopg

from domain import topics
from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from tests.integration.helpers import complete, request
from tests.integration.ledger.test_stored_events_v2 import load_v2
from tests.integration.retention.helpers import key_row, retain_later


def test_recording_retention_sheds_the_key(
    ledger: ExportLedger, database_url: str, owner: psycopg.Connection[Any]
) -> None:
    shed, kept = request(ledger).export_id, request(ledger).export_id
    complete(ledger, shed)
    ledger.set_retention(after="1d", basis="completion", actor="admin")
    run = retain_later(ledger, database_url)
    assert run.applied == [shed] and run.old_format == 0
    row = key_row(owner, shed)
    assert row["key"] is None and row["shed_at"] is not None
    assert key_row(owner, kept)["key"] is not None


def test_an_export_without_a_key_row_is_counted_as_old_format(
    ledger: ExportLedger, database_url: str
) -> None:
    load_v2(database_url)  # exports stored before export keys: no key rows
    export_id = request(ledger).export_id
    ledger.set_retention(after="1d", basis="last-event", actor="admin")
    run = retain_later(ledger, database_url)
    assert export_id in run.applied and run.old_format == len(run.applied) - 1
    assert run.old_format >= 1
    assert retain_later(ledger, database_url).applied == []


def test_a_rolled_back_insert_keeps_the_key(
    ledger: ExportLedger, owner: psycopg.Connection[Any]
) -> None:
    export_id = request(ledger).export_id
    insert = (
        "INSERT INTO exportledger_events (originator_id, originator_version, topic, state) "
        "VALUES (%s, 99, %s, '{}')"
    )
    try:
        with owner.transaction():
            owner.execute(insert, (aggregate_id(export_id), topics.RETENTION_APPLIED))
            assert key_row(owner, export_id)["key"] is None
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert key_row(owner, export_id)["key"] is not None


def test_the_migration_names_the_topic() -> None:
    from sql import migration_scripts

    script = dict(migration_scripts())["0015_retention.sql"]
    assert f"'{topics.RETENTION_APPLIED}'" in script
