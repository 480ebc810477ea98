"""Erasure on a real database: the follower shows an erased subject's rows as erased,
a rebuild makes the same rows from the events, verify still passes and counts the
erased subject, the key table is out of the reader's reach, and no plaintext of the
erased subject is left in the read tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import psycopg
import pytest

from domain.exceptions import SubjectKeyMissing
from domain.ledger.application import ExportLedger
from domain.privacy import ERASED_TEXT
from domain.sync.rows import SourceRow
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.readmodel.store import project_batch
from projections.subject_keys import ReadModelSubjects, privacy_counts
from sql.names import ADMIN_ROLE, EVENTS_TABLE, READER_ROLE
from tests.integration.readmodel_helpers import catch_up, live_rows, run_cli

URL = "s3://exports/alice-smith-2026.csv"


def _life(ledger: ExportLedger, user: str) -> str:
    export_id = ledger.request_export(
        user_id=user, format="csv", config={"filters": {"name": f"{user}-filter"}},
        conversation_count=3,
    ).export_id  # fmt: skip
    ledger.start_processing(export_id, actor="worker")
    ledger.fail(export_id, error_message=f"{user}: quota", actor="worker")
    ledger.retry(export_id, actor=user)
    ledger.start_processing(export_id, actor="worker")
    ledger.complete(
        export_id, file_size=10, file_url=URL if user == "alice" else f"s3://{user}.csv",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )  # fmt: skip
    ledger.record_download(export_id, actor=user)
    return export_id


def _dump(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT row_to_json(t)::text FROM export_logs t UNION ALL "
            "SELECT row_to_json(v)::text FROM export_log_versions v UNION ALL "
            "SELECT row_to_json(h)::text FROM export_holds h"
        ).fetchall()
    return "\n".join(r[0] for r in rows)


def test_erasure_through_follower_rebuild_and_verify(
    ledger: ExportLedger, database_url: str
) -> None:
    alice, bob = _life(ledger, "alice"), _life(ledger, "bob")
    deleted = _life(ledger, "alice")
    ledger.delete(deleted, actor="admin")
    catch_up(database_url)
    assert "alice-filter" in _dump(database_url)

    erasure = ledger.erase_subject(
        "alice", actor="dpo", reason="art. 17", exports=ReadModelSubjects(Database(database_url))
    )
    assert erasure.erased_now and sorted(erasure.export_ids) == sorted([alice, deleted])
    catch_up(database_url)
    followed = live_rows(database_url)
    dump = _dump(database_url)
    for plain in ("alice-filter", "alice-smith", "alice: quota", '"alice"'):
        assert plain not in dump, plain
    row = next(r for r in followed.values() if r["export_id"] == alice)
    assert row["user_id"] == f"erased:{erasure.subject}"
    assert (row["file_url"], row["config"], row["error_message"]) == (
        ERASED_TEXT, {"erased": True}, None,
    )  # fmt: skip
    assert next(r for r in followed.values() if r["export_id"] == bob)["user_id"] == "bob"

    report = rebuild(Database(database_url), swap=False, history=True)
    assert not report.differences.drifted, report.differences
    checked = verify(Database(database_url))
    assert checked.ok, checked.problems.sorted()
    with psycopg.connect(database_url, options=f"-c role={ADMIN_ROLE}") as conn:
        assert privacy_counts(conn) == (1, 0)
    assert ledger.get(alice).user_id.startswith("erased:")
    history = ledger.history(alice)
    assert history[2].data["error_message"] == ERASED_TEXT


def test_a_second_erasure_over_the_cli_says_so(ledger: ExportLedger, database_url: str) -> None:
    _life(ledger, "carol")
    first = run_cli(database_url, "erase", "carol", "--reason", "asked")
    assert first.returncode == 0, first.stderr
    assert "erased subject" in first.stdout and "(1 exports)" in first.stdout
    second = run_cli(database_url, "erase", "carol")
    assert second.returncode == 0 and "was erased before" in second.stdout
    verified = run_cli(database_url, "verify")
    assert "1 data subjects erased" in verified.stdout, verified.stdout + verified.stderr


def test_erasure_is_refused_while_held_over_the_cli(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = _life(ledger, "dave")
    hold_id, _ = ledger.place_hold(export_id, matter="M-1", actor="legal")
    refused = run_cli(database_url, "erase", "dave")
    assert refused.returncode == 2 and hold_id in refused.stderr
    assert ledger.get(export_id).user_id == "dave"


def test_the_reader_cannot_read_keys_and_a_lost_key_names_its_subject(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = _life(ledger, "erin")
    subject = ledger.subject_keys.pseudonym("erin")
    with psycopg.connect(database_url, options=f"-c role={READER_ROLE}") as conn:
        for table in ("subject_keys", "ledger_subject_secret", "erased_exports"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {table}")
            conn.rollback()
    with psycopg.connect(database_url, autocommit=True) as conn:
        key = conn.execute("SELECT key FROM subject_keys WHERE subject = %s", (subject,)).fetchone()
        assert key is not None
        conn.execute("DELETE FROM subject_keys WHERE subject = %s", (subject,))
    fresh = type(ledger)(env=ledger.env)  # no key cached
    try:
        with pytest.raises(SubjectKeyMissing) as missing:
            fresh.get(export_id)
        assert subject in str(missing.value) and bytes(key[0]).hex() not in str(missing.value)
    finally:
        fresh.close()
    with Database(database_url).projector() as conn, pytest.raises(SubjectKeyMissing):
        project_batch(conn)


def _imported_row(status: str) -> SourceRow:
    now, done, failed = datetime.now(UTC), status == "completed", status == "failed"
    return SourceRow(
        id=status, export_id=str(uuid4()), user_id="alice", timestamp=now, format="csv",
        config={"filters": {"name": "alice-filter"}}, conversation_count=3,
        file_size=10 if done else None, status=status, file_url=URL if done else None,
        expires_at=now + timedelta(days=1) if done else None,
        error_message="alice: quota" if failed else None, created_at=now, updated_at=now,
    )  # fmt: skip


def test_an_imported_export_is_erased_like_any_other(
    ledger: ExportLedger, database_url: str
) -> None:
    """An Imported event seals the row's user, config, file and error under its key."""
    rows = [_imported_row("completed"), _imported_row("failed")]
    assert [r.outcome for r in ledger.sync_rows(rows)] == ["created", "created"]
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            f"SELECT string_agg(convert_from(state, 'UTF8'), ' ') FROM {EVENTS_TABLE}"
        ).fetchone()
    assert stored is not None
    for plain in ("alice-filter", "alice-smith", "alice: quota", '"alice"'):
        assert plain not in stored[0], plain

    catch_up(database_url)
    erasure = ledger.erase_subject(
        "alice", actor="dpo", reason=None, exports=ReadModelSubjects(Database(database_url))
    )
    assert len(erasure.export_ids) == 2
    catch_up(database_url)
    dump = _dump(database_url)
    for plain in ("alice-filter", "alice-smith", "alice: quota", '"alice"'):
        assert plain not in dump, plain
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted
    assert verify(Database(database_url)).ok
