"""Crypto-shredding: the personal fields of every event, sealed under their subject's key.

A data subject is the user an export is for. Each subject has a data key of its own,
kept outside the events (:class:`SubjectKeys`: the ``subject_keys`` table by default,
an in-memory one for tests). The personal fields of an event (:data:`PERSONAL_FIELDS`,
and ``actor`` when it names the subject) are stored as ``{"_sealed_": base64(nonce +
AES-256-GCM ciphertext)}``, each with a fresh nonce and bound to its subject and field
name; the event also carries ``subject``, the subject's keyed pseudonym (an HMAC of the
user id under the ledger's secret), in the clear. Everything else stays clear, so the
leaves, lists, filters and row-level security work as before.

Erasure destroys the key. From then on every sealed field opens as erased
(:func:`erased_value`), never as an error; a missing key of a subject never erased is
an error that names the subject (:class:`~domain.exceptions.SubjectKeyMissing`).

Events stored before this existed carry no ``subject`` and hold their fields in the
clear. They still load; once their export's subject is erased (the key store lists
erased exports), their personal fields open as erased too, though the clear copies
stay in the sealed log.

This module is the one place that seals and opens: the application's mapper
(:class:`PrivacyMapper`, every write and every load of an aggregate, the import's
bulk writes included) and the projection's decoder (``projections/readmodel/changes.py``: the
follower, the rebuild, verify, the audit export) both call :func:`seal_state` and
:func:`open_state`.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache
from typing import Any, Protocol
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain import topics
from domain.exceptions import InvalidExport, SubjectErased, SubjectKeyMissing

PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "Requested": ("user_id", "config"),
    "Imported": ("user_id", "config", "file_url", "error_message"),
    "Completed": ("file_url",),
    "Failed": ("error_message",),
    "Deleted": ("reason",),
}
"""Per event type, the fields sealed under the subject's key (``actor`` too, on every
export event, when it is the subject's own user id). Everything else is clear."""

EXPORT_SEALED_FIELDS = ("config", "file_url", "error_message", "reason")
"""The personal fields sealed under the export's own key (sql/migrations/
0014_export_keys.sql), so that a retention can shed them while the export's owner
(``user_id``, and ``actor``, under the subject's key) stays."""

ACTOR = "actor"
SUBJECT = "subject"
"""The key of the subject's pseudonym in a stored event's state (clear)."""
SUBJECT_ATTRIBUTE = "_subject_user_id"
"""Set on an export's pending events by the aggregate, taken off by the mapper: whose
key seals them. Never stored."""
SEALED = "_sealed_"
ERASED_TEXT = "[erased]"
ERASED_PREFIX = "erased:"
SUBJECT_KEYS_TOPIC = "SUBJECT_KEYS_TOPIC"
"""The application setting naming the key store's class (its ``from_env`` makes it from
the application's settings), as the library's own settings name its classes."""
_NONCE = 12


def erased_value(field: str, subject: str) -> Any:
    """What an erased field reads as: the user id becomes ``erased:<pseudonym>`` (so
    row-level security still keeps the rows apart), the config a marker, text a marker."""
    if field == "user_id":
        return ERASED_PREFIX + subject
    if field == "config":
        return {"erased": True}
    return ERASED_TEXT


SHED_TEXT = "[shed]"


def shed_value(field: str) -> Any:
    """What a field shed by a retention reads as: told apart from an erased one, and
    never another user (``user_id`` is never shed)."""
    if field == "config":
        return {"shed": True}
    return SHED_TEXT


def erased_subject(user_id: str) -> str | None:
    """The pseudonym inside an erased user id, or None for a live one."""
    return user_id[len(ERASED_PREFIX) :] if user_id.startswith(ERASED_PREFIX) else None


@lru_cache(maxsize=32_768)  # every event of a write names its subject
def pseudonym(secret: bytes, user_id: str) -> str:
    """A subject's keyed pseudonym: HMAC-SHA256 of the user id, 32 hex characters."""
    if (known := erased_subject(user_id)) is not None:
        return known
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()[:32]


class KeySource(Protocol):
    """What opening sealed fields needs: a subject's key, and which exports are erased."""

    def reading_key(self, subject: str) -> bytes | None:
        """The key, or None when the subject was erased; SubjectKeyMissing when it
        has none and was never erased."""
        ...

    def erased_export(self, aggregate_id: UUID) -> str | None:
        """The erased subject of an export (for its clear events), or None."""
        ...


class SubjectKeys(KeySource, Protocol):
    """The key store the application writes with (and erases in)."""

    def pseudonym(self, user_id: str) -> str: ...

    def writing_key(self, subject: str) -> bytes:
        """The subject's key, made on first use; SubjectErased once erased."""
        ...

    def prepare_writing_keys(self, subjects: Collection[str]) -> None:
        """Make or fetch the keys of many subjects at once, so that the
        ``writing_key`` calls of a bulk write that follow find them at hand."""
        ...

    def prepare_reading_keys(self, subjects: Collection[str]) -> None:
        """Fetch the keys many subjects have (making none), for a bulk read."""
        ...

    def erase(self, subject: str, exports: list[UUID]) -> bool:
        """Destroy the key and list the subject's exports as erased; False when it was
        erased already (the exports are added all the same)."""
        ...

    def is_erased(self, subject: str) -> bool: ...


# -- sealing and opening ----------------------------------------------------------------


def stored_subject(state: bytes) -> str | None:
    """The subject pseudonym a stored event's state carries in the clear (None: an event
    stored before pseudonyms, or one that is not an export's)."""
    try:
        decoded = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
    subject = decoded.get(SUBJECT) if type(decoded) is dict else None
    return subject if isinstance(subject, str) else None


def _aad(subject: str, field: str) -> bytes:
    return f"{subject}\x00{field}".encode()


def seal_value(key: bytes, subject: str, field: str, value: Any) -> dict[str, str]:
    nonce = os.urandom(_NONCE)
    sealed = _cipher(key).encrypt(nonce, orjson.dumps(value), _aad(subject, field))
    return {SEALED: binascii.b2a_base64(nonce + sealed, newline=False).decode()}


def open_value(key: bytes, subject: str, field: str, value: Mapping[str, str]) -> Any:
    raw = binascii.a2b_base64(value[SEALED])  # base64.b64decode's own decoder, without its checks
    plain = _cipher(key).decrypt(raw[:_NONCE], raw[_NONCE:], _aad(subject, field))
    return orjson.loads(plain)


_ciphers: dict[bytes, AESGCM] = {}


def _cipher(key: bytes) -> AESGCM:
    cipher = _ciphers.get(key)
    if cipher is None:
        if len(_ciphers) > 4096:
            _ciphers.clear()
        cipher = _ciphers[key] = AESGCM(key)
    return cipher


def is_sealed(value: Any) -> bool:
    return type(value) is dict and SEALED in value


def seal_state(
    event_type: str, state: dict[str, Any], user_id: str, keys: SubjectKeys
) -> dict[str, Any]:
    """``state`` with its personal fields sealed under ``user_id``'s key, and the
    subject's pseudonym added. An erased subject's event may carry no personal value."""
    subject = keys.pseudonym(user_id)
    fields = [f for f in PERSONAL_FIELDS.get(event_type, ()) if state.get(f) is not None]
    if state.get(ACTOR) == user_id:
        fields.append(ACTOR)
    sealed = dict(state)
    sealed[SUBJECT] = subject
    if not fields:
        return sealed
    what = f"record {', '.join(fields)} of a {event_type} event"
    if erased_subject(user_id) is not None:
        raise SubjectErased(subject, what)
    try:
        key = keys.writing_key(subject)
    except SubjectErased:
        raise SubjectErased(subject, what) from None
    for field in fields:
        sealed[field] = seal_value(key, subject, field, state[field])
    return sealed


# The fields open_state looks at, per event type: built once, not for every event.
_SEALABLE = {kind: (*fields, ACTOR) for kind, fields in PERSONAL_FIELDS.items()}
_WITH_ACTOR, _WITHOUT_ACTOR = (_SEALABLE, (ACTOR,)), (PERSONAL_FIELDS, ())


def open_state(
    event_type: str,
    aggregate_id: UUID,
    state: dict[str, Any],
    keys: KeySource,
    actor: bool = True,
) -> dict[str, Any]:
    """``state`` (changed in place, and returned) with its sealed fields opened, or
    shown as erased; the pseudonym taken off. A clear event (stored before fields
    were sealed) of an erased export has its personal fields and actor shown erased.
    With ``actor`` False the actor is left as stored, for a reader that never uses
    it: the one field of every export event that may be sealed."""
    by_type, others = _WITH_ACTOR if actor else _WITHOUT_ACTOR
    fields = by_type.get(event_type, others)
    subject = state.pop(SUBJECT, None)
    if subject is None:
        erased = keys.erased_export(aggregate_id)
        if erased is not None:
            for field in fields:
                if state.get(field) is not None:
                    state[field] = erased_value(field, erased)
        return state
    key: bytes | None = None
    looked_up = False
    for field in fields:
        value = state.get(field)
        if type(value) is not dict or SEALED not in value:
            continue
        if not looked_up:
            key, looked_up = keys.reading_key(subject), True
        state[field] = (
            erased_value(field, subject) if key is None else open_value(key, subject, field, value)
        )
    return state


# -- the application's mapper -----------------------------------------------------------


class PrivacyMapper(Mapper[UUID]):
    """The library's mapper, sealing personal fields on the way in and opening them on
    the way out (:func:`seal_state`, :func:`open_state`). ``keys`` is set by the
    application before its first event."""

    keys: SubjectKeys

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = dict(vars(domain_event))
        user_id = state.pop(SUBJECT_ATTRIBUTE, None)
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        topic = get_topic(type(domain_event))
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        if user_id is not None:
            state = seal_state(topic.rsplit(".", 1)[-1], state, user_id, self.keys)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=self.transcoder.encode(state),
        )

    def to_stored_events(self, domain_events: Iterable[Any]) -> list[StoredEvent]:
        """Many events mapped as ``to_stored_event`` maps one, their subjects' keys
        fetched first in one call (a bulk write names hundreds of subjects)."""
        events = list(domain_events)
        user_ids = {getattr(e, SUBJECT_ATTRIBUTE, None) for e in events}
        user_ids.discard(None)
        self.keys.prepare_writing_keys({self.keys.pseudonym(u) for u in user_ids if u})
        return [self.to_stored_event(e) for e in events]

    def prepare_reading(self, user_ids: Iterable[str]) -> None:
        """Fetch at once the keys of the users a bulk read will open events of."""
        self.keys.prepare_reading_keys({self.keys.pseudonym(u) for u in user_ids})

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        if stored_event.topic.startswith(topics.EXPORT_EVENT_PREFIX):
            state = vars(domain_event)
            event_type = stored_event.topic[len(topics.EXPORT_EVENT_PREFIX) :]
            originator_id = stored_event.originator_id
            assert isinstance(originator_id, UUID)
            open_state(event_type, originator_id, state, self.keys)
        return domain_event


# -- an in-memory key store (tests, and the library's in-memory storage) ------------------


class MemoryKeys:
    """Subject keys in a dict, for the in-memory event store."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or os.urandom(32)
        self.keys: dict[str, bytes | None] = {}
        self.exports: dict[UUID, str] = {}
        self._lock = threading.Lock()

    def pseudonym(self, user_id: str) -> str:
        return pseudonym(self.secret, user_id)

    def writing_key(self, subject: str) -> bytes:
        with self._lock:
            key = self.keys.setdefault(subject, AESGCM.generate_key(bit_length=256))
        if key is None:
            raise SubjectErased(subject, "record personal data")
        return key

    def prepare_writing_keys(self, subjects: Collection[str]) -> None:
        with self._lock:
            for subject in subjects:
                self.keys.setdefault(subject, AESGCM.generate_key(bit_length=256))

    def prepare_reading_keys(self, subjects: Collection[str]) -> None:
        return None

    def reading_key(self, subject: str) -> bytes | None:
        if subject not in self.keys:
            raise SubjectKeyMissing(subject)
        return self.keys[subject]

    def erased_export(self, aggregate_id: UUID) -> str | None:
        return self.exports.get(aggregate_id)

    def is_erased(self, subject: str) -> bool:
        return subject in self.keys and self.keys[subject] is None

    def erase(self, subject: str, exports: list[UUID]) -> bool:
        with self._lock:
            first = self.keys.get(subject, b"") is not None
            self.keys[subject] = None
            self.exports.update(dict.fromkeys(exports, subject))
        return first


def check_reason(reason: str | None) -> None:
    if reason is not None and len(reason) > 2000:
        raise InvalidExport("reason must be at most 2000 characters")
