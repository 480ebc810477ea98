"""Checkpoint keys and their validity, in tree sizes.

``ledger_keys`` records the Ed25519 public key of every key that ever signed
checkpoints, its key id, and ``signs_from``: the smallest tree size it signs.
A key signs until the next key's ``signs_from`` (exclusive); the last key is
the current one. Keys registered before rotation existed have no
``signs_from``: they sign from their first checkpoint.

:func:`rotate` registers a new key with ``signs_from`` one past the sealed
tree, holding the sealer's tracking row (as every sealer batch does), so no
batch signs with a key a rotation has just retired. Private keys never reach
the database (see api/wiring/signing.py for where they are kept).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg

from domain.exceptions import ConfigurationError, NotMigrated, SigningKeyUnavailable
from domain.tlog import merkle
from sql import statement
from sql.names import SEAL_TRACKING

Connection = psycopg.Connection[Any]


class Signer(Protocol):
    """An Ed25519 key that signs checkpoints (api.wiring.signing makes one)."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes, /) -> bytes: ...


class KeyRing(Protocol):
    """The private checkpoint keys at hand (api.wiring.signing.KeyRing): the sealer
    signs with the current registered key, which must be among them."""

    def first(self) -> Signer:
        """The key to register when the ledger has none yet."""
        ...

    def find(self, key_id: str, /) -> Signer | None: ...


@dataclass(frozen=True, slots=True)
class OneKey:
    """A ring of one key (tests, tools): it must be the current key, or the first."""

    signer: Signer

    def first(self) -> Signer:
        return self.signer

    def find(self, key_id: str, /) -> Signer | None:
        return self.signer if key_id == self.signer.key_id else None


def as_ring(keys: KeyRing | Signer) -> KeyRing:
    return OneKey(keys) if hasattr(keys, "sign") else keys  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A registered checkpoint key and the tree sizes it signs."""

    key_id: str
    public_key: bytes
    signs_from: int
    signs_until: int | None  # the first tree size it no longer signs; None: the current key
    registered_at: datetime

    @property
    def current(self) -> bool:
        return self.signs_until is None

    def covers(self, tree_size: int) -> bool:
        return self.signs_from <= tree_size and (
            self.signs_until is None or tree_size < self.signs_until
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public_key": self.public_key.hex(),
            "signs_from": self.signs_from,
            "signs_until": self.signs_until,
            "current": self.current,
            "registered_at": self.registered_at.isoformat(),
        }


def all_keys(conn: Connection) -> list[SigningKey]:
    """Every registered key, oldest first; the last one is the current key."""
    rows = conn.execute(statement("seal", "keys")).fetchall()
    froms = [int(r[2]) for r in rows]
    untils: list[int | None] = [*froms[1:], None] if froms else []
    return [
        SigningKey(r[0], bytes(r[1]), start, until, r[3])
        for r, start, until in zip(rows, froms, untils, strict=True)
    ]


def key_at(keys: Sequence[SigningKey], tree_size: int) -> SigningKey | None:
    """The key that signs the checkpoint of ``tree_size`` (None: no key did yet)."""
    due = None
    for key in keys:
        if key.signs_from <= tree_size:
            due = key
    return due


def register(conn: Connection, key_id: str, public_key: bytes, signs_from: int) -> None:
    if merkle.key_id(public_key) != key_id:
        raise ValueError(f"key id {key_id} does not match its public key")
    conn.execute(
        statement("seal", "register_key"),
        {"key_id": key_id, "public_key": public_key, "signs_from": signs_from},
    )


def rotate(conn: Connection, key_id: str, public_key: bytes) -> list[SigningKey]:
    """Make ``public_key`` the current key from the next checkpoint on; returns
    the keys afterwards (the new one last, the one it retires before it)."""
    with conn.transaction():
        tracking = {"table": SEAL_TRACKING}
        if conn.execute(statement("read_model", "lock_tracking"), tracking).fetchone() is None:
            raise NotMigrated(f"no tracking row {SEAL_TRACKING!r}: run 'export-ledger migrate'")
        if any(key.key_id == key_id for key in all_keys(conn)):
            raise ConfigurationError(f"key {key_id} is registered already: a key signs only once")
        sealed = conn.execute(statement("seal", "leaf_count")).fetchone()
        register(conn, key_id, public_key, (int(sealed[0]) if sealed else 0) + 1)
        return all_keys(conn)


def key_problems(
    checkpoints: Sequence[Any], keys: Sequence[SigningKey]
) -> Iterator[tuple[int, str, str]]:
    """(position, "key", message) for each checkpoint signed by a registered key
    other than the one of its tree size: retired already, or not yet valid.
    (A key that is not registered at all is a signature problem.)"""
    by_id = {key.key_id: key for key in keys}
    for cp in checkpoints:
        due, used = key_at(keys, cp.tree_size), by_id.get(cp.key_id)
        if used is None or due is None or due.key_id == cp.key_id:
            continue
        where = f"checkpoint of size {cp.tree_size}: signed by key {cp.key_id}"
        if used.signs_until is not None and cp.tree_size >= used.signs_until:
            why = f"retired from tree size {used.signs_until} (key {due.key_id} signs it)"
        else:
            why = f"which signs only from tree size {used.signs_from} (key {due.key_id} signs it)"
        yield cp.position, "key", f"{where}, {why}"


def current_signer(conn: Connection, ring: KeyRing, size: int) -> Signer:
    """The private key of the current registered key; on a ledger without keys,
    the ring's first key, registered to sign from the next tree size."""
    registered = all_keys(conn)
    if not registered:
        signer = ring.first()
        register(conn, signer.key_id, signer.public_key, size + 1)
        return signer
    current = registered[-1]
    found = ring.find(current.key_id)
    if found is None:
        raise SigningKeyUnavailable(
            f"the current checkpoint key {current.key_id} is not among this host's private "
            "keys: copy its key file here, or run 'export-ledger keys rotate'"
        )
    return found
