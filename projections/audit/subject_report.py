"""The subject access report (GDPR art. 15): every event about one data subject, in
the audit export's format, with its personal fields opened.

Each record is projections/audit/export.py's, unchanged (so ``verify-export`` checks it
against a signed checkpoint like any filtered export), plus, on an export's events:

    report_format  2: the format of these fields (a line without it is the first
                   format, which had no export keys and no sealed_by)
    opened         the event's personal fields (domain/privacy) as they read:
                   decrypted, or erased once the subject is erased, or shed once a
                   retention shed the export's own fields
    sealed_by      per sealed field, the key it is sealed under: "subject" or
                   "export" (as the sealed value's own marker says)
    subject_key    the subject's data key (base64), while it exists
    export_key     the export's own key (base64), while it exists, on a record with
                   a field sealed under it

With the keys anyone holding the report can check every opened value against the
sealed state (:func:`opened_problem`): a field under the export's key opens with
``export_key`` and the associated data ``export:<aggregate id, 32 hex digits>\\0<field>``,
one under the subject's key with ``subject_key`` and ``<pseudonym>\\0<field>``. The
report is the subject's personal data, keys included.

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

from domain.exceptions import SealedValueInvalid
from domain.privacy import (
    ACTOR,
    BY_EXPORT,
    BY_SUBJECT,
    ERASED_TEXT,
    PERSONAL_FIELDS,
    SUBJECT,
    erased_value,
    is_sealed,
    open_export_value,
    open_state,
    open_value,
    sealed_by,
    shed_value,
)
from domain.topics import EXPORT_EVENT_PREFIX
from projections.audit import export as audit
from projections.subject_keys import KeySnapshot

Record = dict[str, Any]
REPORT_FORMAT = 2
"""The format of the report's own fields (see the module docstring)."""


def report_batches(conn: psycopg.Connection[Any], user_id: str) -> Iterator[list[Record]]:
    """Batches of the subject's records in log order (needs an open transaction, as an
    admin: it reads the subject's keys, and the keys of each batch's exports at once)."""
    keys = KeySnapshot(conn)
    for batch in audit.stream(conn, audit.AuditFilters(user_id=user_id)):
        states = [_state(record) for record in batch]
        keys.preload_exports(
            {UUID(r["aggregate_id"]) for r, s in zip(batch, states, strict=True) if _keyed(s)}
        )
        for record, state in zip(batch, states, strict=True):
            if state is not None:
                _open(record, state, keys)
        yield batch


def _state(record: Record) -> dict[str, Any] | None:
    """The stored state of an export's event (None: another aggregate's)."""
    if not str(record["topic"]).startswith(EXPORT_EVENT_PREFIX):
        return None
    state: dict[str, Any] = orjson.loads(base64.b64decode(record["state"]))
    return state


def _keyed(state: dict[str, Any] | None) -> bool:
    return state is not None and any(
        is_sealed(v) and sealed_by(v) == BY_EXPORT for v in state.values()
    )


def _open(record: Record, state: dict[str, Any], keys: KeySnapshot) -> None:
    aggregate = UUID(record["aggregate_id"])
    subject = state.get(SUBJECT)
    fields = [f for f in (*PERSONAL_FIELDS.get(record["type"], ()), ACTOR) if f in state]
    by = {f: sealed_by(state[f], f"export {aggregate}", f) for f in fields if is_sealed(state[f])}
    opened = open_state(record["type"], aggregate, state, keys)
    record["report_format"] = REPORT_FORMAT
    record["opened"] = {f: opened[f] for f in fields}
    if by:
        record["sealed_by"] = by
    key = keys.reading_key(subject) if subject else None
    if key is not None:
        record["subject_key"] = base64.b64encode(key).decode()
    if subject and BY_EXPORT in by.values():
        own = keys.export_reading_key(aggregate, subject)
        if isinstance(own, bytes):
            record["export_key"] = base64.b64encode(own).decode()


def opened_problem(record: Record) -> str | None:
    """Why a report line's ``opened`` values are not what its stored state seals (None:
    they are, or the line has none). Without a key only erased or shed values can be
    checked. Lines of either report format are checked alike: each sealed value names
    its key (a first-format line has only values under the subject's key)."""
    opened = record.get("opened")
    if opened is None:
        return None
    if not isinstance(opened, dict):
        return "its opened values are not an object"
    version = record.get("report_format", 1)
    if version not in (1, REPORT_FORMAT):
        return f"its report_format {version!r} is not one this version reads"
    state = orjson.loads(base64.b64decode(str(record["state"])))
    aggregate = UUID(str(record["aggregate_id"]))
    subject = state.get(SUBJECT)
    keys = {BY_SUBJECT: _key(record, "subject_key"), BY_EXPORT: _key(record, "export_key")}
    told = record.get("sealed_by") or {}
    for field, value in opened.items():
        stored = state.get(field)
        if is_sealed(stored):
            if subject is None:
                return f"its {field} is sealed without a subject"
            try:
                by = sealed_by(stored, f"export {aggregate}", field)
            except SealedValueInvalid as error:
                return str(error)
            if field in told and told[field] != by:
                return f"its sealed_by says {told[field]!r} for {field}, its value {by!r}"
            problem = _sealed_problem(keys[by], by, aggregate, subject, field, stored, value)
            if problem is not None:
                return problem
            continue
        if value != stored and not _reads_erased(field, value):
            return f"its opened {field} is not what its stored state holds"
    return None


def _key(record: Record, name: str) -> bytes | None:
    given = record.get(name)
    return base64.b64decode(str(given)) if given else None


def _sealed_problem(
    key: bytes | None,
    by: str,
    aggregate: UUID,
    subject: str,
    field: str,
    stored: dict[str, Any],
    value: Any,
) -> str | None:
    """Why ``value`` is not what ``stored`` opens to with ``key`` (None: it is)."""
    if key is None:  # the key is gone: the value reads erased (or shed, an export's)
        gone = [erased_value(field, subject)] + ([shed_value(field)] if by == BY_EXPORT else [])
        return None if value in gone else f"its opened {field} is not what its stored state holds"
    try:
        if by == BY_EXPORT:
            expected = open_export_value(key, aggregate, field, stored)
        else:
            expected = open_value(key, subject, field, stored)
    except SealedValueInvalid:  # a wrong key or changed ciphertext: not authentic
        return f"its {field} does not open with the {by}_key given"
    if value != expected:
        return f"its opened {field} is not what its stored state holds"
    return None


def _reads_erased(field: str, value: Any) -> bool:
    """A clear copy of an erased subject, shown erased."""
    if field == "user_id":
        return isinstance(value, str) and value.startswith("erased:")
    if field == "config":
        return bool(value == {"erased": True})
    return bool(value == ERASED_TEXT)
