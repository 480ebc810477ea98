"""The subject access report (GDPR art. 15): every event about one data subject, in
the audit export's format, with its personal fields opened.

Each record is projections/audit/export.py's, unchanged (so ``verify-export`` checks it
against a signed checkpoint like any filtered export), plus:

    opened        the event's personal fields (domain/privacy.py) as they read:
                  decrypted, or erased once the subject is erased
    subject_key   the subject's data key (base64), while it exists: with it anyone
                  holding the report can check every opened value against the sealed
                  state (:func:`opened_problem`); the report is the subject's personal
                  data, key included

The events are the subject's exports' and their ``Erased`` event, found as the audit
export's ``user_id`` filter finds them (by pseudonym, or clear user id before sealing).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import orjson
import psycopg

from domain.privacy import (
    ACTOR,
    ERASED_TEXT,
    PERSONAL_FIELDS,
    SEALED,
    SUBJECT,
    erased_value,
    open_state,
    open_value,
)
from domain.topics import EXPORT_EVENT_PREFIX
from projections.audit import export as audit
from projections.subject_keys import KeySnapshot

Record = dict[str, Any]


def report_batches(conn: psycopg.Connection[Any], user_id: str) -> Iterator[list[Record]]:
    """Batches of the subject's records in log order (needs an open transaction, as an
    admin: it reads the subject's key)."""
    keys = KeySnapshot(conn)
    for batch in audit.stream(conn, audit.AuditFilters(user_id=user_id)):
        for record in batch:
            _open(record, keys)
        yield batch


def _open(record: Record, keys: KeySnapshot) -> None:
    if not str(record["topic"]).startswith(EXPORT_EVENT_PREFIX):
        return
    state = orjson.loads(base64.b64decode(record["state"]))
    subject = state.get(SUBJECT)
    fields = [f for f in (*PERSONAL_FIELDS.get(record["type"], ()), ACTOR) if f in state]
    opened = open_state(record["type"], UUID(record["aggregate_id"]), state, keys)
    record["opened"] = {f: opened[f] for f in fields}
    key = keys.reading_key(subject) if subject else None
    if key is not None:
        record["subject_key"] = base64.b64encode(key).decode()


def opened_problem(record: Record) -> str | None:
    """Why a report line's ``opened`` values are not what its stored state seals (None:
    they are, or the line has none). Without the key only erased values can be checked."""
    opened = record.get("opened")
    if opened is None:
        return None
    if not isinstance(opened, dict):
        return "its opened values are not an object"
    state = orjson.loads(base64.b64decode(str(record["state"])))
    subject = state.get(SUBJECT)
    key = base64.b64decode(record["subject_key"]) if record.get("subject_key") else None
    for field, value in opened.items():
        stored = state.get(field)
        if isinstance(stored, dict) and SEALED in stored:
            if subject is None:
                return f"its {field} is sealed without a subject"
            if key is not None:
                try:
                    expected = open_value(key, subject, field, stored)
                except Exception:  # a wrong key or changed ciphertext: not authentic
                    return f"its {field} does not open with the subject_key given"
            else:
                expected = erased_value(field, subject)
        else:
            expected = stored
            if value != stored and _reads_erased(field, value):
                continue  # a clear copy of an erased subject, shown erased
        if value != expected:
            return f"its opened {field} is not what its stored state holds"
    return None


def _reads_erased(field: str, value: Any) -> bool:
    if field == "user_id":
        return isinstance(value, str) and value.startswith("erased:")
    if field == "config":
        return bool(value == {"erased": True})
    return bool(value == ERASED_TEXT)
