"""Unit tests of the export lifecycle, run through ExportLedger on in-memory (popo) storage."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol
from uuid import UUID, uuid5

import pytest

from domain.exceptions import (
    ExportLedgerError,
    ExportNotFound,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidExport,
)
from domain.exports.ids import aggregate_id, is_export_id, new_export_id
from domain.exports.model import SYSTEM_ACTOR, ExportLog
from domain.exports.rules import MAX_CONVERSATIONS
from domain.exports.values import Status
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger

SHA = "ab" * 32
FILE_URL = "s3://exports/exp.json"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EXPORT_ID_RE = re.compile(r"^exp_[0-9A-HJKMNP-TV-Z]{26}$")


class Clock(Protocol):
    """The conftest FakeClock: ``now`` is settable and moves only when told to."""

    now: datetime

    def advance(self, delta: timedelta) -> None: ...


NewExport = Callable[..., str]
ExportIn = Callable[[Status], str]
Command = Callable[[ExportLedger, str, datetime], ExportState]


# -- helpers ------------------------------------------------------------------


def event_count(app: ExportLedger, export_id: str) -> int:
    return len(list(app.events.get(aggregate_id(export_id))))


def snapshot(app: ExportLedger, export_id: str) -> tuple[ExportState, int, int, int]:
    """Everything a refused command must leave untouched."""
    return (
        app.get(export_id),
        len(app.history(export_id)),
        event_count(app, export_id),
        app.head_position(),
    )


# Every command, keyed by the name the domain uses for it in IllegalTransition.
# The datetime argument is the fake clock's "now" (used for expiry dates).
COMMANDS: dict[str, Command] = {
    "start processing": lambda app, eid, now: app.start_processing(eid, actor="worker-2"),
    "complete": lambda app, eid, now: app.complete(
        eid,
        file_size=2048,
        file_url=FILE_URL,
        expires_at=now + timedelta(days=1),
        file_sha256=SHA,
        row_count=7,
        actor="worker-2",
    ),
    "fail": lambda app, eid, now: app.fail(eid, error_message="boom", actor="worker-2"),
    "retry": lambda app, eid, now: app.retry(eid, actor="operator"),
    "record a download": lambda app, eid, now: app.record_download(eid, actor="alice"),
    "expire": lambda app, eid, now: app.expire(eid, actor="sweeper"),
    "delete": lambda app, eid, now: app.delete(eid, actor="admin", reason="gdpr"),
}
COMMAND_ACTOR = {
    "start processing": "worker-2",
    "complete": "worker-2",
    "fail": "worker-2",
    "retry": "operator",
    "record a download": "alice",
    "expire": "sweeper",
    "delete": "admin",
}
COMMAND_EVENT = {
    "start processing": "ProcessingStarted",
    "complete": "Completed",
    "fail": "Failed",
    "retry": "Retried",
    "record a download": "Downloaded",
    "expire": "Expired",
    "delete": "Deleted",
}

# The lifecycle, written out independently of domain/exports/model.py's table.
TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.QUEUED, "start processing"): Status.PROCESSING,
    (Status.QUEUED, "delete"): Status.DELETED,
    (Status.PROCESSING, "complete"): Status.COMPLETED,
    (Status.PROCESSING, "fail"): Status.FAILED,
    (Status.PROCESSING, "delete"): Status.DELETED,
    (Status.COMPLETED, "record a download"): Status.COMPLETED,
    (Status.COMPLETED, "expire"): Status.EXPIRED,
    (Status.COMPLETED, "delete"): Status.DELETED,
    (Status.FAILED, "retry"): Status.QUEUED,
    (Status.FAILED, "delete"): Status.DELETED,
    (Status.EXPIRED, "delete"): Status.DELETED,
}
ALL_PAIRS = [(status, command) for status in Status for command in COMMANDS]
LEGAL = [pair for pair in ALL_PAIRS if pair in TRANSITIONS]
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]


def pair_id(pair: tuple[Status, str]) -> str:
    return f"{pair[0].value}-{pair[1].replace(' ', '_')}"


# -- the state machine ----------------------------------------------------------


def test_transition_table_covers_every_pair() -> None:
    assert len(ALL_PAIRS) == len(Status) * len(COMMANDS) == 42
    assert len(LEGAL) == 11
    assert len(ILLEGAL) == 31
    # Deleted is terminal; every other state can be deleted.
    assert not [c for (s, c) in LEGAL if s is Status.DELETED]
    assert {s for (s, c) in LEGAL if c == "delete"} == set(Status) - {Status.DELETED}


@pytest.mark.parametrize("pair", LEGAL, ids=[pair_id(p) for p in LEGAL])
def test_every_legal_move_records_one_event(
    pair: tuple[Status, str], ledger: ExportLedger, clock: Clock, export_in: ExportIn
) -> None:
    status, command = pair
    export_id = export_in(status)
    before = ledger.get(export_id)
    history_before = ledger.history(export_id)

    after = COMMANDS[command](ledger, export_id, clock.now)

    assert after.status == TRANSITIONS[pair]
    assert after.version == before.version + 1
    assert after.last_actor == COMMAND_ACTOR[command]
    assert ledger.get(export_id) == replace(after, position=None)
    history = ledger.history(export_id)
    assert history[: len(history_before)] == history_before
    assert len(history) == len(history_before) + 1
    assert history[-1].type == COMMAND_EVENT[command]
    assert history[-1].actor == COMMAND_ACTOR[command]
    assert history[-1].version == after.version


@pytest.mark.parametrize("pair", ILLEGAL, ids=[pair_id(p) for p in ILLEGAL])
def test_every_illegal_move_is_refused_and_records_nothing(
    pair: tuple[Status, str], ledger: ExportLedger, clock: Clock, export_in: ExportIn
) -> None:
    status, command = pair
    export_id = export_in(status)
    before = snapshot(ledger, export_id)

    with pytest.raises(IllegalTransition) as refused:
        COMMANDS[command](ledger, export_id, clock.now)

    error = refused.value
    assert isinstance(error, ExportLedgerError)
    assert (error.export_id, error.status, error.command) == (export_id, status, command)
    message = str(error)
    assert export_id in message
    assert status.value in message
    assert command in message
    assert snapshot(ledger, export_id) == before


def test_full_happy_path(ledger: ExportLedger, clock: Clock, new_export: NewExport) -> None:
    export_id = new_export(user_id="alice", actor="alice")
    assert ledger.get(export_id).status == Status.QUEUED
    assert ledger.start_processing(export_id).status == Status.PROCESSING
    done = ledger.complete(
        export_id,
        file_size=10,
        file_url=FILE_URL,
        expires_at=clock.now + timedelta(hours=1),
        file_sha256=SHA,
        row_count=2,
    )
    assert (done.status, done.file_size, done.file_url) == (Status.COMPLETED, 10, FILE_URL)
    assert (done.file_sha256, done.row_count) == (SHA, 2)
    assert done.expires_at == clock.now + timedelta(hours=1)
    assert ledger.record_download(export_id, actor="alice").download_count == 1
    assert ledger.record_download(export_id, actor="bob").download_count == 2
    assert ledger.expire(export_id).status == Status.EXPIRED
    gone = ledger.delete(export_id, actor="admin", reason="retention")
    assert (gone.status, gone.deleted_by, gone.delete_reason) == (
        Status.DELETED,
        "admin",
        "retention",
    )
    assert gone.download_count == 2
    assert gone.version == 7


def test_fail_then_retry_clears_error_and_requeues(
    ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.PROCESSING)
    failed = ledger.fail(export_id, error_message="out of memory")
    assert (failed.status, failed.error_message) == (Status.FAILED, "out of memory")
    retried = ledger.retry(export_id, actor="operator")
    assert (retried.status, retried.error_message) == (Status.QUEUED, None)
    assert ledger.start_processing(export_id).status == Status.PROCESSING
    assert ledger.complete(export_id, file_size=1, file_url=FILE_URL).status == Status.COMPLETED


def test_unknown_export_is_not_found(ledger: ExportLedger) -> None:
    missing = new_export_id()
    with pytest.raises(ExportNotFound) as not_found:
        ledger.get(missing)
    assert not_found.value.export_id == missing
    for command in COMMANDS.values():
        with pytest.raises(ExportNotFound):
            command(ledger, missing, datetime.now(UTC))
    with pytest.raises(ExportNotFound):
        ledger.history(missing)
    assert ledger.head_position() == 0


# -- downloads and the clock ------------------------------------------------------


def test_downloads_while_completed_and_unexpired(
    ledger: ExportLedger, clock: Clock, export_in: ExportIn
) -> None:
    export_id = export_in(Status.COMPLETED)  # expires 7 days after the clock's "now"
    clock.advance(timedelta(days=7) - timedelta(microseconds=1))
    state = ledger.record_download(export_id, actor="alice", file_sha256=SHA)
    assert (state.status, state.download_count) == (Status.COMPLETED, 1)
    downloaded = ledger.history(export_id)[-1]
    assert (downloaded.type, downloaded.actor) == ("Downloaded", "alice")
    assert downloaded.data == {"file_sha256": SHA}


@pytest.mark.parametrize("past", [timedelta(0), timedelta(seconds=1), timedelta(days=365)])
def test_download_refused_once_the_file_has_expired(
    past: timedelta, ledger: ExportLedger, clock: Clock, export_in: ExportIn
) -> None:
    export_id = export_in(Status.COMPLETED)
    expires_at = ledger.get(export_id).expires_at
    assert expires_at is not None
    clock.now = expires_at + past
    before = snapshot(ledger, export_id)

    with pytest.raises(IllegalTransition) as refused:
        ledger.record_download(export_id, actor="alice")

    message = str(refused.value)
    assert export_id in message
    assert "completed" in message
    assert "record a download" in message
    assert expires_at.isoformat() in message
    assert snapshot(ledger, export_id) == before


def test_download_without_expiry_is_allowed_forever(
    ledger: ExportLedger, clock: Clock, export_in: ExportIn
) -> None:
    export_id = export_in(Status.PROCESSING)
    ledger.complete(export_id, file_size=1, file_url=FILE_URL, expires_at=None)
    clock.advance(timedelta(days=10_000))
    assert ledger.record_download(export_id, actor="alice").download_count == 1


def test_expiry_in_another_timezone_is_compared_as_an_instant(
    ledger: ExportLedger, clock: Clock, export_in: ExportIn
) -> None:
    export_id = export_in(Status.PROCESSING)
    tokyo = timezone(timedelta(hours=9))
    expires_at = (clock.now + timedelta(hours=1)).astimezone(tokyo)
    assert (
        ledger.complete(export_id, file_size=1, file_url=FILE_URL, expires_at=expires_at).expires_at
        == expires_at
    )
    clock.advance(timedelta(minutes=59))
    assert ledger.record_download(export_id, actor="a").download_count == 1
    clock.advance(timedelta(minutes=1))
    with pytest.raises(IllegalTransition):
        ledger.record_download(export_id, actor="a")


# -- validation -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "JSON", "", "pdf", " json"])
def test_bad_format_is_invalid(fmt: str, ledger: ExportLedger, new_export: NewExport) -> None:
    with pytest.raises(InvalidExport, match="format"):
        new_export(format=fmt)
    assert ledger.head_position() == 0


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "markdown"])
def test_every_format_is_accepted(fmt: str, ledger: ExportLedger, new_export: NewExport) -> None:
    assert ledger.get(new_export(format=fmt)).format == fmt


@pytest.mark.parametrize(
    "count", [-1, -100, True, False, 1.0, 2.5, "3", None, MAX_CONVERSATIONS + 1]
)
def test_bad_conversation_count_is_invalid(
    count: Any, ledger: ExportLedger, new_export: NewExport
) -> None:
    with pytest.raises(InvalidExport, match="conversation_count"):
        new_export(conversation_count=count)
    assert ledger.head_position() == 0


@pytest.mark.parametrize("count", [0, 1, MAX_CONVERSATIONS])
def test_conversation_count_bounds(count: int, ledger: ExportLedger, new_export: NewExport) -> None:
    assert ledger.get(new_export(conversation_count=count)).conversation_count == count


@pytest.mark.parametrize(
    "config",
    [
        {"scope": "some"},
        {"filters": {"quality_score_min": 11}},
        {"includeMetadata": "yes"},
        {"include_metadata": True, "includeMetadata": True},
        {"format": "xml"},
    ],
)
def test_bad_config_is_invalid(
    config: dict[str, Any], ledger: ExportLedger, new_export: NewExport
) -> None:
    with pytest.raises(InvalidExport, match="config"):
        new_export(config=config)
    assert ledger.head_position() == 0


def test_a_config_format_other_than_the_exports_is_kept_as_data(
    ledger: ExportLedger, new_export: NewExport
) -> None:
    config = {"scope": "all", "format": "jsonl"}
    export = ledger.get(new_export(format="json", config=config))
    assert (export.format, export.config) == ("json", config)


@pytest.mark.parametrize(
    "config",
    [
        {"scope": "filtered", "filters": {"tiers": ["a"]}},
        {
            "scope": "all",
            "format": "jsonl",
            "includeMetadata": False,
            "filters": {"qualityScoreMin": 7},
        },
        {"bogus": 1, "filters": {"unknown_filter": [1, {"x": None}]}},
    ],
)
def test_config_is_kept_exactly_as_sent(
    config: dict[str, Any], ledger: ExportLedger, new_export: NewExport
) -> None:
    assert ledger.get(new_export(format="jsonl", config=config)).config == config
    assert ledger.get(new_export(config=None)).config == {}


@pytest.mark.parametrize("user_id", ["", "   ", "x" * 201])
def test_bad_user_id_is_invalid(user_id: str, ledger: ExportLedger, new_export: NewExport) -> None:
    with pytest.raises(InvalidExport, match="user_id"):
        new_export(user_id=user_id)


BAD_SHAS = ["AB" * 32, "ab" * 31, "ab" * 33, "g" * 64, "", "ab" * 31 + "a "]


@pytest.mark.parametrize("sha", BAD_SHAS)
def test_bad_sha256_is_invalid_on_complete(
    sha: str, ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.PROCESSING)
    before = snapshot(ledger, export_id)
    with pytest.raises(InvalidExport, match="sha256"):
        ledger.complete(export_id, file_size=1, file_url=FILE_URL, file_sha256=sha)
    assert snapshot(ledger, export_id) == before


@pytest.mark.parametrize("sha", BAD_SHAS)
def test_bad_sha256_is_invalid_on_download(
    sha: str, ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.COMPLETED)
    before = snapshot(ledger, export_id)
    with pytest.raises(InvalidExport, match="sha256"):
        ledger.record_download(export_id, actor="alice", file_sha256=sha)
    assert snapshot(ledger, export_id) == before


def test_naive_expires_at_is_invalid(ledger: ExportLedger, export_in: ExportIn) -> None:
    export_id = export_in(Status.PROCESSING)
    before = snapshot(ledger, export_id)
    with pytest.raises(InvalidExport, match="timezone"):
        ledger.complete(
            export_id, file_size=1, file_url=FILE_URL, expires_at=datetime(2030, 1, 1, 12)
        )
    assert snapshot(ledger, export_id) == before


@pytest.mark.parametrize(
    "bad",
    [
        {"file_size": -1},
        {"file_size": True},
        {"file_size": 1.5},
        {"file_url": ""},
        {"file_url": "x" * 2049},
        {"row_count": -1},
    ],
)
def test_bad_completion_is_invalid(
    bad: dict[str, Any], ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.PROCESSING)
    before = snapshot(ledger, export_id)
    with pytest.raises(InvalidExport):
        ledger.complete(export_id, **{"file_size": 1, "file_url": FILE_URL, **bad})
    assert snapshot(ledger, export_id) == before


@pytest.mark.parametrize("row_count", [True, "5", 2.5])
def test_non_integer_row_count_is_invalid(
    row_count: Any, ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.PROCESSING)
    with pytest.raises(InvalidExport):
        ledger.complete(export_id, file_size=1, file_url=FILE_URL, row_count=row_count)


@pytest.mark.parametrize("message", ["", "   ", "\n"])
def test_blank_error_message_is_invalid(
    message: str, ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.PROCESSING)
    before = snapshot(ledger, export_id)
    with pytest.raises(InvalidExport, match="error_message"):
        ledger.fail(export_id, error_message=message)
    assert snapshot(ledger, export_id) == before


# -- attribution and timestamps -----------------------------------------------------


def test_every_event_records_actor_and_utc_timestamp(
    ledger: ExportLedger, clock: Clock, new_export: NewExport
) -> None:
    export_id = new_export(user_id="alice")  # actor defaults to the requesting user
    ledger.start_processing(export_id)  # actor defaults to the system
    ledger.fail(export_id, error_message="x", actor="worker")
    ledger.retry(export_id, actor="operator")
    ledger.start_processing(export_id, actor="worker")
    ledger.complete(
        export_id, file_size=1, file_url=FILE_URL, expires_at=clock.now + timedelta(hours=1)
    )
    ledger.record_download(export_id, actor="bob")
    ledger.expire(export_id)
    ledger.delete(export_id, actor="admin")
    expected = [
        "alice", SYSTEM_ACTOR, "worker", "operator", "worker",
        SYSTEM_ACTOR, "bob", SYSTEM_ACTOR, "admin",
    ]  # fmt: skip

    events = list(ledger.events.get(aggregate_id(export_id)))
    assert [e.actor for e in events] == expected  # type: ignore[attr-defined]
    assert [h.actor for h in ledger.history(export_id)] == expected
    timestamps = [e.timestamp for e in events]
    for moment in timestamps:
        assert moment.tzinfo is not None
        assert moment.utcoffset() == timedelta(0)
    assert timestamps == sorted(timestamps)
    state = ledger.get(export_id)
    assert (state.created_at, state.updated_at) == (timestamps[0], timestamps[-1])


def test_explicit_request_actor_is_recorded(ledger: ExportLedger, new_export: NewExport) -> None:
    export_id = new_export(user_id="alice", actor="support-agent")
    state = ledger.get(export_id)
    assert (state.user_id, state.last_actor) == ("alice", "support-agent")
    assert ledger.history(export_id)[0].actor == "support-agent"


# -- ids --------------------------------------------------------------------------


def _decode_millis(export_id: str) -> int:
    value = 0
    for char in export_id[4:14]:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_export_id_format(ledger: ExportLedger, new_export: NewExport) -> None:
    ids = [new_export() for _ in range(50)] + [new_export_id() for _ in range(200)]
    for export_id in ids:
        assert EXPORT_ID_RE.match(export_id), export_id
        assert len(export_id) == 30
        assert is_export_id(export_id)
        assert not set(export_id[4:]) & set("ILOU")
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "text",
    ["exp_", "exp_" + "0" * 25, "exp_" + "0" * 27, "EXP_" + "0" * 26, "exp_" + "I" * 26,
     "exp_" + "a" * 26, "xp_" + "0" * 26, "exp_" + "0" * 26 + "\n0"],
)  # fmt: skip
def test_is_export_id_rejects_malformed(text: str) -> None:
    assert not is_export_id(text)


def test_export_ids_sort_by_creation_time() -> None:
    moments = [0, 1, 2, 999, 1_000, 1_700_000_000_000, 1_700_000_000_001, 2**48 - 1]
    ids = [new_export_id(now_ms=ms) for ms in moments]
    assert ids == sorted(ids)
    assert [_decode_millis(i) for i in ids] == moments
    same_ms = {new_export_id(now_ms=1_700_000_000_000) for _ in range(500)}
    assert len(same_ms) == 500  # the 80 random bits keep same-millisecond ids distinct
    assert max(same_ms) < new_export_id(now_ms=1_700_000_000_001)


def test_requested_ids_are_time_sortable(ledger: ExportLedger, new_export: NewExport) -> None:
    ids = []
    for _ in range(5):
        ids.append(new_export())
        time.sleep(0.002)
    assert ids == sorted(ids)
    created = [ledger.get(i).created_at for i in ids]
    for export_id, moment in zip(ids, created, strict=True):
        assert abs(_decode_millis(export_id) - moment.timestamp() * 1000) < 50


def test_aggregate_id_is_uuid5_of_export_id(ledger: ExportLedger, new_export: NewExport) -> None:
    export_id = new_export()
    expected = uuid5(UUID("6f1c2a52-6a43-4d8e-9c53-2f0f4c1b7e11"), export_id)
    assert aggregate_id(export_id) == expected
    assert aggregate_id(export_id).version == 5
    assert aggregate_id(export_id) == aggregate_id(str(export_id))
    assert aggregate_id(export_id) != aggregate_id(new_export_id())
    assert ExportLog.create_id(export_id=export_id) == expected
    aggregate = ledger.repository.get(expected)
    assert aggregate.id == expected
    assert {e.originator_id for e in ledger.events.get(expected)} == {expected}


# -- idempotency --------------------------------------------------------------------


def _request(app: ExportLedger, key: str | None, **overrides: Any) -> ExportState:
    body: dict[str, Any] = {
        "user_id": "user-1",
        "format": "csv",
        "config": {"scope": "all"},
        "conversation_count": 5,
    }
    body.update(overrides)
    return app.request_export(idempotency_key=key, **body)


def test_same_key_same_body_returns_same_export(ledger: ExportLedger) -> None:
    first = _request(ledger, "key-1")
    head = ledger.head_position()
    again = _request(ledger, "key-1")
    assert again.export_id == first.export_id
    assert again.version == first.version == 1
    assert ledger.head_position() == head
    assert len(ledger.history(first.export_id)) == 1


def test_same_key_equivalent_body_returns_same_export(ledger: ExportLedger) -> None:
    first = _request(ledger, "key-1", config={})
    again = _request(ledger, "key-1", config={"scope": "all", "include_metadata": True})
    assert again.export_id == first.export_id


def test_idempotent_replay_returns_current_state(ledger: ExportLedger) -> None:
    first = _request(ledger, "key-1")
    ledger.start_processing(first.export_id)
    again = _request(ledger, "key-1")
    assert (again.export_id, again.status, again.version) == (
        first.export_id,
        Status.PROCESSING,
        2,
    )


@pytest.mark.parametrize(
    "change",
    [
        {"format": "json"},
        {"conversation_count": 6},
        {"config": {"scope": "selected", "conversation_ids": ["c1"]}},
        {"config": {"include_metadata": False}},
    ],
)
def test_same_key_different_body_is_refused(change: dict[str, Any], ledger: ExportLedger) -> None:
    first = _request(ledger, "key-1")
    head = ledger.head_position()
    with pytest.raises(IdempotencyKeyReused) as reused:
        _request(ledger, "key-1", **change)
    assert (reused.value.key, reused.value.export_id) == ("key-1", first.export_id)
    assert "key-1" in str(reused.value)
    assert ledger.head_position() == head


def test_idempotency_keys_are_per_user(ledger: ExportLedger) -> None:
    alice = _request(ledger, "shared", user_id="alice")
    bob = _request(ledger, "shared", user_id="bob")
    assert alice.export_id != bob.export_id


def test_without_key_every_request_is_new(ledger: ExportLedger) -> None:
    assert _request(ledger, None).export_id != _request(ledger, None).export_id
    assert _request(ledger, "a").export_id != _request(ledger, "b").export_id


# -- state_as_of ----------------------------------------------------------------------


def _walk(app: ExportLedger, export_id: str, clock: Clock) -> list[Status]:
    """Run a path through every event type, pausing so each event has its own timestamp."""
    steps: list[Callable[[], ExportState]] = [
        lambda: app.start_processing(export_id),
        lambda: app.fail(export_id, error_message="x"),
        lambda: app.retry(export_id),
        lambda: app.start_processing(export_id),
        lambda: app.complete(
            export_id,
            file_size=5,
            file_url=FILE_URL,
            expires_at=clock.now + timedelta(days=1),
            file_sha256=SHA,
            row_count=1,
        ),
        lambda: app.record_download(export_id, actor="alice"),
        lambda: app.expire(export_id),
        lambda: app.delete(export_id, actor="admin", reason="done"),
    ]
    statuses = [Status.QUEUED]
    for step in steps:
        time.sleep(0.001)
        statuses.append(Status(step().status))
    return statuses


def test_history_lists_every_event_type(
    ledger: ExportLedger, clock: Clock, new_export: NewExport
) -> None:
    export_id = new_export()
    _walk(ledger, export_id, clock)
    history = ledger.history(export_id)
    assert [h.type for h in history] == [
        "Requested", "ProcessingStarted", "Failed", "Retried", "ProcessingStarted",
        "Completed", "Downloaded", "Expired", "Deleted",
    ]  # fmt: skip
    assert [h.version for h in history] == list(range(1, 10))
    assert all(h.position is None for h in history)  # popo cannot tell log positions
    by_type = {h.type: h.data for h in history}
    assert by_type["Requested"]["export_id"] == export_id
    assert by_type["Requested"]["format"] == "json"
    assert by_type["Failed"] == {"error_message": "x"}
    assert by_type["Completed"]["file_sha256"] == SHA
    assert by_type["Completed"]["file_size"] == 5
    assert by_type["Deleted"] == {"reason": "done"}
    assert by_type["Expired"] == {}
    for entry in history:
        assert not {"originator_id", "originator_version", "timestamp", "actor"} & set(entry.data)


def test_state_as_of_version(ledger: ExportLedger, clock: Clock, new_export: NewExport) -> None:
    export_id = new_export()
    statuses = _walk(ledger, export_id, clock)
    for version, status in enumerate(statuses, start=1):
        state = ledger.state_as_of(export_id, version=version)
        assert (state.version, state.status) == (version, status)
    assert ledger.state_as_of(export_id, version=7).download_count == 1
    assert ledger.state_as_of(export_id, version=6).download_count == 0
    assert ledger.state_as_of(export_id, version=3).error_message == "x"
    assert ledger.state_as_of(export_id, version=9) == ledger.get(export_id)


def test_state_as_of_timestamp(ledger: ExportLedger, clock: Clock, new_export: NewExport) -> None:
    export_id = new_export()
    statuses = _walk(ledger, export_id, clock)
    history = ledger.history(export_id)
    for entry, status in zip(history, statuses, strict=True):
        state = ledger.state_as_of(export_id, at=entry.timestamp)
        assert (state.version, state.status) == (entry.version, status)
        # Just before the next event, the export still stood at this version.
        if entry.version < len(history):
            nxt = history[entry.version].timestamp - timedelta(microseconds=1)
            assert ledger.state_as_of(export_id, at=nxt).version == entry.version
    # The same instant in another timezone gives the same answer.
    tokyo = timezone(timedelta(hours=9))
    assert ledger.state_as_of(export_id, at=history[3].timestamp.astimezone(tokyo)).version == 4
    assert ledger.state_as_of(export_id, at=datetime.now(UTC) + timedelta(days=1)).version == 9


def test_state_as_of_before_creation_is_not_found(
    ledger: ExportLedger, new_export: NewExport
) -> None:
    export_id = new_export()
    created = ledger.get(export_id).created_at
    with pytest.raises(ExportNotFound, match="did not exist yet") as not_found:
        ledger.state_as_of(export_id, at=created - timedelta(microseconds=1))
    assert not_found.value.export_id == export_id


def test_state_as_of_naive_timestamp_is_invalid(
    ledger: ExportLedger, new_export: NewExport
) -> None:
    export_id = new_export()
    with pytest.raises(InvalidExport, match="timezone"):
        ledger.state_as_of(export_id, at=datetime(2030, 1, 1, 12))  # naive on purpose


@pytest.mark.parametrize("version", [3, 4, 100])
def test_state_as_of_version_beyond_history_is_not_found(
    version: int, ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.PROCESSING)  # two events
    with pytest.raises(ExportNotFound, match="has only 2 events"):
        ledger.state_as_of(export_id, version=version)


@pytest.mark.parametrize("version", [0, -1])
def test_state_as_of_version_below_one_is_invalid(
    version: int, ledger: ExportLedger, new_export: NewExport
) -> None:
    with pytest.raises(InvalidExport, match="version"):
        ledger.state_as_of(new_export(), version=version)


def test_state_as_of_needs_exactly_one_of_at_and_version(
    ledger: ExportLedger, new_export: NewExport
) -> None:
    export_id = new_export()
    with pytest.raises(InvalidExport):
        ledger.state_as_of(export_id)
    with pytest.raises(InvalidExport):
        ledger.state_as_of(export_id, at=datetime.now(UTC), version=1)


def test_state_as_of_unknown_export_is_not_found(ledger: ExportLedger) -> None:
    with pytest.raises(ExportNotFound):
        ledger.state_as_of(new_export_id(), version=1)
    with pytest.raises(ExportNotFound):
        ledger.state_as_of(new_export_id(), at=datetime.now(UTC))


# -- expire_due -----------------------------------------------------------------------


class ListFinder:
    """A DueExportFinder over a fixed list of ids, like a stale index would be.

    With ``only_due`` it asks the ledger which are due (an accurate finder); without,
    it offers every id and leaves the re-check to ``expire_due``.
    """

    def __init__(self, app: ExportLedger, ids: Sequence[str], *, only_due: bool = True) -> None:
        self.app = app
        self.ids = list(ids)
        self.only_due = only_due
        self.calls: list[tuple[datetime, str | None, int]] = []

    def find_due(self, now: datetime, after: str | None, limit: int) -> list[str]:
        self.calls.append((now, after, limit))
        candidates = sorted(i for i in self.ids if after is None or i > after)
        if self.only_due:
            candidates = [i for i in candidates if self._due(i, now)]
        return candidates[:limit]

    def _due(self, export_id: str, now: datetime) -> bool:
        try:
            state = self.app.get(export_id)
        except ExportNotFound:
            return False
        return (
            state.status == Status.COMPLETED
            and state.expires_at is not None
            and state.expires_at <= now
        )


def _completed(app: ExportLedger, new_export: NewExport, expires_at: datetime | None) -> str:
    export_id = new_export()
    app.start_processing(export_id)
    app.complete(export_id, file_size=1, file_url=FILE_URL, expires_at=expires_at)
    return export_id


@pytest.mark.parametrize("only_due", [True, False], ids=["accurate", "stale"])
def test_expire_due_expires_only_due_exports(
    only_due: bool,
    ledger: ExportLedger,
    clock: Clock,
    new_export: NewExport,
    export_in: ExportIn,
) -> None:
    now = clock.now
    due = [
        _completed(ledger, new_export, now - timedelta(hours=1)),
        _completed(ledger, new_export, now),  # due exactly now
    ]
    not_due = {
        _completed(ledger, new_export, now + timedelta(seconds=1)): Status.COMPLETED,
        _completed(ledger, new_export, None): Status.COMPLETED,
        export_in(Status.QUEUED): Status.QUEUED,
        export_in(Status.PROCESSING): Status.PROCESSING,
        export_in(Status.FAILED): Status.FAILED,
        export_in(Status.EXPIRED): Status.EXPIRED,
        export_in(Status.DELETED): Status.DELETED,
    }
    finder = ListFinder(ledger, [*due, *not_due, new_export_id()], only_due=only_due)
    versions = {i: ledger.get(i).version for i in not_due}

    assert ledger.expire_due(finder) == 2

    for export_id in due:
        state = ledger.get(export_id)
        assert (state.status, state.last_actor) == (Status.EXPIRED, SYSTEM_ACTOR)
        assert ledger.history(export_id)[-1].type == "Expired"
    for export_id, status in not_due.items():
        assert ledger.get(export_id).status == status
        assert ledger.get(export_id).version == versions[export_id]
    assert all(call[0] == now for call in finder.calls)

    head = ledger.head_position()
    assert ledger.expire_due(finder) == 0
    assert ledger.head_position() == head


def test_expire_due_pages_through_the_finder(
    ledger: ExportLedger, clock: Clock, new_export: NewExport
) -> None:
    ids = sorted(_completed(ledger, new_export, clock.now - timedelta(minutes=1)) for _ in range(5))
    finder = ListFinder(ledger, ids, only_due=False)
    assert ledger.expire_due(finder, batch_size=2) == 5
    assert [(after, limit) for _, after, limit in finder.calls] == [
        (None, 2),
        (ids[1], 2),
        (ids[3], 2),
        (ids[4], 2),
    ]
    assert {ledger.get(i).status for i in ids} == {Status.EXPIRED}


def test_expire_due_uses_given_now_over_the_clock(
    ledger: ExportLedger, clock: Clock, new_export: NewExport
) -> None:
    export_id = _completed(ledger, new_export, clock.now + timedelta(days=2))
    finder = ListFinder(ledger, [export_id])
    assert ledger.expire_due(finder) == 0
    assert ledger.expire_due(finder, now=clock.now + timedelta(days=1)) == 0
    assert ledger.expire_due(finder, now=clock.now + timedelta(days=2)) == 1
    assert ledger.get(export_id).status == Status.EXPIRED
    with pytest.raises(IllegalTransition):
        ledger.record_download(export_id, actor="alice")


def test_expire_due_follows_the_clock(
    ledger: ExportLedger, clock: Clock, new_export: NewExport
) -> None:
    export_id = _completed(ledger, new_export, clock.now + timedelta(hours=1))
    finder = ListFinder(ledger, [export_id])
    assert ledger.expire_due(finder) == 0
    clock.advance(timedelta(hours=1))
    assert ledger.expire_due(finder) == 1
    assert ledger.expire_due(finder) == 0


def test_expire_due_naive_now_is_invalid(
    ledger: ExportLedger, clock: Clock, new_export: NewExport
) -> None:
    export_id = _completed(ledger, new_export, clock.now - timedelta(hours=1))
    with pytest.raises(InvalidExport):
        ledger.expire_due(ListFinder(ledger, [export_id], only_due=False), now=datetime(2030, 1, 1))
