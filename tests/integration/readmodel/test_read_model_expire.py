"""The expiry job over the read model: ``export-ledger expire`` and
``ledger.expire_due(ReadModelDueExports(url))`` expire exactly the completed
exports whose file has expired, once the follower has folded them, and only once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.due import ReadModelDueExports
from tests.integration.readmodel_helpers import (
    catch_up,
    complete,
    diff,
    domain_rows,
    live_rows,
    request,
    rows_by_export_id,
    run_cli,
)

PAST = datetime.now(UTC) - timedelta(hours=1)
FUTURE = datetime.now(UTC) + timedelta(days=3)


@pytest.fixture
def exports(ledger: ExportLedger) -> dict[str, str]:
    """One export in each situation the job must tell apart (not yet folded)."""
    found = {
        "due": request(ledger, "A"),
        "due-too": request(ledger, "B"),
        "not-yet": request(ledger, "A"),
        "queued": request(ledger, "A"),
        "processing": request(ledger, "B"),
        "failed": request(ledger, "B"),
        "already-expired": request(ledger, "A"),
        "deleted": request(ledger, "A"),
        "no-expiry": request(ledger, "A"),
    }
    complete(ledger, found["due"], expires_at=PAST)
    complete(ledger, found["due-too"], expires_at=PAST - timedelta(days=2))
    complete(ledger, found["not-yet"], expires_at=FUTURE)
    ledger.start_processing(found["processing"])
    ledger.start_processing(found["failed"])
    ledger.fail(found["failed"], error_message="x")
    complete(ledger, found["already-expired"], expires_at=PAST)
    ledger.expire(found["already-expired"])
    complete(ledger, found["deleted"], expires_at=PAST)
    ledger.delete(found["deleted"], actor="admin")
    ledger.start_processing(found["no-expiry"])
    ledger.complete(found["no-expiry"], file_size=1, file_url="s3://f", expires_at=None)
    return found


def expired_events(ledger: ExportLedger, export_id: str) -> int:
    return sum(1 for e in ledger.history(export_id) if e.type == "Expired")


def statuses(ledger: ExportLedger, exports: dict[str, str]) -> dict[str, str]:
    return {name: ledger.get(export_id).status for name, export_id in exports.items()}


EXPECTED = {
    "due": "expired",
    "due-too": "expired",
    "not-yet": "completed",
    "queued": "queued",
    "processing": "processing",
    "failed": "failed",
    "already-expired": "expired",
    "deleted": "deleted",
    "no-expiry": "completed",
}


def test_the_cli_expires_exactly_the_due_exports_once(
    ledger: ExportLedger, exports: dict[str, str], database_url: str
) -> None:
    url = database_url
    # Before the follower has folded them, the read model knows of nothing due:
    # a lagging table only delays expiry.
    first = run_cli(url, "expire")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "expired 0 exports" in first.stdout
    assert ledger.get(exports["due"]).status == "completed"

    catch_up(url)
    run = run_cli(url, "expire")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "expired 2 exports" in run.stdout
    assert statuses(ledger, exports) == EXPECTED
    for name in ("due", "due-too", "already-expired"):
        assert expired_events(ledger, exports[name]) == 1
        assert ledger.history(exports[name])[-1].actor == "system"

    # Again, with the read table still saying 'completed' for both: candidates
    # are re-checked against their events, so nothing is expired twice.
    again = run_cli(url, "expire")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "expired 0 exports" in again.stdout
    for name in ("due", "due-too"):
        assert expired_events(ledger, exports[name]) == 1

    catch_up(url)
    rows = rows_by_export_id(url)
    assert rows[exports["due"]]["status"] == "expired"
    assert rows[exports["due-too"]]["status"] == "expired"
    assert diff(live_rows(url), domain_rows(ledger, exports.values())) == []


def test_expire_due_over_the_read_model(
    ledger: ExportLedger, exports: dict[str, str], database_url: str
) -> None:
    finder = ReadModelDueExports(Database(database_url))
    assert ledger.expire_due(finder) == 0  # nothing folded yet
    catch_up(database_url)
    assert sorted(finder.find_due(datetime.now(UTC), None, 100)) == sorted(
        [exports["due"], exports["due-too"]]
    )
    # Not yet due at an earlier moment.
    assert ledger.expire_due(finder, now=PAST - timedelta(days=3)) == 0
    assert ledger.expire_due(finder) == 2
    assert ledger.expire_due(finder) == 0
    catch_up(database_url)
    assert finder.find_due(datetime.now(UTC), None, 100) == []
    assert ledger.expire_due(finder) == 0
    # Later, the one expiring in three days is due too.
    assert ledger.expire_due(finder, now=FUTURE + timedelta(seconds=1)) == 1
    expected = {**EXPECTED, "not-yet": "expired"}
    assert statuses(ledger, exports) == expected


def test_expire_due_pages_through_many_due_exports(ledger: ExportLedger, database_url: str) -> None:
    due = [request(ledger, f"user-{n}") for n in range(7)]
    for export_id in due:
        complete(ledger, export_id, expires_at=PAST)
    catch_up(database_url)
    finder = ReadModelDueExports(Database(database_url))
    assert ledger.expire_due(finder, batch_size=3) == 7
    assert ledger.expire_due(finder, batch_size=3) == 0
    assert all(expired_events(ledger, e) == 1 for e in due)
