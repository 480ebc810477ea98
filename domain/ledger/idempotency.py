"""Idempotency claims, keyed under the subject's data key.

A claim binds (user, idempotency key) to the one export a request made, in the same
append. Its aggregate id, the key and the request's fingerprint are stored as
HMAC-SHA256 under a key derived (HKDF-SHA256) from the subject's data key: the ledger
keeps no idempotency key in the clear, and once erasure destroys the data key no claim
can be tied to its user or request any more.

Claims recorded before this (``keyed`` absent) hold the key in the clear, under an id
and a fingerprint that are plain hashes of the user id, key and request
(domain/exports/ids.py, domain/exports/rules.py). A retry looks for such a claim too,
so a request first sent before the change is still answered with its export.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"export-ledger idempotency claims v1"


def claim_secret(subject_key: bytes) -> bytes:
    """The subject's claim key: derived from their data key, gone with it."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(subject_key)


@dataclass(frozen=True, slots=True)
class KeyedClaim:
    claim_id: UUID
    key: str
    """HMAC of the idempotency key (hex): what the claim stores instead of the key."""
    fingerprint: str


def keyed_claim(secret: bytes, user_id: str, key: str, fingerprint: str) -> KeyedClaim:
    """The stored form of a claim of ``key`` by ``user_id`` for a request whose plain
    fingerprint is ``fingerprint``; the same inputs give the same claim id, so a second
    request with the key collides on it in the event store."""

    def mac(*parts: str) -> bytes:
        message = b"\x00".join(part.encode("utf-8") for part in parts)
        return hmac.new(secret, message, hashlib.sha256).digest()

    return KeyedClaim(
        claim_id=UUID(bytes=mac("claim", user_id, key)[:16], version=4),
        key=mac("key", key).hex(),
        fingerprint=mac("fingerprint", fingerprint).hex(),
    )
