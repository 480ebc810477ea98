"""Export ids: readable, time-sortable, and mapped to aggregate ids without an index."""

from __future__ import annotations

import os
import re
import threading
import time
from functools import lru_cache
from uuid import UUID, uuid5

from domain.exceptions import InvalidExport

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EXPORT_ID = re.compile(r"^exp_[0-9A-HJKMNP-TV-Z]{26}$")
_HOLD_ID = re.compile(r"^hold_[0-9A-HJKMNP-TV-Z]{26}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Fixed namespaces: changing either would orphan every stored export.
_EXPORT_NAMESPACE = UUID("6f1c2a52-6a43-4d8e-9c53-2f0f4c1b7e11")
_IDEMPOTENCY_NAMESPACE = UUID("0b7c9e0e-3f0a-4d35-8f3e-5b2d8c6a9f24")


def new_export_id(now_ms: int | None = None) -> str:
    """``exp_`` + a ULID: 48 bits of milliseconds then 80 random bits, base32."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    value = (millis << 80) | _random.bits80()
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "exp_" + "".join(reversed(chars))


def new_hold_id() -> str:
    """``hold_`` + a ULID, as an export id is made."""
    return "hold_" + new_export_id()[4:]


def is_hold_id(text: str) -> bool:
    return bool(_HOLD_ID.match(text))


class _RandomBlocks:
    """The kernel's random bytes (as ``secrets`` gives them), fetched 4 KiB at a time.

    ``secrets.randbits`` makes a system call per id, which lets go of the GIL:
    with many threads busy, getting it back cost about half of a command's time
    under group commit. A process that forks refetches, so parent and child never
    share bytes."""

    _BLOCK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""
        self._at = 0
        self._pid = 0

    def bits80(self) -> int:
        with self._lock:
            if self._at + 10 > len(self._bytes) or self._pid != os.getpid():
                self._bytes, self._at, self._pid = os.urandom(self._BLOCK), 0, os.getpid()
            chunk = self._bytes[self._at : self._at + 10]
            self._at += 10
        return int.from_bytes(chunk, "big")


_random = _RandomBlocks()


def is_export_id(text: str) -> bool:
    """Ours (``exp_`` + a ULID), or a UUID in its canonical lowercase form: the ids
    of exports imported from the seed's table, kept as they were."""
    return bool(_EXPORT_ID.match(text) or _UUID.match(text))


@lru_cache(maxsize=1 << 12)  # an import asks for each id of a batch twice: to read, to write
def aggregate_id(export_id: str) -> UUID:
    return uuid5(_EXPORT_NAMESPACE, _encodable(export_id, "an export id"))


def idempotency_claim_id(user_id: str, key: str) -> UUID:
    name = f"{user_id}\x00{key}"
    return uuid5(_IDEMPOTENCY_NAMESPACE, _encodable(name, "a user id and idempotency key"))


def _encodable(text: str, what: str) -> str:
    """``text``, if UTF-8 can encode it (uuid5 hashes its UTF-8 bytes): a lone
    surrogate, as Python makes of an argument or file name that is not UTF-8, cannot."""
    try:
        bytes(text, "utf-8")  # as uuid5 does: a TypeError when it is no str at all
    except UnicodeEncodeError:
        raise InvalidExport(f"{what} must be UTF-8 text, not {text!r}") from None
    return text
