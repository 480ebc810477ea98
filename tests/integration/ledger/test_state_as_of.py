"""Time travel: the export as it stood after each of its events, by version and
by timestamp, rebuilt from the events stored in PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.exceptions import ExportNotFound, InvalidExport
from domain.exports.ids import new_export_id
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger
from tests.integration.helpers import FILE_URL, SHA, request

EXPECTED = [
    # (event type, status, download count)
    ("Requested", "queued", 0),
    ("ProcessingStarted", "processing", 0),
    ("Failed", "failed", 0),
    ("Retried", "queued", 0),
    ("ProcessingStarted", "processing", 0),
    ("Completed", "completed", 0),
    ("Downloaded", "completed", 1),
    ("Downloaded", "completed", 2),
    ("Downloaded", "completed", 3),
    ("Expired", "expired", 3),
]


@pytest.fixture
def ten_events(ledger: ExportLedger) -> tuple[str, list[ExportState]]:
    """An export with ten events, and its state as the ledger saw it after each."""
    export_id = request(ledger, "alice").export_id
    expires_at = datetime.now(UTC) + timedelta(days=1)
    commands = [
        lambda: ledger.start_processing(export_id, actor="worker"),
        lambda: ledger.fail(export_id, error_message="timeout", actor="worker"),
        lambda: ledger.retry(export_id, actor="alice"),
        lambda: ledger.start_processing(export_id, actor="worker"),
        lambda: ledger.complete(
            export_id,
            file_size=100,
            file_url=FILE_URL,
            expires_at=expires_at,
            file_sha256=SHA,
            row_count=7,
            actor="worker",
        ),
        lambda: ledger.record_download(export_id, actor="alice"),
        lambda: ledger.record_download(export_id, actor="bob"),
        lambda: ledger.record_download(export_id, actor="alice"),
        lambda: ledger.expire(export_id),
    ]
    seen = [ledger.get(export_id)]
    for command in commands:
        command()
        seen.append(ledger.get(export_id))
    return export_id, seen


def test_state_at_every_version(
    ledger: ExportLedger, ten_events: tuple[str, list[ExportState]]
) -> None:
    export_id, seen = ten_events
    history = ledger.history(export_id)
    assert [e.type for e in history] == [t for t, _, _ in EXPECTED]

    for version, (_, status, downloads) in enumerate(EXPECTED, start=1):
        state = ledger.state_as_of(export_id, version=version)
        assert state == seen[version - 1], version
        assert (state.version, state.status, state.download_count) == (
            version,
            status,
            downloads,
        )
        assert state.updated_at == history[version - 1].timestamp
        assert state.created_at == history[0].timestamp
    # A few fields that come and go along the way.
    assert ledger.state_as_of(export_id, version=3).error_message == "timeout"
    assert ledger.state_as_of(export_id, version=4).error_message is None
    assert ledger.state_as_of(export_id, version=5).file_url is None
    assert ledger.state_as_of(export_id, version=6).file_url == FILE_URL
    assert ledger.state_as_of(export_id, version=9).last_actor == "alice"
    assert ledger.state_as_of(export_id, version=8).last_actor == "bob"


def test_state_at_every_event_timestamp(
    ledger: ExportLedger, ten_events: tuple[str, list[ExportState]]
) -> None:
    export_id, seen = ten_events
    history = ledger.history(export_id)
    stamps = [e.timestamp for e in history]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

    for version, stamp in enumerate(stamps, start=1):
        # At the very moment of an event, that event counts.
        assert ledger.state_as_of(export_id, at=stamp) == seen[version - 1]
        # Just before it, the previous one still stands.
        if version > 1:
            earlier = ledger.state_as_of(export_id, at=stamp - timedelta(microseconds=1))
            assert earlier == seen[version - 2]
    # Half-way between two events, and long after the last one.
    middle = stamps[6] + (stamps[7] - stamps[6]) / 2
    assert ledger.state_as_of(export_id, at=middle).version == 7
    assert ledger.state_as_of(export_id, at=stamps[-1] + timedelta(days=365)) == seen[-1]


def test_timestamps_in_other_zones_mean_the_same_moment(
    ledger: ExportLedger, ten_events: tuple[str, list[ExportState]]
) -> None:
    export_id, seen = ten_events
    stamp = ledger.history(export_id)[4].timestamp
    for zone in (timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))):
        assert ledger.state_as_of(export_id, at=stamp.astimezone(zone)) == seen[4]


def test_before_creation_is_not_found(
    ledger: ExportLedger, ten_events: tuple[str, list[ExportState]]
) -> None:
    export_id, _ = ten_events
    created = ledger.history(export_id)[0].timestamp
    with pytest.raises(ExportNotFound, match="did not exist yet"):
        ledger.state_as_of(export_id, at=created - timedelta(microseconds=1))
    with pytest.raises(ExportNotFound):
        ledger.state_as_of(export_id, at=datetime(2000, 1, 1, tzinfo=UTC))


def test_beyond_the_last_version_is_not_found(
    ledger: ExportLedger, ten_events: tuple[str, list[ExportState]]
) -> None:
    export_id, _ = ten_events
    with pytest.raises(ExportNotFound, match="only 10 events"):
        ledger.state_as_of(export_id, version=11)


def test_unknown_export_is_not_found(ledger: ExportLedger) -> None:
    missing = new_export_id()
    with pytest.raises(ExportNotFound):
        ledger.state_as_of(missing, version=1)
    with pytest.raises(ExportNotFound):
        ledger.state_as_of(missing, at=datetime.now(UTC))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"version": 1, "at": datetime.now(UTC)},
        {"version": 0},
        {"version": -1},
        {"at": datetime(2026, 1, 1)},  # naive: refused
    ],
    ids=["neither", "both", "version-0", "version-negative", "naive-timestamp"],
)
def test_bad_arguments_are_refused(ledger: ExportLedger, kwargs: dict[str, object]) -> None:
    export_id = request(ledger).export_id
    with pytest.raises(InvalidExport):
        ledger.state_as_of(export_id, **kwargs)  # type: ignore[arg-type]


def test_the_past_does_not_change_when_the_export_moves_on(ledger: ExportLedger) -> None:
    export_id = request(ledger).export_id
    before = ledger.state_as_of(export_id, version=1)
    ledger.start_processing(export_id)
    ledger.delete(export_id, actor="admin")
    assert ledger.state_as_of(export_id, version=1) == before
    assert before.status == "queued"
