"""The subject keys in PostgreSQL (sql/migrations/0011_subject_keys.sql), and with
them the exports' keys (projections/export_keys.py).

:class:`KeyTable` is the application's key store (domain/privacy's ``SubjectKeys``),
as the writer's login. :class:`KeySnapshot` gives the keys to a fold that runs on a
connection of its own (the follower's batch, the rebuild, verify): read in that
connection's transaction, so a fold sees the keys as its events; the subjects' keys
all at once, the exports' keys by range (those of a batch, or of a rebuild's chunk).

Keys are bytes that never reach a log line or an error message: errors name the
subject's pseudonym only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg.conninfo import make_conninfo
from psycopg.sql import Composed
from psycopg_pool import ConnectionPool

from domain import topics
from domain.exceptions import ExportKeyMissing, NotMigrated, SubjectErased, SubjectKeyMissing
from domain.privacy import ExportKey, NewExportKeys, pseudonym
from projections.db.database import Database
from projections.export_keys import (
    ExportKeyCache,
    ExportKeys,
    export_key,
    export_keys_between,
    export_keys_of,
)
from sql import statement
from sql.names import ADMIN_ROLE, WRITER_ROLE

ROLE_KEY = "LEDGER_DB_ROLE"  # as api/wiring/eventstore.py names them
LIBPQ_OPTIONS_KEY = "LEDGER_DB_LIBPQ_OPTIONS"
_ATTEMPTS, _WAIT = 10, 0.2  # as the library's recorder retries a lost connection

CACHE_SECONDS = 1.0
"""How long a process keeps a key it read. An erasure or a retention by this process
forgets it at once; one by another process is seen here within this time."""


class KeySnapshot:
    """Keys read on ``conn`` as a fold needs them: the subjects' all at once with
    :meth:`preload`, the exports' of each batch or chunk with :meth:`preload_exports`."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.keys: dict[str, bytes | None] = {}
        self.exports: dict[UUID, str] | None = None
        self.export_keys: ExportKeys = {}

    def preload(self) -> KeySnapshot:
        rows = self.conn.execute(statement("subjects", "all_keys")).fetchall()
        self.keys = {str(r[0]): _bytes(r[1]) for r in rows}
        self._load_exports()
        return self

    def preload_exports(self, ids: Collection[UUID]) -> KeySnapshot:
        """The keys of these exports at hand, in place of those before (one statement;
        memory stays that of a range)."""
        return self.use_exports(self.fetch_exports(ids))

    def fetch_exports(self, ids: Collection[UUID]) -> ExportKeys:
        """The keys of these exports (for :meth:`use_exports`; a thread of the fold's
        may read them while it folds the range before)."""
        return export_keys_of(self.conn, ids)

    def fetch_export_range(self, first: UUID, last: UUID) -> ExportKeys:
        """The keys of the exports from ``first`` to ``last`` (for :meth:`use_exports`):
        a fold's range in aggregate order, found without sending its ids."""
        return export_keys_between(self.conn, first, last)

    def use_exports(self, keys: ExportKeys) -> KeySnapshot:
        self.export_keys = keys
        return self

    def reading_key(self, subject: str) -> bytes | None:
        if subject not in self.keys:
            row = self.conn.execute(
                statement("subjects", "reading_key"), {"subject": subject}
            ).fetchone()
            if row is None:
                raise SubjectKeyMissing(subject)
            self.keys[subject] = _bytes(row[0])
        return self.keys[subject]

    def export_reading_key(self, aggregate_id: UUID, subject: str) -> ExportKey:
        key = self.export_keys.get(aggregate_id.int)
        if key is None:  # not in the range preloaded
            row = self.conn.execute(
                statement("export_keys", "export_key"), {"id": aggregate_id}
            ).fetchone()
            if row is None:
                raise ExportKeyMissing(str(aggregate_id), subject)
            key = self.export_keys[aggregate_id.int] = export_key(row)
        return key

    def erased_export(self, aggregate_id: UUID) -> str | None:
        if self.exports is None:
            self._load_exports()
        assert self.exports is not None
        return self.exports.get(aggregate_id)

    def _load_exports(self) -> None:
        rows = self.conn.execute(statement("subjects", "erased_exports")).fetchall()
        self.exports = {r[0]: str(r[1]) for r in rows}


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


class KeyTable:
    """The application's key store, as the writer's login (a small pool of its own)."""

    def __init__(
        self, conninfo: str, *, role: str | None = WRITER_ROLE, size: int = 2,
        timeout: float = 10.0,
    ) -> None:  # fmt: skip
        """``conninfo`` logs in as ``role``'s login (or, with no role, as itself)."""
        options = {"options": f"-c role={role}"} if role else {}
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=size,
            timeout=timeout,
            open=False,
            name="export-ledger-subject-keys",
            kwargs={**options, "application_name": "export-ledger-subject-keys"},
        )
        self._secret: bytes | None = None
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._exports: tuple[float, dict[UUID, str]] | None = None
        self._lock = threading.Lock()
        self._export_keys = ExportKeyCache(self._run, CACHE_SECONDS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KeyTable:
        """From the application's settings (api/wiring/database.py's ledger_env)."""
        conninfo = make_conninfo(
            env.get(LIBPQ_OPTIONS_KEY) or "",  # target_session_attrs and the like
            host=env.get("POSTGRES_HOST"),
            port=env.get("POSTGRES_PORT"),
            dbname=env.get("POSTGRES_DBNAME"),
            user=env.get("POSTGRES_USER"),
            password=env.get("POSTGRES_PASSWORD") or None,
        )
        return cls(conninfo, role=env.get(ROLE_KEY) or None).open()

    def open(self) -> KeyTable:
        self.pool.open(wait=False)
        return self

    def close(self) -> None:
        self.pool.close(timeout=2)

    def pseudonym(self, user_id: str) -> str:
        if self._secret is None:
            row = self._one("subject_secret", {})
            if row is None:
                raise NotMigrated("no subject secret: run 'export-ledger migrate'")
            self._secret = bytes(row[0])
        return pseudonym(self._secret, user_id)

    def writing_key(self, subject: str) -> bytes:
        key = self._cached(subject)
        if key is None:
            fresh = AESGCM.generate_key(bit_length=256)
            row = self._one("writing_key", {"subject": subject, "key": fresh})
            if row is None:  # another writer made it after this statement's snapshot
                row = self._one("reading_key", {"subject": subject})
            assert row is not None
            key = _bytes(row[0])
            self._remember(subject, key)
        if key is None:
            raise SubjectErased(subject)
        return key

    def prepare_writing_keys(self, subjects: Collection[str]) -> None:
        """One statement makes the keys missing among ``subjects`` and returns them all;
        a subject another writer made meanwhile is left to ``writing_key``."""
        wanted = sorted(s for s in subjects if self._cached(s) is None)
        if not wanted:
            return
        fresh = [AESGCM.generate_key(bit_length=256) for _ in wanted]
        for subject, key in self._rows("writing_keys", {"subjects": wanted, "keys": fresh}):
            self._remember(str(subject), _bytes(key))

    def prepare_reading_keys(
        self, subjects: Collection[str], exports: Collection[UUID] = ()
    ) -> None:
        """A statement fetches the keys ``subjects`` have, another those of ``exports``
        (one without is left to ``reading_key``, or ``export_reading_key``, which
        say so)."""
        wanted = sorted(s for s in subjects if self._cached(s) is None)
        if wanted:
            for subject, key in self._rows("reading_keys", {"subjects": wanted}):
                self._remember(str(subject), _bytes(key))
        self._export_keys.prepare_reading(exports)

    def export_writing_key(self, aggregate_id: UUID, subject: str, *, make: bool) -> bytes | None:
        return self._export_keys.writing_key(
            aggregate_id, subject, make, lambda: self.is_erased(subject)
        )

    def prepare_export_keys(self, exports: Mapping[UUID, tuple[str, bool]]) -> None:
        """One statement makes the keys ``exports`` need and fetches the others; one
        another writer made meanwhile is left to ``export_writing_key``."""
        self._export_keys.prepare(exports)

    def deferring_export_keys(self) -> AbstractContextManager[NewExportKeys]:
        return self._export_keys.deferring()

    def export_keys_stored(self, made: NewExportKeys) -> None:
        self._export_keys.stored(made)

    def export_reading_key(self, aggregate_id: UUID, subject: str) -> ExportKey:
        return self._export_keys.reading_key(aggregate_id, subject)

    def reading_key(self, subject: str) -> bytes | None:
        with self._lock:
            hit = self._cache.get(subject)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        row = self._one("reading_key", {"subject": subject})
        if row is None:
            raise SubjectKeyMissing(subject)
        key = _bytes(row[0])
        self._remember(subject, key)
        return key

    def is_erased(self, subject: str) -> bool:
        row = self._one("reading_key", {"subject": subject})
        return row is not None and row[1] is not None

    def erased_export(self, aggregate_id: UUID) -> str | None:
        now = time.monotonic()
        cached = self._exports
        if cached is None or now - cached[0] >= CACHE_SECONDS:
            with self.pool.connection() as conn:
                rows = conn.execute(statement("subjects", "erased_exports")).fetchall()
            cached = self._exports = (now, {r[0]: str(r[1]) for r in rows})
        return cached[1].get(aggregate_id)

    def erase(self, subject: str, exports: list[UUID]) -> bool:
        """In one transaction: the subject's row made (erased) if it has none, its
        lock taken (lock_subject), then its key and every export key of theirs
        destroyed by one statement, and the exports listed as erased."""
        with self.pool.connection() as conn, conn.transaction():
            made = conn.execute(statement("subjects", "claim_subject"), {"subject": subject})
            first = made.fetchone() is not None
            row = conn.execute(statement("subjects", "lock_subject"), {"subject": subject})
            before = row.fetchone()
            first = first or (before is not None and before[0] is None)
            conn.execute(statement("subjects", "erase_key"), {"subject": subject})
            conn.execute(
                statement("subjects", "add_erased_exports"), {"ids": exports, "subject": subject}
            )
        with self._lock:
            self._cache[subject] = (time.monotonic() + 10**9, None)  # never again, here
            self._exports = None
        self._export_keys.forget(subject)
        return first

    def shed(self, aggregate_id: UUID) -> None:
        """The trigger of sql/migrations/0015_retention.sql destroyed the key as the
        export's RetentionApplied was stored: forget it here too."""
        self._export_keys.forget_export(aggregate_id)

    def settle(self) -> None:
        """Other processes keep a key they read for up to :data:`CACHE_SECONDS`."""
        time.sleep(CACHE_SECONDS)

    def _cached(self, subject: str) -> bytes | None:
        with self._lock:
            hit = self._cache.get(subject)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS and hit[1] is not None:
            return hit[1]
        return None

    def _remember(self, subject: str, key: bytes | None) -> None:
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[subject] = (time.monotonic(), key)

    def _one(self, name: str, params: dict[str, Any]) -> Sequence[Any] | None:
        rows = self._rows(name, params)
        return rows[0] if rows else None

    def _rows(self, name: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        return self._run(statement("subjects", name), params)

    def _run(self, query: Composed, params: dict[str, Any]) -> list[Sequence[Any]]:
        """The rows of a statement; a connection lost (a restart, a failover) is
        retried on a fresh one, as the event store's own writes are."""
        for attempt in range(_ATTEMPTS):
            try:
                with self.pool.connection() as conn:
                    rows: list[Sequence[Any]] = conn.execute(query, params).fetchall()
                    return rows
            except psycopg.OperationalError:
                if attempt + 1 == _ATTEMPTS:
                    raise
                time.sleep(_WAIT)
        raise AssertionError("unreachable")


class ReadModelSubjects:
    """Implements the domain's ``SubjectExports`` over the read tables, as an admin:
    a user's exports from export_log_versions (deleted ones too), open holds from
    export_holds; the exports recorded since, from the events, as the writer."""

    def __init__(self, db: Database, *, settle_seconds: float = CACHE_SECONDS) -> None:
        self.db = db
        self.settle_seconds = settle_seconds

    def projected_position(self) -> int:
        with self.db.connect(ADMIN_ROLE, autocommit=True) as conn:
            row = conn.execute(statement("subjects", "projected_position")).fetchone()
        return int(row[0]) if row else 0

    def exports_sealed_since(self, subject: str, after: int) -> Sequence[str]:
        """Waits out the key caches (a process that read the key before it was
        destroyed may seal under it for up to :data:`CACHE_SECONDS` more), then reads
        under the events table's lock, which every writer holds until it commits: a
        writer that sealed before the wait ended is committed by then."""
        time.sleep(self.settle_seconds)
        created = [topics.REQUESTED, topics.IMPORTED]
        with self.db.connect(WRITER_ROLE) as conn, conn.transaction():
            conn.execute(statement("events", "lock_events"))
            rows = conn.execute(
                statement("subjects", "subject_exports_since"),
                {"after": after, "topics": created, "subject": subject},
            ).fetchall()
        return [str(r[0]) for r in rows]

    def export_ids_of(self, user_id: str) -> Sequence[str]:
        with self.db.connect(ADMIN_ROLE, autocommit=True) as conn:
            rows = conn.execute(
                statement("subjects", "subject_export_ids"), {"user_id": user_id}
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    def open_holds(self, export_ids: Sequence[str]) -> Sequence[tuple[str, str, str]]:
        with self.db.connect(ADMIN_ROLE, autocommit=True) as conn:
            rows = conn.execute(
                statement("subjects", "subject_open_holds"), {"export_ids": list(export_ids)}
            ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def subject_pseudonym(conn: psycopg.Connection[Any], user_id: str) -> str:
    """A user's pseudonym, with the ledger's secret read on ``conn`` (writer or admin)."""
    row = conn.execute(statement("subjects", "subject_secret")).fetchone()
    if row is None:
        raise NotMigrated("no subject secret: run 'export-ledger migrate'")
    return pseudonym(bytes(row[0]), user_id)


def privacy_counts(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """(erased subjects, events stored in the clear before fields were sealed that
    still hold an erased subject's personal data) — the copies the seal keeps."""
    row = conn.execute(statement("subjects", "privacy_counts")).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def privacy_summary(conn: psycopg.Connection[Any]) -> str | None:
    """What ``verify`` says of privacy: the subjects erased and the clear copies of their
    personal data the seal keeps, and the idempotency claims stored with their keys in
    the clear (README: Privacy); None when there is nothing to say."""
    subjects, clear = privacy_counts(conn)
    row = conn.execute(statement("subjects", "clear_claims"), {"topic": topics.CLAIMED}).fetchone()
    claims = int(row[0]) if row else 0
    said = []
    if subjects:
        left = (
            f"; clear copies of their personal data remain in {clear:,} events stored "
            "before fields were sealed"
            if clear
            else ""
        )
        said.append(f"{subjects:,} data subjects erased{left}")
    if claims:
        said.append(
            f"{claims:,} idempotency claims stored before claims were keyed hold their keys "
            "in the clear"
        )
    return "; ".join(said) or None
