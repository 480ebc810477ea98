"""A retention run reads again only the exports whose decision could have changed
(sql/migrations/0017_retention_checked.sql): the second run over an unchanged ledger
reads no export, and an event, a policy or the clock passing a due time brings an
export back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.retention import StoredRetentionCandidates
from tests.integration.helpers import complete, request


class CountingCandidates(StoredRetentionCandidates):
    """The stored candidates, counting the exports whose events a run reads."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.read: list[UUID] = []

    def stored_events(self, originator_ids: Sequence[UUID]) -> list[tuple[UUID, int, str, bytes]]:
        self.read.extend(originator_ids)
        return super().stored_events(originator_ids)

    def run(self, ledger: ExportLedger, now: datetime, **options: object) -> list[UUID]:
        self.read.clear()
        ledger.retain(self, now=now, **options)  # type: ignore[arg-type]
        return list(self.read)


def ids(export_ids: Iterable[str]) -> list[UUID]:
    return sorted(aggregate_id(e) for e in export_ids)


def test_an_unchanged_ledger_is_read_once(ledger: ExportLedger, database_url: str) -> None:
    now = datetime.now(UTC)
    exports = [request(ledger).export_id for _ in range(5)]
    for export_id in exports[:3]:
        complete(ledger, export_id, expires_at=now + timedelta(days=10))
    ledger.set_retention(after="30d", basis="expiry", actor="admin")
    finder = CountingCandidates(Database(database_url))
    assert sorted(finder.run(ledger, now)) == ids(exports)
    assert finder.run(ledger, now) == []  # nothing changed: nothing read
    assert finder.run(ledger, now, dry_run=True) == []

    ledger.record_download(exports[0], actor="u1")  # an event since: read again
    assert finder.run(ledger, now) == ids(exports[:1])

    ledger.set_retention(after="60d", basis="last-event", actor="admin")  # new policies
    assert sorted(finder.run(ledger, now)) == ids(exports)
    assert finder.run(ledger, now) == []

    # Past the expiry policy but not the last-event one, which wins (the longest): the
    # decisions remembered fall due at the later time, so no export is read.
    assert finder.run(ledger, now + timedelta(days=45)) == []
    assert all(ledger.shed_by(e) is None for e in exports)

    much_later = now + timedelta(days=70)
    assert sorted(finder.run(ledger, much_later)) == ids(exports)
    assert all(ledger.shed_by(e) is not None for e in exports)
    assert finder.run(ledger, much_later) == []  # shed ones are no candidates


def test_a_dry_run_remembers_nothing(ledger: ExportLedger, database_url: str) -> None:
    export_id = request(ledger).export_id
    ledger.set_retention(after="30d", basis="last-event", actor="admin")
    finder = CountingCandidates(Database(database_url))
    now = datetime.now(UTC)
    assert finder.run(ledger, now, dry_run=True) == ids([export_id])
    assert finder.run(ledger, now, dry_run=True) == ids([export_id])
    assert finder.run(ledger, now) == ids([export_id])
    assert finder.run(ledger, now) == []
