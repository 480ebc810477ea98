"""``export-ledger rebuild --check`` reports drift, ``rebuild`` repairs it, and
writes that land while a rebuild runs end up in the table it swaps in."""

from __future__ import annotations

import random
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api.cli.demo import seed
from domain.exceptions import ReadModelError
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.readmodel.store import project_batch
from tests.integration.readmodel_helpers import (
    catch_up,
    complete,
    diff,
    domain_rows,
    folded_rows,
    head,
    live_exports_in_events,
    live_rows,
    live_state,
    random_command,
    request,
    rows_by_export_id,
    run_cli,
    shadow_tables,
    tracking,
)

BOGUS = "exp_0000000000000000000BOGUS0"


@pytest.fixture
def exports(ledger: ExportLedger, database_url: str) -> dict[str, str]:
    """A few exports in different states, all folded into export_logs."""
    found = {
        "queued": request(ledger, "A"),
        "completed": request(ledger, "A"),
        "failed": request(ledger, "B"),
        "deleted": request(ledger, "B"),
    }
    complete(ledger, found["completed"])
    ledger.start_processing(found["failed"], actor="worker")
    ledger.fail(found["failed"], error_message="disk full")
    ledger.delete(found["deleted"], actor="admin")
    catch_up(database_url)
    return found


def tamper(url: str, sql: str, *params: Any) -> None:
    """A change made by hand as the database owner, bypassing the projection."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        assert cur.rowcount == 1


def insert_bogus(url: str, like: str) -> None:
    tamper(
        url,
        'INSERT INTO export_logs SELECT gen_random_uuid(), %s, user_id, "timestamp", format,'
        " config, conversation_count, file_size, status, file_url, expires_at, error_message,"
        " created_at, updated_at, version, position FROM export_logs WHERE export_id = %s",
        BOGUS,
        like,
    )


def line_of(output: str, export_id: str) -> str:
    lines = [line for line in output.splitlines() if export_id in line]
    assert len(lines) == 1, output
    return lines[0]


def test_check_exits_0_when_the_table_matches(exports: dict[str, str], database_url: str) -> None:
    result = run_cli(database_url, "rebuild", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "live table matches the events" in result.stdout
    assert "swapped" not in result.stdout
    assert shadow_tables(database_url) == []


def test_check_names_tampered_exports_and_rebuild_repairs_them(
    ledger: ExportLedger, exports: dict[str, str], database_url: str
) -> None:
    url = database_url
    tamper(
        url, "UPDATE export_logs SET status = 'expired' WHERE export_id = %s", exports["completed"]
    )
    tamper(url, "DELETE FROM export_logs WHERE export_id = %s", exports["queued"])
    insert_bogus(url, exports["failed"])
    tampered = live_rows(url)

    check = run_cli(url, "rebuild", "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "1 missing, 1 extra, 1 different rows" in check.stdout
    assert "different" in line_of(check.stdout, exports["completed"])
    assert "status: 'expired' ->" in line_of(check.stdout, exports["completed"])
    assert "missing" in line_of(check.stdout, exports["queued"])
    assert "extra" in line_of(check.stdout, BOGUS)
    assert exports["failed"] not in check.stdout
    # A check repairs nothing.
    assert live_rows(url) == tampered
    assert shadow_tables(url) == []

    fix = run_cli(url, "rebuild")
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert "swapped the rebuilt table in (differences fixed)" in fix.stdout
    assert f"position {head(url)}" in fix.stdout

    again = run_cli(url, "rebuild", "--check")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "live table matches the events" in again.stdout
    assert diff(live_rows(url), domain_rows(ledger, exports.values())) == []
    assert tracking(url) == head(url)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("status", {"different": 1}),
        ("config", {"different": 1}),
        ("updated_at", {"different": 1}),
        ("delete", {"missing": 1}),
        ("insert", {"extra": 1}),
        ("tracking", {"different": 2}),
    ],
)
def test_each_kind_of_drift_is_found_and_repaired(
    ledger: ExportLedger,
    exports: dict[str, str],
    database_url: str,
    kind: str,
    expected: dict[str, int],
) -> None:
    url = database_url
    target = exports["completed"]
    if kind == "status":
        tamper(url, "UPDATE export_logs SET status = 'failed' WHERE export_id = %s", target)
    elif kind == "config":
        tamper(
            url, "UPDATE export_logs SET config = %s WHERE export_id = %s", Jsonb({"x": 1}), target
        )
    elif kind == "updated_at":
        tamper(
            url,
            "UPDATE export_logs SET updated_at = updated_at + interval '1 second' "
            "WHERE export_id = %s",
            target,
        )
    elif kind == "delete":
        tamper(url, "DELETE FROM export_logs WHERE export_id = %s", target)
    elif kind == "insert":
        insert_bogus(url, target)
    else:
        # The tracking position jumps past two events that were never folded.
        ledger.start_processing(exports["queued"])
        ledger.retry(exports["failed"])
        tamper(
            url,
            "UPDATE read_model_tracking SET position = %s WHERE table_name = 'export_logs'",
            head(url),
        )
        target = exports["queued"]

    report = rebuild(Database(url), swap=False)
    found = {"missing": 0, "extra": 0, "different": 0, **expected}
    diffs = report.differences
    assert (diffs.missing, diffs.extra, diffs.different) == (
        found["missing"],
        found["extra"],
        found["different"],
    ), diffs.examples
    assert (BOGUS if kind == "insert" else target) in [e["export_id"] for e in diffs.examples]

    fixed = rebuild(Database(url))
    assert fixed.swapped
    assert rebuild(Database(url), swap=False).differences.total == 0
    assert diff(live_rows(url), domain_rows(ledger, exports.values())) == []
    assert tracking(url) == head(url)


def stuck_follower(ledger: ExportLedger, url: str, export_id: str) -> int:
    """Delete ``export_id``'s row by hand, then record an event for it: the
    follower cannot fold that event. Returns the tracking position it is stuck at."""
    tamper(url, "DELETE FROM export_logs WHERE export_id = %s", export_id)
    stuck_at = tracking(url)
    assert stuck_at is not None
    ledger.start_processing(export_id)
    return stuck_at


def test_a_missing_row_stops_the_follower(
    ledger: ExportLedger, exports: dict[str, str], database_url: str
) -> None:
    """An event for an export whose row is gone cannot be folded: the follower
    refuses, moves nothing, and says to rebuild."""
    url = database_url
    stuck_at = stuck_follower(ledger, url, exports["queued"])
    request(ledger, "C")

    with Database(url).projector() as conn, pytest.raises(ReadModelError, match="rebuild"):
        project_batch(conn)
    assert tracking(url) == stuck_at
    follower = run_cli(url, "project")
    assert follower.returncode == 2, follower.stdout + follower.stderr
    assert "rebuild the read table" in follower.stderr
    assert tracking(url) == stuck_at


def test_rebuild_repairs_a_table_the_follower_is_stuck_on(
    ledger: ExportLedger, exports: dict[str, str], database_url: str
) -> None:
    url = database_url
    stuck_follower(ledger, url, exports["queued"])
    later = request(ledger, "C")

    check = run_cli(url, "rebuild", "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert exports["queued"] in check.stdout

    fix = run_cli(url, "rebuild")
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert tracking(url) == head(url)
    ledger.complete(
        exports["queued"],
        file_size=1,
        file_url="s3://x",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    catch_up(url)
    rows = rows_by_export_id(url)
    assert rows[exports["queued"]]["status"] == "completed"
    assert rows[later]["status"] == "queued"
    assert diff(live_rows(url), domain_rows(ledger, [*exports.values(), later])) == []


def test_writes_during_a_rebuild_are_in_the_table_it_swaps_in(
    ledger: ExportLedger, database_url: str
) -> None:
    """Events committed after the bulk load's snapshot are folded into the shadow
    before the swap: the hook writes right after the rebuild fixed its head."""
    url = database_url
    seed(ledger, 200, rng=random.Random(7))
    before = request(ledger, "A")
    to_delete = request(ledger, "B")
    catch_up(url)
    written: dict[str, int] = {}

    def write_now(snapshot_head: int) -> None:
        assert snapshot_head == head(url)
        written["new"] = (
            ledger.request_export(
                user_id="C", format="csv", config={}, conversation_count=1
            ).position
            or 0
        )
        written["completed"] = complete(ledger, before)
        written["deleted"] = ledger.delete(to_delete, actor="admin").position or 0

    report = rebuild(Database(url), on_total=write_now)
    assert report.swapped and report.differences.total == 0
    assert report.position == head(url) == max(written.values())
    assert tracking(url) == report.position
    rows = rows_by_export_id(url)
    new_export = next(e for e, r in rows.items() if r["user_id"] == "C")
    assert rows[new_export]["position"] == written["new"]
    assert rows[before]["status"] == "completed"
    assert rows[before]["position"] == written["completed"]
    assert to_delete not in rows
    assert len(rows) == live_exports_in_events(url)
    assert diff(live_rows(url), folded_rows(url, report.position)) == []


@pytest.mark.slow
def test_cli_rebuild_while_commands_are_written(ledger: ExportLedger, database_url: str) -> None:
    url = database_url
    seed(ledger, 1500, rng=random.Random(11))
    catch_up(url)
    rng = random.Random()
    mine: list[str] = []
    stopping = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while not stopping.is_set():
                random_command(ledger, rng, mine)
                time.sleep(0.002)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    started_at = head(url)
    try:
        result = run_cli(url, "rebuild")
    finally:
        stopping.set()
        thread.join(timeout=30)
    assert errors == []
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"position (\d+)", result.stdout)
    assert match, result.stdout
    swapped_at = int(match.group(1))
    assert swapped_at > started_at, "no write landed during the rebuild"
    # What the rebuild swapped in is exactly the log up to its position...
    position, rows = live_state(url)
    assert position == swapped_at  # no follower runs here: only the swap moved it
    assert diff(rows, folded_rows(url, swapped_at)) == []
    # ...and the follower takes it from there.
    assert catch_up(url) == head(url)
    expected = domain_rows(ledger, mine)
    live = live_rows(url)
    assert diff({k: live[k] for k in expected}, expected) == []
    assert len(live) == live_exports_in_events(url)
    check = run_cli(url, "rebuild", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
