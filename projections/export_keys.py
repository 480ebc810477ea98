"""The exports' own keys in PostgreSQL (sql/migrations/0014_export_keys.sql), for the
application's key store (projections/subject_keys.py's ``KeyTable``) and for folds
(its ``KeySnapshot``, which reads them by range: the exports of a batch or a chunk).

One row per export recorded since export keys, made with its first event while its
subject's key is live (sql/queries/export_keys.sql says how that races an erasure): in
the events' own transaction when the writer defers it (:meth:`ExportKeyCache.deferring`,
sql/migrations/0016_export_keys_with_events.sql), else in one of its own.
A key is gone once shed (a retention) or erased (its subject's erasure); the row
stays, so a missing key is an error and a destroyed one is not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import Composed

from domain.exceptions import ExportKeyMissing, SubjectErased, SubjectKeyMissing
from domain.privacy import ExportKey, KeyGone, NewExportKey, NewExportKeys, new_key, writable
from sql import statement

Run = Callable[[Composed, dict[str, Any]], list[Sequence[Any]]]
"""Runs a statement (on a connection of the key store's); its rows."""


def export_key(row: Sequence[Any]) -> ExportKey:
    """A key as the queries return it, (key, shed, erased) at the row's end."""
    key, shed, erased = row[-3], row[-2], row[-1]
    if erased:
        return KeyGone.ERASED
    if shed:
        return KeyGone.SHED
    return bytes(key)


ExportKeys = dict[int, ExportKey]
"""Export keys by the aggregate id's integer (``UUID.int``): a fold looks one up per
value, and a UUID's own hash is computed in Python."""


def export_keys_of(conn: psycopg.Connection[Any], ids: Collection[UUID]) -> ExportKeys:
    """The keys of ``ids`` that have one, read on ``conn`` (in its snapshot)."""
    if not ids:
        return {}
    rows = conn.execute(statement("export_keys", "export_keys_of"), {"ids": list(ids)})
    return {r[0].int: export_key(r) for r in rows.fetchall()}


def export_keys_between(conn: psycopg.Connection[Any], first: UUID, last: UUID) -> ExportKeys:
    """The keys of the exports from ``first`` to ``last`` (aggregate ids, in order)."""
    found: ExportKeys = {}
    with conn.cursor(binary=True) as cur:
        cur.execute(statement("export_keys", "export_keys_between"), {"first": first, "last": last})
        for aggregate, key, shed, erased in cur.fetchall():  # once per export of a chunk
            found[aggregate.int] = KeyGone.ERASED if erased else KeyGone.SHED if shed else key
    return found


class ExportKeyCache:
    """The writer's export keys: made and read through ``rows``, each kept for
    ``seconds`` (as the subject keys are kept) and forgotten at once when this process
    erases their subject, or sheds the export."""

    def __init__(self, run: Run, seconds: float, size: int = 10_000) -> None:
        self._run = run
        self._seconds = seconds
        self._size = size
        self._cache: dict[UUID, tuple[float, str, ExportKey]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()  # .made: the keys this thread defers, if it does

    @contextmanager
    def deferring(self) -> Iterator[NewExportKeys]:
        """The keys made on this thread meanwhile, kept out of the table (and of the
        cache until :meth:`stored`): the caller stores them with its events."""
        made: NewExportKeys = {}
        outer, self._local.made = getattr(self._local, "made", None), made
        try:
            yield made
        finally:
            self._local.made = outer

    def stored(self, made: NewExportKeys) -> None:
        for new in made.values():
            self._remember(new.aggregate_id, new.subject, new.key)

    def writing_key(
        self, aggregate_id: UUID, subject: str, make: bool, is_erased: Callable[[], bool]
    ) -> bytes | None:
        key = self._cached(aggregate_id)
        deferred: NewExportKeys | None = getattr(self._local, "made", None)
        if key is None and deferred is not None:
            new = deferred.get(aggregate_id)
            if new is None and make:
                new = deferred[aggregate_id] = NewExportKey(aggregate_id, subject, new_key())
            if new is not None:
                return new.key
        if key is None and make:
            row = self._one("make_export_key", {"id": aggregate_id, "subject": subject,
                                                "key": new_key()})  # fmt: skip
            if row is None:  # erased, or made by another writer after its snapshot
                row = self._one("export_key", {"id": aggregate_id})
            if row is None:
                raise SubjectErased(subject) if is_erased() else SubjectKeyMissing(subject)
            key = self._remember(aggregate_id, subject, export_key(row))
        elif key is None:
            row = self._one("export_key", {"id": aggregate_id})
            if row is None:
                return None  # recorded before export keys
            key = self._remember(aggregate_id, subject, export_key(row))
        return writable(aggregate_id, subject, key)

    def prepare(self, exports: Mapping[UUID, tuple[str, bool]]) -> None:
        """One statement makes (or reads) the keys of ``exports`` not at hand."""
        wanted = sorted(a for a in exports if self._cached(a) is None)
        if not wanted:
            return
        params = {
            "ids": wanted,
            "subjects": [exports[a][0] for a in wanted],
            "keys": [new_key() for _ in wanted],
            "make": [exports[a][1] for a in wanted],
        }
        for row in self._rows("make_export_keys", params):
            self._remember(row[0], str(row[1]), export_key(row))

    def reading_key(self, aggregate_id: UUID, subject: str) -> ExportKey:
        key = self._cached(aggregate_id)
        if key is None:
            row = self._one("export_key", {"id": aggregate_id})
            if row is None:
                raise ExportKeyMissing(str(aggregate_id), subject)
            key = self._remember(aggregate_id, subject, export_key(row))
        return key

    def prepare_reading(self, ids: Collection[UUID]) -> None:
        wanted = sorted(a for a in ids if self._cached(a) is None)
        if wanted:
            for row in self._rows("export_keys_of", {"ids": wanted}):
                self._remember(row[0], str(row[1]), export_key(row))

    def forget(self, subject: str) -> None:
        """Drop the keys of ``subject``'s exports (this process erased them)."""
        with self._lock:
            for aggregate_id in [a for a, hit in self._cache.items() if hit[1] == subject]:
                del self._cache[aggregate_id]

    def forget_export(self, aggregate_id: UUID) -> None:
        """Drop one export's key (this process shed it)."""
        with self._lock:
            self._cache.pop(aggregate_id, None)

    def _cached(self, aggregate_id: UUID) -> ExportKey | None:
        with self._lock:
            hit = self._cache.get(aggregate_id)
        if hit is not None and time.monotonic() - hit[0] < self._seconds:
            return hit[2]
        return None

    def _remember(self, aggregate_id: UUID, subject: str, key: ExportKey) -> ExportKey:
        with self._lock:
            if len(self._cache) >= self._size:
                self._cache.clear()
            self._cache[aggregate_id] = (time.monotonic(), subject, key)
        return key

    def _rows(self, name: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        return self._run(statement("export_keys", name), params)

    def _one(self, name: str, params: dict[str, Any]) -> Sequence[Any] | None:
        rows = self._rows(name, params)
        return rows[0] if rows else None
