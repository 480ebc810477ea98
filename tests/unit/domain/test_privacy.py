"""Crypto-shredding on the in-memory ledger: personal fields are stored sealed,
load as they were, open as erased once the subject's key is destroyed, and a lost
key of a subject never erased is an error that names the subject."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import orjson
import pytest

from domain.exceptions import ExportOnHold, SubjectErased, SubjectKeyMissing
from domain.exports.ids import aggregate_id
from domain.exports.values import Status
from domain.ledger.application import ExportLedger
from domain.privacy import ERASED_TEXT, MemoryKeys, erased_value
from tests.unit.conftest import FakeClock

SECRET_URL = "s3://exports/alice-smith-tax-2026.json"


class LedgerSubjects:
    """A SubjectExports over the in-memory ledger: every export it has made."""

    def __init__(self, ledger: ExportLedger, export_ids: Sequence[str]) -> None:
        self.ledger, self.export_ids = ledger, list(export_ids)

    def projected_position(self) -> int:
        return self.ledger.head_position()

    def export_ids_of(self, user_id: str) -> list[str]:
        return [e for e in self.export_ids if self.ledger.get(e).user_id == user_id]

    def exports_sealed_since(self, subject: str, after: int) -> list[str]:
        return []  # one thread: nothing is recorded while the key goes

    def open_holds(self, export_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        return [
            (e, hold_id, hold["matter"])
            for e in export_ids
            for hold_id, hold in self.ledger.get(e).holds.items()
        ]


def stored_states(ledger: ExportLedger) -> list[bytes]:
    return [n.state for n in ledger.recorder.select_notifications(start=1, limit=10_000)]


def lifecycle(ledger: ExportLedger, clock: FakeClock, user: str = "alice") -> str:
    export_id = ledger.request_export(
        user_id=user, format="csv", config={"filters": {"tiers": ["alice-private"]}},
        conversation_count=2,
    ).export_id  # fmt: skip
    ledger.start_processing(export_id, actor="worker")
    ledger.fail(export_id, error_message="alice's disk is full", actor="worker")
    ledger.retry(export_id, actor=user)
    ledger.start_processing(export_id, actor="worker")
    ledger.complete(
        export_id, file_size=1, file_url=SECRET_URL, expires_at=clock.now + timedelta(days=1)
    )
    ledger.record_download(export_id, actor=user)
    return export_id


PLAINTEXTS = (b"alice", b"alice-private", SECRET_URL.encode(), b"disk is full")


def test_personal_fields_are_stored_sealed_and_load_as_they_were(
    ledger: ExportLedger, clock: FakeClock
) -> None:
    export_id = lifecycle(ledger, clock)
    for state in stored_states(ledger):
        assert not any(p in state for p in PLAINTEXTS), state
    state = ledger.get(export_id)
    assert (state.user_id, state.file_url, state.config) == (
        "alice", SECRET_URL, {"filters": {"tiers": ["alice-private"]}},
    )  # fmt: skip
    history = ledger.history(export_id)
    assert history[2].data["error_message"] == "alice's disk is full"
    assert history[-1].actor == "alice" and history[1].actor == "worker"
    assert "subject" not in history[0].data


def test_an_erased_subject_reads_as_erased_everywhere(
    ledger: ExportLedger, clock: FakeClock
) -> None:
    export_id, other = lifecycle(ledger, clock), lifecycle(ledger, clock, "bob")
    finder = LedgerSubjects(ledger, [export_id, other])
    erasure = ledger.erase_subject("alice", actor="dpo", reason="art. 17", exports=finder)
    assert erasure.erased_now and erasure.export_ids == [export_id]
    state = ledger.get(export_id)
    subject = erasure.subject
    assert state.user_id == erased_value("user_id", subject) == f"erased:{subject}"
    assert (state.file_url, state.config, state.last_actor) == (
        ERASED_TEXT, {"erased": True}, ERASED_TEXT,
    )  # fmt: skip
    entries = ledger.history(export_id)
    assert entries[2].data["error_message"] == ERASED_TEXT
    assert all(b"alice" not in orjson.dumps(e.data, default=str) for e in entries)
    assert ledger.state_as_of(export_id, version=1).user_id == f"erased:{subject}"
    assert ledger.get(other).user_id == "bob"  # others untouched
    again = ledger.erase_subject("alice", actor="dpo", reason=None, exports=finder)
    assert not again.erased_now and again.export_ids == [export_id]
    assert ledger.erasure_of("alice") is not None and ledger.erasure_of("bob") is None
    # Commands that carry no personal data still run; personal data is refused.
    ledger.expire(export_id)
    with pytest.raises(SubjectErased):
        ledger.request_export(user_id="alice", format="csv", config={}, conversation_count=1)


def test_erasure_is_refused_while_an_export_is_held(ledger: ExportLedger, clock: FakeClock) -> None:
    export_id = lifecycle(ledger, clock)
    hold_id, _ = ledger.place_hold(export_id, matter="M-9", actor="legal")
    finder = LedgerSubjects(ledger, [export_id])
    with pytest.raises(ExportOnHold) as refused:
        ledger.erase_subject("alice", actor="dpo", reason=None, exports=finder)
    assert refused.value.hold_id == hold_id and "erase its subject" in str(refused.value)
    assert ledger.get(export_id).user_id == "alice"  # nothing destroyed
    ledger.release_hold(export_id, hold_id, actor="legal")
    assert ledger.erase_subject("alice", actor="dpo", reason=None, exports=finder).erased_now


def test_a_lost_key_of_a_subject_never_erased_is_an_error_naming_them(
    ledger: ExportLedger, clock: FakeClock
) -> None:
    export_id = lifecycle(ledger, clock)
    keys = ledger.subject_keys
    assert isinstance(keys, MemoryKeys)
    subject = keys.pseudonym("alice")
    key = keys.keys.pop(subject)
    with pytest.raises(SubjectKeyMissing) as missing:
        ledger.get(export_id)
    assert subject in str(missing.value)
    assert key is not None and key.hex() not in str(missing.value)


def test_clear_events_stored_before_sealing_load_and_hide_once_erased(
    ledger: ExportLedger, clock: FakeClock
) -> None:
    """An event without a subject (as stored before) loads as stored; once its export
    is an erased subject's, its personal fields read as erased."""
    export_id = lifecycle(ledger, clock)
    mapper = ledger.mapper
    stored = list(ledger.recorder.select_events(aggregate_id(export_id)))
    requested = orjson.loads(stored[0].state)
    clear = {**requested, "user_id": "alice", "config": {}, "actor": "alice"}
    del clear["subject"]
    old = type(stored[0])(
        originator_id=stored[0].originator_id, originator_version=1, topic=stored[0].topic,
        state=orjson.dumps(clear),
    )  # fmt: skip
    assert vars(mapper.to_domain_event(old))["user_id"] == "alice"
    keys = ledger.subject_keys
    assert isinstance(keys, MemoryKeys)
    keys.erase(keys.pseudonym("alice"), [aggregate_id(export_id)])
    opened = vars(mapper.to_domain_event(old))
    assert opened["user_id"].startswith("erased:") and opened["actor"] == ERASED_TEXT


def test_an_erased_export_still_deletes_but_takes_no_personal_reason(
    ledger: ExportLedger, clock: FakeClock
) -> None:
    first, second = lifecycle(ledger, clock), lifecycle(ledger, clock)
    finder = LedgerSubjects(ledger, [first, second])
    ledger.erase_subject("alice", actor="dpo", reason=None, exports=finder)
    with pytest.raises(SubjectErased):
        ledger.delete(first, actor="admin", reason="asked by alice")
    assert ledger.delete(first, actor="admin").status == Status.DELETED
    assert ledger.delete(second, actor="admin").status == Status.DELETED
