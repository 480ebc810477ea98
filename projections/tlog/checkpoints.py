"""Signed checkpoints as stored in ``ledger_checkpoints``, and the log's origin.

A checkpoint with an origin is a C2SP checkpoint note (c2sp.org/tlog-checkpoint); one
without keeps the first format (domain/tlog/merkle.py documents both). A log has one origin:
the ``log_origin`` setting when given, else ``export-ledger.local/<first key id>``, which
differs per ledger; once a C2SP checkpoint is stored, its origin is the log's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from domain.exceptions import ConfigurationError
from domain.tlog import merkle, notes
from sql import statement

Connection = psycopg.Connection[Any]
DEFAULT_ORIGIN_HOST = "export-ledger.local"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head, as stored or as saved elsewhere (JSON). With an origin it
    is a C2SP checkpoint note; without, a checkpoint of the first format (see
    domain/tlog/merkle.py)."""

    tree_size: int
    root: bytes
    position: int
    created_at: datetime
    key_id: str
    signature: bytes
    public_key: bytes | None  # None when the key is not registered
    origin: str | None = None

    @classmethod
    def of_row(cls, row: Any) -> Checkpoint:
        public_key = bytes(row[6]) if row[6] is not None else None
        return cls(
            int(row[0]),
            bytes(row[1]),
            int(row[2]),
            row[3],
            row[4],
            bytes(row[5]),
            public_key,
            row[7] if len(row) > 7 else None,
        )

    def text(self) -> bytes:
        """The signed text: the note text of a C2SP checkpoint, or the first format's."""
        if self.origin is None:
            return merkle.checkpoint_text(self.tree_size, self.root, self.position, self.created_at)
        return merkle.checkpoint_note_text(
            self.origin, self.tree_size, self.root, self.position, self.created_at
        )

    def note_key(self) -> notes.VerifierKey | None:
        """The log's verifier key for this checkpoint (None: first format, or no key)."""
        if self.origin is None or self.public_key is None:
            return None
        return notes.VerifierKey.of(self.origin, self.public_key)

    def note(self, cosignatures: Sequence[notes.Signature] = ()) -> notes.Note:
        """The signed note (a C2SP checkpoint only), with witnesses' cosignatures."""
        if self.origin is None:
            raise ValueError(f"the checkpoint of size {self.tree_size} is not a C2SP note")
        note_id = (
            notes.key_id(self.origin, notes.ED25519, self.public_key)
            if self.public_key is not None
            else bytes(4)
        )
        own = notes.Signature(self.origin, note_id, self.signature)
        return notes.with_signatures(notes.Note(self.text(), (own,)), cosignatures)

    def signature_problem(self, trusted: frozenset[str] | None = None) -> str | None:
        """Why the signature does not hold (None when it does)."""
        if self.public_key is None:
            return f"signed by unknown key {self.key_id}"
        if merkle.key_id(self.public_key) != self.key_id:
            return f"key id {self.key_id} does not match its public key"
        if trusted is not None and self.key_id not in trusted:
            return f"signed by key {self.key_id}, which is not trusted"
        if not merkle.verify_signature(self.public_key, self.signature, self.text()):
            return f"signature by key {self.key_id} does not verify"
        return None

    def to_json(self) -> dict[str, Any]:
        data = {
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "position": self.position,
            "time": merkle.checkpoint_time(self.created_at),
            "key_id": self.key_id,
            "public_key": self.public_key.hex() if self.public_key is not None else None,
            "signature": self.signature.hex(),
        }
        if self.origin is not None:
            data["origin"] = self.origin
            data["note"] = self.note().render().decode()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        """Raises ValueError (or KeyError/TypeError) when malformed."""
        key = data.get("public_key")
        origin = data.get("origin")
        if origin is not None:
            notes.check_name(str(origin))
        return cls(
            int(data["tree_size"]),
            bytes.fromhex(data["root"]),
            int(data["position"]),
            datetime.fromisoformat(data["time"]),
            str(data["key_id"]),
            bytes.fromhex(data["signature"]),
            bytes.fromhex(key) if key is not None else None,
            None if origin is None else str(origin),
        )


def latest_checkpoint(conn: Connection) -> Checkpoint | None:
    row = conn.execute(statement("seal", "latest_checkpoint")).fetchone()
    return None if row is None else Checkpoint.of_row(row)


def checkpoint(conn: Connection, tree_size: int) -> Checkpoint | None:
    row = conn.execute(statement("seal", "checkpoint"), {"tree_size": tree_size}).fetchone()
    return None if row is None else Checkpoint.of_row(row)


def all_checkpoints(conn: Connection) -> list[Checkpoint]:
    return [Checkpoint.of_row(r) for r in conn.execute(statement("seal", "all_checkpoints"))]


def stored_origin(conn: Connection) -> str | None:
    row = conn.execute(statement("seal", "latest_origin")).fetchone()
    return None if row is None else str(row[0])


def log_origin(conn: Connection, configured: str | None, first_key_id: str | None) -> str | None:
    """The origin the next checkpoint carries (see the module docstring); None only
    when nothing has been signed and no key registered yet."""
    stored = stored_origin(conn)
    if stored is not None:
        if configured is not None and configured != stored:
            raise ConfigurationError(
                f"the log's origin is {stored!r}, not {configured!r}: a log keeps its origin "
                "(witnesses know it by that name); set EXPORT_LEDGER_LOG_ORIGIN back"
            )
        return stored
    if configured is not None:
        return configured
    return None if first_key_id is None else f"{DEFAULT_ORIGIN_HOST}/{first_key_id}"


def known_origin(conn: Connection, configured: str | None, first_key_id: str | None) -> str | None:
    """The log's origin for readers: like :func:`log_origin`, but the stored origin
    wins over a setting that disagrees (the sealer refuses to sign with that one)."""
    stored = stored_origin(conn)
    if stored is not None:
        return stored
    return log_origin(conn, configured, first_key_id)


def vkey(origin: str, public_key: bytes) -> str:
    """The C2SP verifier key of a checkpoint key in a log of ``origin``."""
    return notes.VerifierKey.of(origin, public_key).text()


def cosignatures(conn: Connection, tree_size: int) -> list[notes.Signature]:
    """The stored cosignature lines of a checkpoint (c2sp.org/tlog-cosignature)."""
    rows = conn.execute(statement("seal", "cosignatures"), {"tree_size": tree_size})
    return [notes.Signature(r[0], bytes(r[1]), int(r[2]).to_bytes(8) + bytes(r[3])) for r in rows]


def latest_note_checkpoint(conn: Connection) -> Checkpoint | None:
    row = conn.execute(statement("seal", "latest_note_checkpoint")).fetchone()
    return None if row is None else Checkpoint.of_row(row)


def latest_note(conn: Connection) -> bytes | None:
    """The latest C2SP checkpoint as a signed note with its cosignatures."""
    found = latest_note_checkpoint(conn)
    if found is None:
        return None
    return found.note(cosignatures(conn, found.tree_size)).render()


def from_note(data: bytes, origin: str, keys: Sequence[Any]) -> Checkpoint:
    """A checkpoint note of this log (from a witness, say) as a :class:`Checkpoint`,
    signed by one of ``keys`` (projections.tlog.keys.SigningKey); ValueError when it is not."""
    note = notes.parse(data)
    found_origin, size, root, extensions = merkle.parse_checkpoint_note_text(note.text)
    if found_origin != origin:
        raise ValueError(f"a checkpoint of log {found_origin!r}, not {origin!r}")
    fields = dict(line.split(" ", 1) for line in extensions if " " in line)
    if "position" not in fields or "time" not in fields or not fields["position"].isdigit():
        raise ValueError("a checkpoint without this log's position and time lines")
    for key in keys:
        verifier = notes.VerifierKey.of(origin, key.public_key)
        signature = notes.signature_for(note, verifier)
        if signature is not None and notes.verify(note, verifier):
            time = datetime.fromisoformat(fields["time"])
            return Checkpoint(
                size, root, int(fields["position"]), time, key.key_id,
                signature.signature, key.public_key, origin,
            )  # fmt: skip
    raise ValueError(f"the checkpoint of size {size} is not signed by any of this log's keys")
