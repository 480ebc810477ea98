"""export_log_versions: the projection keeps every version of every export_logs
row, the rebuild makes the same history, and the list as of a moment agrees
with the domain's own replay of each export (``ExportLedger.state_as_of``).

The property test runs random commands (the equivalence test's steps: legal
moves mostly, refused ones, repeated idempotency keys, deletes) with folds in
between, then checks, against expectations built from the domain alone:
the stored versions; ``rebuild --check`` finds the history in order; a
rebuild reproduces it exactly; and at moments on, just before and just after
event timestamps, the as-of list, each export's ``state_as_of`` and a
``rebuild --as-of`` snapshot table all say the same.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.wiring.database import open_ledger
from domain.exceptions import SnapshotTableRefused
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.follower import Follower
from projections.readmodel.history import snapshot
from projections.readmodel.rebuild import rebuild
from projections.reads.read_store import Principal
from tests.integration.history_helpers import (
    Key,
    Row,
    differences,
    domain_versions,
    listed_as_of,
    states_as_of,
    stored_versions,
    table_rows,
)
from tests.integration.readmodel.test_follower_crash import Writer
from tests.integration.readmodel.test_read_model_equivalence import run_steps
from tests.integration.readmodel_helpers import (
    catch_up,
    complete,
    fresh_database,
    head,
    kill_hard,
    request,
    run_cli,
    start_cli,
    tracking,
    wait_backends_gone,
    wait_until,
)

MICROSECOND = timedelta(microseconds=1)


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    steps=st.integers(1, 30),
    batch_size=st.sampled_from([1, 3, 1000]),
)
def test_history_and_as_of_lists_agree_with_the_domain(
    admin_url: str, template_db: str, data: st.DataObject, steps: int, batch_size: int
) -> None:
    with fresh_database(admin_url, template_db) as url:
        ledger = open_ledger(Database(url))
        try:
            exports = run_steps(ledger, url, data, steps)
            follower = Follower(Database(url), batch_size=batch_size)
            with Database(url).projector() as conn:
                follower.catch_up(conn)
            expected = domain_versions(ledger, exports)
            assert differences(stored_versions(url), expected) == []

            for history in (False, True):
                report = rebuild(Database(url), swap=False, history=history)
                assert report.differences.versions == 0
                assert not report.differences.drifted
            rebuild(Database(url))
            assert differences(stored_versions(url), expected) == []
            rebuild(Database(url), history=True)
            assert differences(stored_versions(url), expected) == []

            moments = sorted(
                {e.timestamp for x in exports for e in ledger.history(x)}
                | {datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)}
            )
            for _ in range(3):
                at = data.draw(st.sampled_from(moments)) + data.draw(
                    st.sampled_from([-MICROSECOND, timedelta(0), MICROSECOND])
                )
                _check_as_of(ledger, url, exports, at)
        finally:
            ledger.close()


def _check_as_of(ledger: ExportLedger, url: str, exports: list[str], at: datetime) -> None:
    by_domain = states_as_of(ledger, exports, at)
    assert differences(listed_as_of(url, at), by_domain) == [], at
    snapshot(Database(url), "audit_snapshot", at, replace=True)
    assert differences(table_rows(url, "audit_snapshot"), by_domain) == [], at
    for user in ("A", "B"):
        own = listed_as_of(url, at, Principal(user_id=user))
        assert own == {k: v for k, v in by_domain.items() if v["user_id"] == user}


def test_a_deleted_export_keeps_its_versions(ledger: ExportLedger, database_url: str) -> None:
    url = database_url
    kept = request(ledger, "A")
    gone = request(ledger, "A")
    complete(ledger, gone)
    before_delete = datetime.now(UTC)
    ledger.delete(gone, actor="admin", reason="asked to")
    catch_up(url)

    versions = stored_versions(url)
    assert differences(versions, domain_versions(ledger, [kept, gone])) == []
    assert [v["status"] for v in _by_version(versions, gone)] == [
        "queued",
        "processing",
        "completed",
    ]
    assert _by_version(versions, gone)[-1]["valid_to"] is not None  # closed by Deleted
    assert set(listed_as_of(url, before_delete)) == {kept, gone}
    assert set(listed_as_of(url, datetime.now(UTC))) == {kept}
    assert listed_as_of(url, before_delete)[gone]["status"] == "completed"


def test_the_open_versions_are_the_live_rows(ledger: ExportLedger, database_url: str) -> None:
    for n in range(6):
        export_id = request(ledger, "A" if n % 2 else "B")
        if n % 3:
            complete(ledger, export_id)
    catch_up(database_url, batch_size=2)
    with psycopg.connect(database_url, autocommit=True) as conn:
        extra = conn.execute(
            'SELECT count(*) FROM (SELECT id, export_id, user_id, "timestamp", format, config,'
            " conversation_count, file_size, status, file_url, expires_at, error_message,"
            " created_at, updated_at, version, position FROM export_log_versions"
            " WHERE valid_to IS NULL EXCEPT ALL SELECT * FROM export_logs) AS d"
        ).fetchone()
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM export_logs),"
            " (SELECT count(*) FROM export_log_versions WHERE valid_to IS NULL)"
        ).fetchone()
    assert extra == (0,)
    assert counts is not None and counts[0] == counts[1] == 6


def test_check_history_reports_a_tampered_past_version_and_rebuild_repairs_it(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id, expected = _completed_and_followed(ledger, database_url)
    _tamper(database_url, "status = 'failed'", export_id, version=2)  # a closed version
    assert not rebuild(
        Database(database_url), swap=False
    ).differences.drifted  # only open ones checked
    report = rebuild(Database(database_url), swap=False, history=True)
    assert report.differences.versions == 1 and report.differences.total == 0
    assert report.differences.drifted and report.differences.every_version
    assert rebuild(Database(database_url), history=True).history
    assert stored_versions(database_url) == expected
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted


@pytest.mark.parametrize(
    "change",
    [
        "status = 'failed'",
        "valid_from_time = valid_from_time + interval '1 second'",
        "valid_to = NULL, valid_to_time = NULL",
    ],
)
def test_rebuild_finds_a_tampered_current_version_and_rebuilds_the_history(
    ledger: ExportLedger, database_url: str, change: str
) -> None:
    export_id, expected = _completed_and_followed(ledger, database_url)
    version = 2 if "valid_to =" in change else 3  # reopen a closed one, or edit the open one
    _tamper(database_url, change, export_id, version=version)
    report = rebuild(Database(database_url), swap=False)
    assert report.differences.versions == 1 and report.differences.total == 0
    assert report.differences.drifted and not report.differences.every_version
    fixed = rebuild(Database(database_url))
    assert fixed.history and fixed.differences.every_version
    assert stored_versions(database_url) == expected
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted


def test_the_cli_checks_every_version_with_history(ledger: ExportLedger, database_url: str) -> None:
    url = database_url
    export_id, expected = _completed_and_followed(ledger, url)
    _tamper(url, "status = 'failed'", export_id, version=2)  # a closed version

    assert run_cli(url, "rebuild", "--check").returncode == 0  # current versions only
    check = run_cli(url, "rebuild", "--check", "--history")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "export_log_versions differs from the events in 1 version\n" in check.stdout

    fix = run_cli(url, "rebuild", "--history")
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert "its history was rebuilt too" in fix.stdout
    assert stored_versions(url) == expected
    again = run_cli(url, "rebuild", "--check", "--history")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "live table matches the events" in again.stdout


def test_a_rebuild_keeps_the_history_it_did_not_need_to_rebuild(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id, expected = _completed_and_followed(ledger, database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE export_logs SET status = 'failed' WHERE export_id = %s", (export_id,))
    report = rebuild(Database(database_url))
    assert report.differences.different == 1 and report.differences.versions == 0
    assert not report.history
    assert stored_versions(database_url) == expected
    ledger.record_download(export_id, actor="A")
    catch_up(database_url)  # the follower goes on from the swapped-in table, with its history
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted


def _completed_and_followed(ledger: ExportLedger, url: str) -> tuple[str, dict[Key, Row]]:
    """A completed export, folded: its id and the versions stored for it."""
    export_id = request(ledger, "A")
    complete(ledger, export_id)
    catch_up(url)
    return export_id, stored_versions(url)


def _tamper(url: str, change: str, export_id: str, *, version: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"UPDATE export_log_versions SET {change} WHERE export_id = %s AND version = %s",
            (export_id, version),
        )


def test_a_snapshot_refuses_bad_and_taken_names(ledger: ExportLedger, database_url: str) -> None:
    request(ledger, "A")
    catch_up(database_url)
    now = datetime.now(UTC)
    for name in ("export_logs", "export_log_versions", "Audit", "a-b", "x" * 41, "ledger_x", ""):
        with pytest.raises(SnapshotTableRefused):
            snapshot(Database(database_url), name, now)
    assert snapshot(Database(database_url), "audit_now", now).rows == 1
    with pytest.raises(SnapshotTableRefused, match="--replace"):
        snapshot(Database(database_url), "audit_now", now)
    assert (
        snapshot(Database(database_url), "audit_now", now - timedelta(days=1), replace=True).rows
        == 0
    )


@pytest.mark.slow
def test_kill_9_of_the_follower_leaves_the_history_exact(
    ledger: ExportLedger, database_url: str, tmp_path: Path
) -> None:
    """The versions are written in the follower's batch transaction: however it
    dies, each event's version is there exactly once after a restart."""
    url = database_url
    rng = random.Random()
    writer = Writer(ledger, rng.randrange(2**32))
    writer.start()
    log = tmp_path / "follower.log"
    try:
        for _ in range(3):
            follower = start_cli(url, "project", "--batch-size", "10", "--no-seal",
                                 app_name="el-history-follower", log=log)  # fmt: skip
            wait_until(lambda: (tracking(url) or 0) > 0, timeout=60)
            time.sleep(rng.uniform(0.2, 1.0))
            kill_hard(follower)
            wait_backends_gone(url, "el-history-follower")
    finally:
        writer.stop()
    assert not writer.errors, writer.errors
    catch_up(url)
    assert tracking(url) == head(url)
    assert differences(stored_versions(url), domain_versions(ledger, writer.exports)) == []
    assert not rebuild(Database(url), swap=False).differences.drifted


def _by_version(versions: dict[Key, Row], export_id: str) -> list[Row]:
    found = [v for v in versions.values() if v["export_id"] == export_id]
    return sorted(found, key=lambda v: int(v["version"]))


@pytest.mark.parametrize("batch_size", [3, 1000])
def test_few_and_many_exports_per_batch_record_the_same_history(
    ledger: ExportLedger, database_url: str, batch_size: int
) -> None:
    # 150 exports requested and folded, then each completed: a batch of 1,000 closes
    # the open versions of more than FEW_EXPORTS exports at once, one of 3 of a few.
    exports = [request(ledger, "A" if n % 2 else "B") for n in range(150)]
    catch_up(database_url, batch_size=batch_size)
    for export_id in exports:
        complete(ledger, export_id)
    catch_up(database_url, batch_size=batch_size)
    expected = domain_versions(ledger, exports)
    assert differences(stored_versions(database_url), expected) == []
