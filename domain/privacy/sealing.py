"""The sealed-value format, and the sealing and opening of an event's state.

A sealed value is a JSON object in place of the field's value:

    {"_sealed_": base64(nonce + ciphertext)}                      under the subject's key
    {"_sealed_": base64(nonce + ciphertext), "_key_": "export"}   under the export's key

AES-256-GCM with a fresh 12-byte nonce; the plaintext is the value's JSON. The
associated data binds where the value belongs: ``<pseudonym>\\0<field>`` under a
subject's key, ``export:<aggregate id>\\0<field>`` under an export's key (the aggregate
id as 32 lowercase hex digits, no hyphens), so a value copied to another export or
field does not open (:class:`~domain.exceptions.SealedValueInvalid`). A value without
``_key_`` is the first format (every field under the subject's key); events stored so
keep opening as they did, and are never rewritten.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.exceptions import ExportShed, SealedValueInvalid, SubjectErased
from domain.privacy.keys import ExportKey, KeyGone, KeySource, SubjectKeys
from domain.privacy.values import (
    ACTOR,
    EXPORT_SEALED_FIELDS,
    PERSONAL_FIELDS,
    SUBJECT,
    erased_subject,
    erased_value,
    shed_value,
)

SEALED = "_sealed_"
KEY_MARKER = "_key_"
"""Names the key a value was sealed under; absent: the subject's."""
EXPORT_MARKER = "export"
BY_SUBJECT, BY_EXPORT = "subject", "export"
_NONCE = 12
_EXPORT_FIELDS = frozenset(EXPORT_SEALED_FIELDS)


def _subject_aad(subject: str, field: str) -> bytes:
    return f"{subject}\x00{field}".encode()


def _export_aad(aggregate_id: UUID, field: str) -> bytes:
    return _export_prefix(aggregate_id) + field.encode()


def _export_prefix(aggregate_id: UUID) -> bytes:
    return b"export:%032x\x00" % aggregate_id.int  # UUID.hex: a fifth of str()'s time


def seal_value(key: bytes, subject: str, field: str, value: Any) -> dict[str, str]:
    """A value sealed under its subject's key (unmarked: the first format)."""
    nonce = os.urandom(_NONCE)
    sealed = _cipher(key).encrypt(nonce, orjson.dumps(value), _subject_aad(subject, field))
    return {SEALED: binascii.b2a_base64(nonce + sealed, newline=False).decode()}


def seal_export_value(key: bytes, aggregate_id: UUID, field: str, value: Any) -> dict[str, str]:
    """A value sealed under its export's key, marked so."""
    nonce = os.urandom(_NONCE)
    sealed = _export_cipher(key).encrypt(
        nonce, orjson.dumps(value), _export_aad(aggregate_id, field)
    )
    return {
        SEALED: binascii.b2a_base64(nonce + sealed, newline=False).decode(),
        KEY_MARKER: EXPORT_MARKER,
    }


def open_value(key: bytes, subject: str, field: str, value: Mapping[str, str]) -> Any:
    """A value sealed under its subject's key; SealedValueInvalid when it does not open."""
    cipher = _cipher(key)
    return _open(cipher, _subject_aad(subject, field), value, ("subject", subject), field)


def open_export_value(key: bytes, aggregate_id: UUID, field: str, value: Mapping[str, str]) -> Any:
    """A value sealed under its export's key; SealedValueInvalid when it does not open."""
    cipher = _export_cipher(key)
    return _open(cipher, _export_aad(aggregate_id, field), value, ("export", aggregate_id), field)


def _open(
    cipher: AESGCM, aad: bytes, value: Mapping[str, str], where: tuple[str, object], field: str
) -> Any:
    """The opened value; ``where`` (what it is of) is formatted only for an error."""
    try:
        raw = binascii.a2b_base64(value[SEALED])  # base64.b64decode's decoder, without checks
        plain = cipher.decrypt(raw[:_NONCE], raw[_NONCE:], aad)
    except (InvalidTag, binascii.Error, ValueError, TypeError):
        raise SealedValueInvalid(f"{where[0]} {where[1]}", field) from None
    return orjson.loads(plain)


def sealed_by(value: Mapping[str, Any], where: str = "an event", field: str = "value") -> str:
    """Which key a sealed value names: BY_SUBJECT or BY_EXPORT (else SealedValueInvalid)."""
    marker = value.get(KEY_MARKER)
    if marker is None:
        return BY_SUBJECT
    if marker == EXPORT_MARKER:
        return BY_EXPORT
    raise SealedValueInvalid(where, field, f"names an unknown key {str(marker)[:40]!r}")


def is_sealed(value: Any) -> bool:
    return type(value) is dict and SEALED in value


def _ciphers(generation: int) -> Callable[[bytes], AESGCM]:
    """A cipher by key, cached in two generations: a key used again is kept while the
    young one fills; when it is full it becomes the old one (the one before is dropped),
    so a working set under ``generation`` keys never misses, and memory stays bounded
    (about 1.4 kB a cipher) where clearing all at once would make every key miss. A
    closure: it runs once per sealed value."""
    young: dict[bytes, AESGCM] = {}
    old: dict[bytes, AESGCM] = {}

    def cipher(key: bytes) -> AESGCM:
        nonlocal young, old
        found = young.get(key)
        if found is None:
            found = old.get(key) or AESGCM(key)
            if len(young) >= generation:
                old, young = young, {}
            young[key] = found
        return found

    return cipher


_cipher = _ciphers(2048)
"""A subject's key opens values all over the log: the working set is the subjects."""
_export_cipher = _ciphers(256)
"""An export's key opens the few values of one export, folded together (a rebuild goes
export by export); making a cipher again costs about a microsecond."""


# -- an event's state ---------------------------------------------------------------------


def seal_state(
    event_type: str,
    aggregate_id: UUID,
    state: dict[str, Any],
    user_id: str,
    keys: SubjectKeys,
    *,
    first: bool = False,
) -> dict[str, Any]:
    """``state`` with its personal fields sealed, and the subject's pseudonym added:
    ``user_id`` and ``actor`` under ``user_id``'s key; the export's own fields under the
    export's key, made with its ``first`` event, or under the subject's key for an
    export recorded before export keys (it has none). An erased subject's event, or a
    shed export's, may carry no personal value."""
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
    own = any(f in _EXPORT_FIELDS for f in fields)
    try:
        subject_key = keys.writing_key(subject) if first or not own or ACTOR in fields else None
        export_key = (
            keys.export_writing_key(aggregate_id, subject, make=first) if own or first else None
        )
        if export_key is None and subject_key is None:  # recorded before export keys
            subject_key = keys.writing_key(subject)
    except SubjectErased:
        raise SubjectErased(subject, what) from None
    except ExportShed:
        raise ExportShed(str(aggregate_id), what) from None
    for field in fields:
        if export_key is not None and field in _EXPORT_FIELDS:
            sealed[field] = seal_export_value(export_key, aggregate_id, field, state[field])
        else:
            assert subject_key is not None
            sealed[field] = seal_value(subject_key, subject, field, state[field])
    return sealed


# The fields open_state looks at, per event type: built once, not for every event.
_SEALABLE = {kind: (*fields, ACTOR) for kind, fields in PERSONAL_FIELDS.items()}
_WITH_ACTOR, _WITHOUT_ACTOR = (_SEALABLE, (ACTOR,)), (PERSONAL_FIELDS, ())
_UNREAD: Any = object()


def open_state(
    event_type: str,
    aggregate_id: UUID,
    state: dict[str, Any],
    keys: KeySource,
    actor: bool = True,
) -> dict[str, Any]:
    """``state`` (changed in place, and returned) with its sealed fields opened, each
    under the key its marker names, or shown erased or shed; the pseudonym taken
    off. A clear event (stored before fields were sealed) of an erased export has its
    personal fields and actor shown erased. With ``actor`` False the actor is left as
    stored, for a reader that never uses it: the one field of every export event that
    may be sealed."""
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
    # Each key's cipher and associated-data prefix are made once for the event, and the
    # values opened inline (open_value, open_export_value): this runs for every event
    # a fold reads.
    mine: AESGCM | None = _UNREAD  # the subject's cipher (None: erased)
    own: AESGCM | None = _UNREAD  # the export's (None: its key is gone)
    export_key: ExportKey = _UNREAD
    mine_prefix = own_prefix = b""
    for field in fields:
        value = state.get(field)
        if type(value) is not dict or SEALED not in value:
            continue
        marker = value.get(KEY_MARKER)
        if marker is None:
            if mine is _UNREAD:
                key = keys.reading_key(subject)
                mine = None if key is None else _cipher(key)
                mine_prefix = subject.encode() + b"\x00"
            if mine is None:
                state[field] = erased_value(field, subject)
                continue
            cipher, aad = mine, mine_prefix + field.encode()
        else:
            if marker != EXPORT_MARKER:
                sealed_by(value, f"export {aggregate_id}", field)  # raises: an unknown key
            if own is _UNREAD:
                export_key = keys.export_reading_key(aggregate_id, subject)
                own = _export_cipher(export_key) if type(export_key) is bytes else None
                own_prefix = b"export:%032x\x00" % aggregate_id.int
            if own is None:  # the key is gone
                state[field] = opened_export_field(export_key, aggregate_id, subject, field, value)
                continue
            cipher, aad = own, own_prefix + field.encode()
        try:
            raw = binascii.a2b_base64(value[SEALED])
            state[field] = orjson.loads(cipher.decrypt(raw[:_NONCE], raw[_NONCE:], aad))
        except (InvalidTag, binascii.Error, ValueError, TypeError):
            where = f"subject {subject}" if marker is None else f"export {aggregate_id}"
            raise SealedValueInvalid(where, field) from None
    return state


def opened_export_field(
    key: ExportKey, aggregate_id: UUID, subject: str, field: str, value: Mapping[str, str]
) -> Any:
    """What a value sealed under its export's key reads as with ``key``."""
    if key is KeyGone.SHED:
        return shed_value(field)
    if key is KeyGone.ERASED:
        return erased_value(field, subject)
    assert isinstance(key, bytes)
    return open_export_value(key, aggregate_id, field, value)
