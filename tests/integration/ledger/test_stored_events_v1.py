"""Events stored by the ledger's first event shapes still load, fold and verify.

``tests/fixtures/stored_events_v1.json`` holds events as the ledger stored them
before event shapes changed (every event type, an idempotency claim), and the
export_logs rows they folded into then. Loaded into a fresh database as they are,
they must load as aggregates, fold into the same rows, take new commands, and
verify once sealed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api.wiring.signing import Ed25519Signer
from domain.ledger.application import ExportLedger
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.subject_keys import privacy_summary
from sql.names import EVENTS_TABLE, LIVE_TABLE
from tests.integration.tlog.test_seal import seal_all

FIXTURE = Path(__file__).parents[2] / "fixtures" / "stored_events_v1.json"
COLUMNS = (
    "export_id", "user_id", "timestamp", "format", "config", "conversation_count", "file_size",
    "status", "file_url", "expires_at", "error_message", "created_at", "updated_at", "version",
    "position",
)  # fmt: skip


@pytest.fixture
def stored(database_url: str) -> dict[str, Any]:
    """The fixture's events, inserted into this test's database as they were stored."""
    fixture: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    with psycopg.connect(database_url) as conn:
        insert_stored(conn, fixture["events"])
    return fixture


def insert_stored(conn: psycopg.Connection[Any], events: list[dict[str, Any]]) -> None:
    """Stored events as a fixture holds them, their positions and bytes kept."""
    for e in events:
        conn.execute(
            f"INSERT INTO {EVENTS_TABLE} (notification_id, originator_id, originator_version,"
            " topic, state) VALUES (%s, %s, %s, %s, convert_to(%s::jsonb::text, 'UTF8'))",
            (e["position"], e["originator_id"], e["originator_version"], e["topic"],
             Jsonb(e["state"])),
        )  # fmt: skip
    conn.execute(
        f"SELECT setval(pg_get_serial_sequence('{EVENTS_TABLE}', 'notification_id'), %s)",
        (max(e["position"] for e in events),),
    )


def live_rows(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {LIVE_TABLE} ORDER BY export_id"
        ).fetchall()
    return [{k: _text(v) for k, v in zip(COLUMNS, row, strict=True)} for row in found]


def _text(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def test_old_events_load_as_aggregates(stored: dict[str, Any], ledger: ExportLedger) -> None:
    for row in stored["export_logs"]:
        state = ledger.get(row["export_id"])
        assert (state.status, state.user_id, state.config) == (
            row["status"], row["user_id"], row["config"],
        )  # fmt: skip
        assert state.requested_at == state.created_at
        assert len(ledger.history(row["export_id"])) == row["version"]


def test_old_events_fold_into_the_rows_they_folded_into(
    stored: dict[str, Any], database_url: str
) -> None:
    rebuild(Database(database_url), swap=True)
    assert live_rows(database_url) == stored["export_logs"]


def test_old_exports_take_new_commands(stored: dict[str, Any], ledger: ExportLedger) -> None:
    completed = next(r for r in stored["export_logs"] if r["status"] == "completed")
    state = ledger.change_expiry(completed["export_id"], expires_at=None)
    assert state.version == completed["version"] + 1


def test_old_events_verify_once_sealed(
    stored: dict[str, Any], database_url: str, signer: Ed25519Signer
) -> None:
    rebuild(Database(database_url), swap=True)
    seal_all(database_url, signer)
    report = verify(Database(database_url))
    assert report.ok, report.problems.sorted()
    assert report.events == len(stored["events"])


def test_a_retry_of_a_claim_stored_in_the_clear_makes_no_twin(
    stored: dict[str, Any], ledger: ExportLedger, database_url: str
) -> None:
    requested = next(e for e in stored["events"] if e["position"] == 9)["state"]
    again = ledger.request_export(
        user_id="bob",
        format="jsonl",
        config=requested["config"],
        conversation_count=42,
        idempotency_key="key-1",
    )
    assert again.export_id == "exp_01M8RDYYTF423D7J5T57NY2G0F"
    with psycopg.connect(database_url) as conn:
        assert privacy_summary(conn) == (
            "1 idempotency claims stored before claims were keyed hold their keys in the clear"
        )
