"""The pgoutput v1 decoder on bytes built here as the manual describes them: every
message kind round-trips, and bytes that are not one message raise MalformedMessage
(never another error)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.sync.pgoutput import (
    POSTGRES_EPOCH,
    UNCHANGED,
    Begin,
    Column,
    Commit,
    Delete,
    Insert,
    MalformedMessage,
    Relation,
    Row,
    Truncate,
    Update,
    decode,
    format_lsn,
    parse_lsn,
)


def micros(moment: datetime) -> int:
    return (moment - POSTGRES_EPOCH) // timedelta(microseconds=1)


def string(text: str) -> bytes:
    return text.encode() + b"\x00"


def row(values: Row) -> bytes:
    out = struct.pack("!h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is UNCHANGED:
            out += b"u"
        else:
            assert isinstance(value, str)
            raw = value.encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


def encode(message: object) -> bytes:
    if isinstance(message, Begin):
        return b"B" + struct.pack(
            "!QqI", message.final_lsn, micros(message.commit_time), message.xid
        )
    if isinstance(message, Commit):
        return b"C" + struct.pack(
            "!bQQq", message.flags, message.commit_lsn, message.end_lsn, micros(message.commit_time)
        )
    if isinstance(message, Relation):
        out = b"R" + struct.pack("!I", message.oid) + string(message.namespace)
        out += string(message.name) + message.replica_identity.encode()
        out += struct.pack("!h", len(message.columns))
        for c in message.columns:
            out += struct.pack("!b", int(c.key)) + string(c.name)
            out += struct.pack("!Ii", c.type_oid, c.type_modifier)
        return out
    if isinstance(message, Insert):
        return b"I" + struct.pack("!I", message.oid) + b"N" + row(message.new)
    if isinstance(message, Update):
        old = b"" if message.old is None else b"O" + row(message.old)
        return b"U" + struct.pack("!I", message.oid) + old + b"N" + row(message.new)
    if isinstance(message, Delete):
        kind = b"K" if message.old_is_key else b"O"
        return b"D" + struct.pack("!I", message.oid) + kind + row(message.old)
    assert isinstance(message, Truncate)
    oids = b"".join(struct.pack("!I", oid) for oid in message.oids)
    return b"T" + struct.pack("!ib", len(message.oids), message.options) + oids


lsns = st.integers(0, 2**64 - 1)
oids = st.integers(0, 2**32 - 1)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
names = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20
)
values = st.one_of(
    st.none(), st.just(UNCHANGED), st.text(st.characters(blacklist_categories=("Cs",)))
)
rows = st.lists(values, max_size=16).map(tuple)
columns = st.builds(Column, names, oids, st.integers(-(2**31), 2**31 - 1), st.booleans())
messages = st.one_of(
    st.builds(Begin, lsns, times, oids),
    st.builds(Commit, st.just(0), lsns, lsns, times),
    st.builds(
        Relation,
        oids,
        names,
        names,
        st.sampled_from("dfin"),
        st.lists(columns, max_size=16).map(tuple),
    ),
    st.builds(Insert, oids, rows),
    st.builds(Update, oids, st.one_of(st.none(), rows), rows),
    st.builds(Delete, oids, st.just(False), rows),
    st.builds(Truncate, st.integers(0, 3), st.lists(oids, max_size=5).map(tuple)),
)


@given(messages)
def test_every_message_round_trips(message: object) -> None:
    assert decode(encode(message)) == message


@given(messages, st.data())
def test_a_cut_or_padded_message_is_malformed(message: object, data: st.DataObject) -> None:
    raw = encode(message)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(MalformedMessage):
        decode(raw[:cut])
    with pytest.raises(MalformedMessage):
        decode(raw + b"\x00")


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_are_malformed(raw: bytes) -> None:
    try:
        decode(raw)
    except MalformedMessage:
        pass


def test_binary_values_and_unknown_kinds_are_malformed() -> None:
    with pytest.raises(MalformedMessage, match="unknown pgoutput message kind"):
        decode(b"Z")
    with pytest.raises(MalformedMessage, match="unknown tuple value kind 'b'"):
        decode(b"I" + struct.pack("!I", 1) + b"N" + struct.pack("!h", 1) + b"b")


@given(lsns)
def test_lsns_print_and_parse_as_postgresql_writes_them(lsn: int) -> None:
    assert parse_lsn(format_lsn(lsn)) == lsn


def test_an_lsn_as_postgresql_writes_it() -> None:
    assert format_lsn(0x16B374D848) == "16/B374D848"
