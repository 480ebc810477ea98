"""The event store's PostgreSQL wiring: a least-privilege recorder for ``eventsourcing``.

Selected through the library's ``PERSISTENCE_MODULE`` setting (this module's
``Factory``), so the domain's application class never names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing import postgres
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.utils import Environment, retry
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import Identifier, Literal

from sql import statement

ROLE_KEY = "LEDGER_DB_ROLE"
LIBPQ_OPTIONS_KEY = "LEDGER_DB_LIBPQ_OPTIONS"


class LedgerRecorder(postgres.PostgresApplicationRecorder):
    """The library's recorder, but its writers may only INSERT and SELECT.

    The library serialises writers with ``LOCK TABLE ... IN EXCLUSIVE MODE``,
    which needs UPDATE or DELETE privilege; we call the owner-defined
    ``export_ledger_lock_events()`` instead, which takes the same lock.
    """

    def __init__(
        self, datastore: postgres.PostgresDatastore, *, events_table_name: str = "stored_events"
    ):
        super().__init__(datastore, events_table_name=events_table_name)
        timeout = Literal(f"{datastore.lock_timeout}s")
        self.lock_table_statements = [
            statement("events", "lock_timeout", timeout=timeout),
            statement("events", "lock_events"),
        ]
        self._select_positions = statement(
            "events", "event_positions", events=Identifier(datastore.schema, events_table_name)
        )
        self._copy_events = statement(
            "imports", "copy_events", events=Identifier(datastore.schema, events_table_name)
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert (lock, NOTIFY, INSERT ... RETURNING in one
        transaction), without psycopg's pipeline mode, which measured slower
        here per transaction. A constraint violation still raises at once."""
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events_in_bulk(self, stored_events: Sequence[StoredEvent]) -> None:
        """Many events in one transaction under the same lock and NOTIFY as
        ``insert_events``, sent with COPY (several times faster for an import's
        batches). A duplicate (originator_id, originator_version) fails them all."""
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
        role = self.env.get(ROLE_KEY)
        if role:
            # A startup option, so every pooled connection has the role before
            # its first statement; the URL's user must be a member.
            options = str(kwargs.get("options") or "")
            kwargs["options"] = f"-c role={role} {options}".strip()
