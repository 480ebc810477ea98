"""The orjson transcoder writes what the library's JSON transcoder writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st

from domain.ledger.transcoder import OrjsonTranscoder


def _registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY, FAST = _registered(JSONTranscoder()), _registered(OrjsonTranscoder())

moments = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | moments
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
states = st.dictionaries(st.text(min_size=1), values, max_size=8)


@given(states)
def test_the_same_bytes_as_the_library_for_every_state_without_floats(
    state: dict[str, Any],
) -> None:
    assert FAST.encode(state) == LIBRARY.encode(state)


@given(st.dictionaries(st.text(), st.floats(allow_nan=False, allow_infinity=False), max_size=4))
def test_floats_read_back_as_the_same_numbers(state: dict[str, float]) -> None:
    assert LIBRARY.decode(FAST.encode(state)) == state


def test_what_orjson_would_write_otherwise_is_written_by_the_library() -> None:
    claim = {"claim_id": uuid4(), "key": "k"}  # an idempotency claim's UUID
    big = {"count": 2**70, "at": datetime(2026, 3, 3, tzinfo=UTC)}
    for state in (claim, big, {"keys": {1: "not text"}}):
        assert FAST.encode(state) == LIBRARY.encode(state)
    assert isinstance(LIBRARY.decode(FAST.encode(claim))["claim_id"], UUID)
