"""The pseudonym a stored event carries in the clear, as read-your-writes reads it."""

from __future__ import annotations

from uuid import uuid4

import orjson

from domain.privacy import MemoryKeys, seal_state, stored_subject


def test_a_sealed_state_names_its_subject() -> None:
    keys = MemoryKeys(b"s" * 32)
    state = seal_state(
        "Requested", uuid4(), {"user_id": "alice", "config": {}}, "alice", keys, first=True
    )
    assert stored_subject(orjson.dumps(state)) == keys.pseudonym("alice")


def test_states_without_a_pseudonym_name_none() -> None:
    assert stored_subject(b'{"user_id": "alice"}') is None  # stored before pseudonyms
    assert stored_subject(b'{"subject": 7}') is None
    assert stored_subject(b"[1, 2]") is None
    assert stored_subject(b"\x00not json") is None
