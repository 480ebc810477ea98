"""The sealed-value format: a value names the key it is sealed under, old unmarked values
open under the subject's key, and the associated data binds a value to its export and
field; a shed key reads as shed, an erased one as erased, a missing one is an error."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from domain.exceptions import (
    ExportKeyMissing,
    ExportShed,
    SealedValueInvalid,
    SubjectErased,
    SubjectKeyMissing,
)
from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from domain.privacy import (
    EXPORT_SEALED_FIELDS,
    KEY_MARKER,
    SEALED,
    SHED_TEXT,
    MemoryKeys,
    erased_value,
    open_export_value,
    open_state,
    seal_export_value,
    seal_state,
    seal_value,
    sealing,
    shed_value,
)
from tests.unit.conftest import FakeClock

CONFIG = {"filters": {"name": "alice-filter"}}


def requested(keys: MemoryKeys, export: UUID, user: str = "alice") -> dict[str, Any]:
    state = {"user_id": user, "config": CONFIG, "actor": user, "format": "csv"}
    return seal_state("Requested", export, state, user, keys, first=True)


def opened(kind: str, export: UUID, state: dict[str, Any], keys: MemoryKeys) -> dict[str, Any]:
    return open_state(kind, export, orjson.loads(orjson.dumps(state)), keys)


def test_a_new_export_seals_its_own_fields_under_its_key_and_its_owner_under_the_subjects() -> None:
    keys, export = MemoryKeys(), uuid4()
    state = requested(keys, export)
    assert state["config"][KEY_MARKER] == "export"
    assert KEY_MARKER not in state["user_id"] and KEY_MARKER not in state["actor"]
    assert keys.export_keys[export][0] == state["subject"] == keys.pseudonym("alice")
    assert opened("Requested", export, state, keys) == {
        "user_id": "alice", "config": CONFIG, "actor": "alice", "format": "csv",
    }  # fmt: skip


def test_an_old_value_without_a_marker_opens_under_the_subjects_key() -> None:
    keys, export = MemoryKeys(), uuid4()
    subject = keys.pseudonym("alice")
    key = keys.writing_key(subject)
    state = {
        "user_id": seal_value(key, subject, "user_id", "alice"),
        "config": seal_value(key, subject, "config", CONFIG),
        "subject": subject,
    }
    assert opened("Requested", export, state, keys) == {"user_id": "alice", "config": CONFIG}


def test_later_events_of_an_export_without_a_key_stay_under_the_subjects_key() -> None:
    """An export recorded before export keys has none; its new values keep the old format."""
    keys, export = MemoryKeys(), uuid4()
    state = seal_state("Completed", export, {"file_url": "s3://f"}, "alice", keys)
    assert KEY_MARKER not in state["file_url"] and export not in keys.export_keys
    assert opened("Completed", export, state, keys)["file_url"] == "s3://f"


def test_later_events_of_a_new_export_seal_under_its_key() -> None:
    keys, export = MemoryKeys(), uuid4()
    requested(keys, export)
    for kind, field in (("Completed", "file_url"), ("Failed", "error_message"),
                        ("Deleted", "reason")):  # fmt: skip
        state = seal_state(kind, export, {field: "x", "actor": "worker"}, "alice", keys)
        assert state[field][KEY_MARKER] == "export" and state["actor"] == "worker"
        assert opened(kind, export, state, keys)[field] == "x"


@pytest.mark.parametrize("field", ["config", "file_url"])
def test_a_value_moved_to_another_export_does_not_open(field: str) -> None:
    keys, source, target = MemoryKeys(), uuid4(), uuid4()
    first, second = requested(keys, source), requested(keys, target)
    moved = {**second, "config": first["config"]}
    with pytest.raises(SealedValueInvalid, match=f"config of export {target}"):
        opened("Requested", target, moved, keys)
    # Same key, another export id: the associated data alone refuses it.
    key = keys.export_writing_key(source, first["subject"], make=False)
    assert key is not None
    sealed = seal_export_value(key, source, field, "v")
    assert open_export_value(key, source, field, sealed) == "v"
    with pytest.raises(SealedValueInvalid, match="moved from another export or field"):
        open_export_value(key, target, field, sealed)


def test_a_value_moved_to_another_field_does_not_open() -> None:
    keys, export = MemoryKeys(), uuid4()
    requested(keys, export)
    done = seal_state("Completed", export, {"file_url": "s3://f"}, "alice", keys)
    failed = {"error_message": done["file_url"], "subject": done["subject"]}
    with pytest.raises(SealedValueInvalid, match="error_message"):
        opened("Failed", export, failed, keys)


def test_a_changed_ciphertext_or_an_unknown_key_is_a_clear_error() -> None:
    keys, export = MemoryKeys(), uuid4()
    state = requested(keys, export)
    changed = dict(state["config"])
    changed[SEALED] = changed[SEALED][:-4] + "AAAA"
    with pytest.raises(SealedValueInvalid):
        opened("Requested", export, {**state, "config": changed}, keys)
    unknown = {**state["config"], KEY_MARKER: "tenant"}
    with pytest.raises(SealedValueInvalid, match="unknown key 'tenant'"):
        opened("Requested", export, {**state, "config": unknown}, keys)


def test_a_shed_key_reads_as_shed_and_the_owner_stays() -> None:
    keys, export = MemoryKeys(), uuid4()
    state = requested(keys, export)
    done = seal_state("Completed", export, {"file_url": "s3://f"}, "alice", keys)
    keys.shed(export)
    assert opened("Requested", export, state, keys) == {
        "user_id": "alice", "config": {"shed": True}, "actor": "alice", "format": "csv",
    }  # fmt: skip
    assert opened("Completed", export, done, keys)["file_url"] == SHED_TEXT == shed_value("x")
    with pytest.raises(ExportShed):
        seal_state("Failed", export, {"error_message": "late"}, "alice", keys)


def test_an_erased_subject_reads_as_erased_under_both_keys() -> None:
    keys, export = MemoryKeys(), uuid4()
    state = requested(keys, export)
    subject = state["subject"]
    keys.erase(subject, [export])
    read = opened("Requested", export, state, keys)
    assert read["user_id"] == erased_value("user_id", subject)
    assert read["config"] == {"erased": True}
    with pytest.raises(SubjectErased):
        seal_state("Completed", export, {"file_url": "s3://f"}, "alice", keys)
    with pytest.raises(SubjectErased):
        requested(keys, uuid4())


def test_a_missing_export_key_is_an_error_naming_the_export() -> None:
    keys, export = MemoryKeys(), uuid4()
    state = requested(keys, export)
    key = keys.export_keys.pop(export)[1]
    with pytest.raises(ExportKeyMissing) as missing:
        opened("Requested", export, state, keys)
    assert isinstance(missing.value, SubjectKeyMissing)
    assert str(export) in str(missing.value) and state["subject"] in str(missing.value)
    assert isinstance(key, bytes) and key.hex() not in str(missing.value)


def test_the_cipher_cache_keeps_a_working_set_while_others_pass() -> None:
    cipher = sealing._ciphers(64)
    once = cipher(b"\xff" * 32)
    working = [bytes([i]) * 32 for i in range(40)]
    kept = [cipher(k) for k in working]
    for i in range(1000):
        cipher(i.to_bytes(4, "big") * 8)
        if i % 20 == 0:  # the working set is used all along
            assert [cipher(k) for k in working] == kept
    assert cipher(b"\xff" * 32) is not once  # long unused: dropped


def test_the_ledger_stores_each_field_under_its_key(ledger: ExportLedger, clock: FakeClock) -> None:
    export_id = ledger.request_export(
        user_id="alice", format="csv", config=CONFIG, conversation_count=1
    ).export_id
    ledger.start_processing(export_id, actor="worker")
    ledger.fail(export_id, error_message="alice: quota", actor="worker")
    ledger.retry(export_id, actor="alice")
    ledger.delete(export_id, actor="alice", reason="alice asked")
    states = [orjson.loads(e.state) for e in ledger.recorder.select_events(aggregate_id(export_id))]
    for state in states:
        for field, value in state.items():
            if isinstance(value, dict) and SEALED in value:
                marked = value.get(KEY_MARKER) == "export"
                assert marked == (field in EXPORT_SEALED_FIELDS), (field, value)
    history = ledger.history(export_id)
    assert history[2].data["error_message"] == "alice: quota"
    assert history[-1].data["reason"] == "alice asked" and history[-1].actor == "alice"
