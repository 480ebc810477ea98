"""A ledger stored before export keys still opens, folds, rebuilds and verifies.

``tests/fixtures/stored_events_v2.json`` holds the events, subject keys, pseudonym
secret and erased exports a ledger left when every personal field was sealed under its
subject's key (no format marker), and the read rows they folded into then (made by
tests/fixtures/make_stored_events_v2.py). Loaded as they were stored, into a database
migrated by today's code, their values open, their rows fold again, a rebuild agrees,
verify passes once sealed, and a retry of the request that had an idempotency key
finds its export instead of making a twin. Their exports keep the subject's key for
the events they take after (they have no export key), beside new exports sealed under
their own keys, and a subject access report over both verifies.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from api.wiring.signing import Ed25519Signer
from domain import topics
from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from domain.privacy import SEALED
from projections.audit.export_check import check_export, read_lines
from projections.audit.subject_report import report_batches
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.tlog.checkpoints import checkpoint
from sql.names import ADMIN_ROLE, EVENTS_TABLE, LIVE_TABLE
from tests.integration.readmodel_helpers import catch_up
from tests.integration.tlog.test_seal import seal_all

FIXTURE = Path(__file__).parents[2] / "fixtures" / "stored_events_v2.json"
COLUMNS = (
    "export_id", "user_id", "format", "config", "conversation_count", "file_size", "status",
    "file_url", "error_message", "version", "position",
)  # fmt: skip


def load_v2(url: str) -> dict[str, Any]:
    """The fixture into ``url``'s database, each event's bytes as stored."""
    fixture: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE ledger_subject_secret SET secret = decode(%s, 'hex')",
            (fixture["subject_secret_hex"],),
        )
        for k in fixture["subject_keys"]:
            key = None if k["key"] is None else base64.b64decode(k["key"])
            conn.execute(
                "INSERT INTO subject_keys (subject, key, erased_at) VALUES (%s, %s, %s)",
                (k["subject"], key, k["erased_at"]),
            )
        for row in fixture["erased_exports"]:
            conn.execute(
                "INSERT INTO erased_exports (aggregate_id, subject) VALUES (%s, %s)",
                (row["aggregate_id"], row["subject"]),
            )
        for e in fixture["events"]:
            conn.execute(
                f"INSERT INTO {EVENTS_TABLE} (notification_id, originator_id,"
                " originator_version, topic, state) VALUES (%s, %s, %s, %s,"
                " convert_to(%s, 'UTF8'))",
                (e["position"], e["originator_id"], e["originator_version"], e["topic"],
                 e["state"]),
            )  # fmt: skip
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{EVENTS_TABLE}', 'notification_id'), %s)",
            (max(e["position"] for e in fixture["events"]),),
        )
    return fixture


@pytest.fixture
def v2(database_url: str) -> dict[str, Any]:
    return load_v2(database_url)


def rows(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {LIVE_TABLE} ORDER BY export_id"
        ).fetchall()


def test_old_values_open_in_the_aggregates(v2: dict[str, Any], ledger: ExportLedger) -> None:
    exports = v2["exports"]
    done = ledger.get(exports["completed"])
    assert (done.user_id, done.config, done.file_url) == (
        "alice", {"filters": {"name": "alice-filter"}}, "s3://exports/alice-2026.csv",
    )  # fmt: skip
    failed = ledger.history(exports["completed"])[2]
    assert failed.data["error_message"] == "alice: quota exceeded"
    deleted = ledger.history(exports["deleted"])[-1]
    assert deleted.data["reason"] == "alice asked: wrong scope"
    assert ledger.get(exports["imported"]).error_message == "bob: seed failed"
    erased = ledger.get(exports["erased"])
    assert erased.user_id.startswith("erased:") and erased.config == {"erased": True}


def test_old_events_fold_rebuild_and_verify(
    v2: dict[str, Any], database_url: str, signer: Ed25519Signer
) -> None:
    catch_up(database_url)
    assert rows(database_url) == v2["export_logs"]
    report = rebuild(Database(database_url), swap=False, history=True)
    assert not report.differences.drifted, report.differences
    rebuild(Database(database_url), swap=True)
    assert rows(database_url) == v2["export_logs"]
    seal_all(database_url, signer)
    checked = verify(Database(database_url))
    assert checked.ok, checked.problems.sorted()
    assert checked.events == len(v2["events"])


def test_old_exports_take_new_commands(
    v2: dict[str, Any], ledger: ExportLedger, database_url: str
) -> None:
    imported = v2["exports"]["imported"]
    ledger.retry(imported, actor="bob")
    ledger.start_processing(imported, actor="worker")
    state = ledger.complete(imported, file_size=7, file_url="s3://exports/bob-again.csv")
    assert (state.user_id, state.file_url, state.version) == (
        "bob", "s3://exports/bob-again.csv", 4,
    )  # fmt: skip
    assert ledger.get(imported).config == {"filters": {"name": "bob-seed"}}
    with psycopg.connect(database_url) as conn:  # it has no key: the old format goes on
        assert conn.execute("SELECT count(*) FROM export_keys").fetchone() == (0,)
        stored = conn.execute(
            f"SELECT convert_from(state, 'UTF8')::jsonb FROM {EVENTS_TABLE}"
            " WHERE originator_id = %s AND originator_version = 4",
            (aggregate_id(imported),),
        ).fetchone()
    assert stored is not None and set(stored[0]["file_url"]) == {SEALED}


def test_old_and_new_exports_side_by_side_rebuild_verify_and_report(
    v2: dict[str, Any], ledger: ExportLedger, database_url: str, signer: Ed25519Signer
) -> None:
    new = ledger.request_export(
        user_id="alice", format="json", config={"scope": "all"}, conversation_count=1
    ).export_id
    ledger.start_processing(new, actor="worker")
    ledger.complete(new, file_size=1, file_url="s3://exports/alice-new.json")
    catch_up(database_url)
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted
    seal_all(database_url, signer)
    checked = verify(Database(database_url))
    assert checked.ok, checked.problems.sorted()
    with Database(database_url).connect(ADMIN_ROLE) as conn, conn.transaction():
        records = [r for batch in report_batches(conn, "alice") for r in batch]
        signed = checkpoint(conn, checked.events)
        assert signed is not None
        lines = [orjson.dumps(r).decode() for r in records]
        report = check_export(conn, read_lines(lines), signed)
    assert report.ok and report.lines == len(records), report.problems.sorted()
    by = {r["export_id"]: r for r in records if r["type"] == "Requested"}
    assert by[v2["exports"]["completed"]]["sealed_by"]["config"] == "subject"
    assert "export_key" not in by[v2["exports"]["completed"]]
    assert by[new]["sealed_by"]["config"] == "export" and by[new]["export_key"]
    assert by[new]["opened"]["config"] == {"scope": "all"}


def test_a_retry_across_the_upgrade_makes_no_twin(
    v2: dict[str, Any], ledger: ExportLedger, database_url: str
) -> None:
    again = ledger.request_export(
        user_id="alice",
        format="csv",
        config={"filters": {"name": "alice-filter"}},
        conversation_count=3,
        idempotency_key="alice-key-1",
    )
    assert again.export_id == v2["exports"]["completed"]
    with psycopg.connect(database_url) as conn:
        made = conn.execute(
            f"SELECT count(*) FROM {EVENTS_TABLE} WHERE topic = %s", (topics.REQUESTED,)
        ).fetchone()
    assert made is not None and made[0] == 4
