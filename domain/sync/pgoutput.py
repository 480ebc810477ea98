"""PostgreSQL's ``pgoutput`` logical replication messages, protocol version 1, as values.

Pure: bytes in, frozen dataclasses out (the message formats are those of the
PostgreSQL manual, "Logical Replication Message Formats"). Values of a row are
the server's text output (``t``), None (``n``) or :data:`UNCHANGED` (``u``: a
TOASTed value the update did not change, which the decoder does not send again).
Anything else (a short message, an unknown kind, binary values, which version 1
never sends) raises :class:`MalformedMessage` and decodes nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Final

from domain.exceptions import ExportLedgerError

POSTGRES_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
_INT16 = struct.Struct("!h")
_INT32 = struct.Struct("!i")
_TEXT_VALUE, _NULL_VALUE, _UNCHANGED_VALUE = b"t"[0], b"n"[0], b"u"[0]


class MalformedMessage(ExportLedgerError, ValueError):
    """Bytes that are not a pgoutput version 1 message."""


class _Unchanged(Enum):
    UNCHANGED = "u"

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged.UNCHANGED
"""An unchanged TOASTed value: the row's old value stands."""

Value = str | None | _Unchanged
Row = tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_time: datetime
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_time: datetime


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    key: bool


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Insert:
    oid: int
    new: Row


@dataclass(frozen=True, slots=True)
class Update:
    oid: int
    old: Row | None
    """The old key (``K``) or whole old row (``O``), when the identity sends one."""
    new: Row


@dataclass(frozen=True, slots=True)
class Delete:
    oid: int
    old_is_key: bool
    old: Row


@dataclass(frozen=True, slots=True)
class Truncate:
    options: int
    oids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class TypeInfo:
    oid: int
    namespace: str
    name: str


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Origin | TypeInfo


def format_lsn(lsn: int) -> str:
    """An LSN as PostgreSQL writes it (``16/B374D848``)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise MalformedMessage(f"not an LSN: {text!r}") from None


def decode(data: bytes) -> Message:
    """One message; MalformedMessage when ``data`` is not exactly one."""
    reader = _Reader(bytes(data))
    kind = reader.byte()
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise MalformedMessage(f"unknown pgoutput message kind {kind!r}")
    message: Message = decoder(reader)
    reader.end()
    return message


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise MalformedMessage("pgoutput message ends too soon")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def byte(self) -> str:
        return self.take(1).decode("latin-1")

    def int8(self) -> int:
        return int(struct.unpack("!b", self.take(1))[0])

    def int16(self) -> int:
        return int(struct.unpack("!h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack("!i", self.take(4))[0])

    def uint32(self) -> int:
        return int(struct.unpack("!I", self.take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack("!q", self.take(8))[0])

    def uint64(self) -> int:
        return int(struct.unpack("!Q", self.take(8))[0])

    def time(self) -> datetime:
        micros = self.int64()
        try:
            return POSTGRES_EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise MalformedMessage(f"commit time {micros} is out of range") from None

    def string(self) -> str:
        end = self.data.find(b"\x00", self.at)
        if end < 0:
            raise MalformedMessage("pgoutput string has no terminating NUL")
        text = self.text(self.data[self.at : end])
        self.at = end + 1
        return text

    @staticmethod
    def text(raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage("pgoutput text is not UTF-8") from None

    def row(self) -> Row:
        """TupleData, read in one tight loop (it is most of what a follow decodes)."""
        data, at, size = self.data, self.at, len(self.data)
        if at + 2 > size:
            raise MalformedMessage("pgoutput message ends too soon")
        (count,) = _INT16.unpack_from(data, at)
        if count < 0:
            raise MalformedMessage(f"negative column count {count}")
        at += 2
        values: list[Value] = []
        for _ in range(count):
            if at >= size:
                raise MalformedMessage("pgoutput message ends too soon")
            kind = data[at]
            at += 1
            if kind == _TEXT_VALUE:
                if at + 4 > size:
                    raise MalformedMessage("pgoutput message ends too soon")
                (length,) = _INT32.unpack_from(data, at)
                at += 4
                if length < 0 or at + length > size:
                    raise MalformedMessage("pgoutput message ends too soon")
                values.append(self.text(data[at : at + length]))
                at += length
            elif kind == _NULL_VALUE:
                values.append(None)
            elif kind == _UNCHANGED_VALUE:
                values.append(UNCHANGED)
            else:
                raise MalformedMessage(f"unknown tuple value kind {chr(kind)!r}")
        self.at = at
        return tuple(values)

    def end(self) -> None:
        if self.at != len(self.data):
            raise MalformedMessage(f"{len(self.data) - self.at} bytes after the message")


def _begin(r: _Reader) -> Begin:
    return Begin(r.uint64(), r.time(), r.uint32())


def _commit(r: _Reader) -> Commit:
    return Commit(r.int8(), r.uint64(), r.uint64(), r.time())


def _relation(r: _Reader) -> Relation:
    oid, namespace, name, identity = r.uint32(), r.string(), r.string(), r.byte()
    count = r.int16()
    if count < 0:
        raise MalformedMessage(f"negative column count {count}")
    columns = []
    for _ in range(count):
        flags, column = r.int8(), r.string()
        columns.append(Column(column, r.uint32(), r.int32(), bool(flags & 1)))
    return Relation(oid, namespace, name, identity, tuple(columns))


def _insert(r: _Reader) -> Insert:
    oid = r.uint32()
    _expect(r, "N")
    return Insert(oid, r.row())


def _update(r: _Reader) -> Update:
    oid = r.uint32()
    kind = r.byte()
    old = None
    if kind in ("K", "O"):
        old = r.row()
        kind = r.byte()
    if kind != "N":
        raise MalformedMessage(f"update without its new row (got {kind!r})")
    return Update(oid, old, r.row())


def _delete(r: _Reader) -> Delete:
    oid = r.uint32()
    kind = r.byte()
    if kind not in ("K", "O"):
        raise MalformedMessage(f"delete without its old key or row (got {kind!r})")
    return Delete(oid, kind == "K", r.row())


def _truncate(r: _Reader) -> Truncate:
    count, options = r.int32(), r.int8()
    if count < 0:
        raise MalformedMessage(f"negative relation count {count}")
    return Truncate(options, tuple(r.uint32() for _ in range(count)))


def _origin(r: _Reader) -> Origin:
    return Origin(r.uint64(), r.string())


def _type(r: _Reader) -> TypeInfo:
    return TypeInfo(r.uint32(), r.string(), r.string())


def _expect(r: _Reader, wanted: str) -> None:
    kind = r.byte()
    if kind != wanted:
        raise MalformedMessage(f"expected {wanted!r}, got {kind!r}")


_DECODERS: dict[str, Callable[[_Reader], Message]] = {
    "B": _begin,
    "C": _commit,
    "R": _relation,
    "I": _insert,
    "U": _update,
    "D": _delete,
    "T": _truncate,
    "O": _origin,
    "Y": _type,
}
