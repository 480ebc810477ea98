"""The event store's PostgreSQL wiring: a least-privilege recorder for ``eventsourcing``.

Selected through the library's ``PERSISTENCE_MODULE`` setting (this module's
``Factory``), so the domain's application class never names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing import postgres
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.utils import Environment, retry
from psycopg import Cursor
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import Identifier

from domain.privacy import ExportKeysRefused, NewExportKey
from sql import statement
from sql.names import EVENTS_TABLE

ROLE_KEY = "LEDGER_DB_ROLE"
LIBPQ_OPTIONS_KEY = "LEDGER_DB_LIBPQ_OPTIONS"
_ATTEMPTS = 10
_RETRY_WAIT_SECONDS = 0.2
"""As the library retries a lost connection: ten attempts, 0.2 s apart."""
KEYS_REFUSED = "23K01"
"""The SQLSTATE of new export keys not stored (sql/migrations/0016)."""


def _key_params(keys: Sequence[NewExportKey]) -> dict[str, Any]:
    return {
        "key_ids": [k.aggregate_id for k in keys],
        "key_subjects": [k.subject for k in keys],
        "keys": [k.key for k in keys],
    }


class LedgerRecorder(postgres.PostgresApplicationRecorder):
    """The library's recorder, but its writers may only INSERT and SELECT, and a
    command's events take one round trip.

    The library serialises writers with ``LOCK TABLE ... IN EXCLUSIVE MODE``,
    which needs UPDATE or DELETE privilege; we call the owner-defined
    ``export_ledger_lock_events()`` instead, which takes the same lock. Its
    insert sends, one by one, BEGIN, the lock timeout, the lock, the NOTIFY, the
    INSERT and the COMMIT; ours sends one autocommit statement that does all of
    it (``export_ledger_insert_events()``), the lock timeout being set once per
    connection by the ``Factory``.

    ``insert_events(..., export_keys=[...])`` stores the keys of the new exports
    whose fields the events seal in the same statement (sql/migrations/0016), or
    raises ExportKeysRefused and stores nothing.
    """

    stores_export_keys = True
    """The ledger may leave new export keys to this recorder (domain/ledger/writes.py)."""

    def __init__(
        self, datastore: postgres.PostgresDatastore, *, events_table_name: str = "stored_events"
    ):
        super().__init__(datastore, events_table_name=events_table_name)
        self.lock_table_statements = [statement("events", "lock_events")]
        # The function knows one table: another name takes the library's way.
        self._one_statement = (datastore.schema, events_table_name) == ("public", EVENTS_TABLE)
        self._insert_in_one = statement("events", "insert_events")
        self._insert_one_event = statement("events", "insert_event")
        self._insert_in_one_keyed = statement("events", "insert_events_keyed")
        self._insert_one_event_keyed = statement("events", "insert_event_keyed")
        self._store_export_keys = statement("events", "store_export_keys")
        self._select_all = statement(
            "events", "select_events", events=Identifier(datastore.schema, events_table_name)
        )
        self._select_positions = statement(
            "events", "event_positions", events=Identifier(datastore.schema, events_table_name)
        )
        self._copy_events = statement(
            "imports", "copy_events", events=Identifier(datastore.schema, events_table_name)
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Lock, NOTIFY, INSERT ... RETURNING and COMMIT in one statement; a
        constraint violation raises at once and stores none of them.

        A lost connection is retried (a failover, a restarted server). When the
        statement had committed before the connection went, the retry finds the
        same events recorded: they are this call's own (their state holds the
        command's own timestamp), so it answers with their positions instead of
        a conflict. Events that differ are another writer's, and still conflict.
        """
        if not stored_events:
            return None
        lost = False
        for attempt in range(_ATTEMPTS):
            try:
                return self._insert(stored_events, **kwargs)
            except (InterfaceError, OperationalError):
                if attempt + 1 == _ATTEMPTS:
                    raise
                lost = True
                time.sleep(_RETRY_WAIT_SECONDS)
            except IntegrityError:
                positions = self._positions_if_recorded(stored_events) if lost else None
                if positions is None:
                    raise
                return positions
        raise AssertionError("unreachable")

    def _insert(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        keys: Sequence[NewExportKey] = kwargs.pop("export_keys", None) or ()
        try:
            return self._insert_keyed(stored_events, keys, **kwargs)
        except IntegrityError as error:
            if getattr(error.__cause__, "sqlstate", None) == KEYS_REFUSED:
                raise ExportKeysRefused(str(error)) from None
            raise

    def _insert_keyed(
        self, stored_events: Sequence[StoredEvent], keys: Sequence[NewExportKey], **kwargs: Any
    ) -> Sequence[int] | None:
        """The events, and the new exports' keys sealed into them, in one transaction."""
        if not self._one_statement:
            return self._insert_in_transaction(stored_events, keys, **kwargs)
        if len(stored_events) == 1 and len(keys) <= 1:
            return self._insert_one(stored_events[0], keys[0] if keys else None)
        params = {
            "ids": [e.originator_id for e in stored_events],
            "versions": [e.originator_version for e in stored_events],
            "topics": [e.topic for e in stored_events],
            "states": [e.state for e in stored_events],
        }
        query = self._insert_in_one
        if keys:
            query = self._insert_in_one_keyed
            params.update(_key_params(keys))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params, prepare=True)
            return [row["notification_id"] for row in curs.fetchall()]

    def _positions_if_recorded(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The positions of exactly these events (same topic and state) when all of
        them are recorded; None when any is missing or differs."""
        positions = []
        for originator_id in {e.originator_id for e in stored_events}:
            recorded = {e.originator_version: e for e in self._select_all_events(originator_id)}
            where = self.select_event_positions(UUID(str(originator_id)))
            for event in stored_events:
                if event.originator_id != originator_id:
                    continue
                found = recorded.get(event.originator_version)
                if found is None or (found.topic, found.state) != (event.topic, event.state):
                    return None
                positions.append(where[event.originator_version])
        return sorted(positions)

    def _insert_one(self, event: StoredEvent, key: NewExportKey | None) -> list[int]:
        params = {
            "id": event.originator_id,
            "version": event.originator_version,
            "topic": event.topic,
            "state": event.state,
        }
        query = self._insert_one_event
        if key is not None:
            query = self._insert_one_event_keyed
            params.update(key_subject=key.subject, key=key.key)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params, prepare=True)
            return [row["notification_id"] for row in curs.fetchall()]

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """An aggregate's events; all of them in order (what a command loads) with
        one statement built once, the rest as the library builds them."""
        if gt is not None or lte is not None or desc or limit is not None:
            events: Sequence[StoredEvent] = super().select_events(
                originator_id, gt=gt, lte=lte, desc=desc, limit=limit
            )
            return events
        found: Sequence[StoredEvent] = self._select_all_events(originator_id)
        return found

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _select_all_events(self, originator_id: UUID | str) -> Sequence[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_all, {"originator_id": originator_id}, prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def _insert_in_transaction(
        self, stored_events: Sequence[StoredEvent], keys: Sequence[NewExportKey], **kwargs: Any
    ) -> Sequence[int] | None:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            if keys:  # before the events' lock, as the functions take them
                curs.execute(self._store_export_keys, _key_params(keys))
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events_in_bulk(
        self,
        stored_events: Sequence[StoredEvent],
        also: Callable[[Cursor[Any]], object] | None = None,
    ) -> None:
        """Many events in one transaction under the same lock and NOTIFY as
        ``insert_events``, sent with COPY (several times faster for an import's
        batches). A duplicate (originator_id, originator_version) fails them all.
        ``also`` runs on the same cursor before the commit (a live sync stores its
        position with the events it recorded)."""
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._lock_table(curs)
            self._notify_channel(curs)
            with curs.copy(self._copy_events) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for e in stored_events:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
            if also is not None:
                also(curs)

    def select_event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Log position (notification id) of each version of one aggregate."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_positions, {"originator_id": originator_id}, prepare=True)
            return {row["originator_version"]: row["notification_id"] for row in curs}


class Factory(postgres.PostgresFactory):
    """Connects as the library does, then takes on ``LEDGER_DB_ROLE`` if set."""

    application_recorder_class = LedgerRecorder

    def __init__(self, env: Environment | Any):
        super().__init__(env)
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        # The URL's other libpq options (target_session_attrs, sslmode, ...).
        kwargs.update(conninfo_to_dict(self.env.get(LIBPQ_OPTIONS_KEY) or ""))
        # Startup options, so every pooled connection has them before its first
        # statement and no command spends a round trip on them: the role (the
        # URL's user must be a member), how long a writer waits for the events
        # table's lock (the library sets it in each transaction), then the URL's.
        role = self.env.get(ROLE_KEY)
        options = [f"-c role={role}"] if role else []
        options.append(f"-c lock_timeout={self.datastore.lock_timeout}s")
        given = str(kwargs.get("options") or "").strip()
        kwargs["options"] = " ".join([*options, given] if given else options)
