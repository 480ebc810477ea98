"""The ``eventsourcing`` library's own recorder contract tests, run against our
least-privilege ``LedgerRecorder``.

Each test gets a fresh database cloned from the migrated template (the
``database_url`` fixture), and the recorder comes from our ``Factory`` exactly as
the application builds it: table ``exportledger_events`` (which our migration
guards with append-only triggers), every pooled connection in the
``export_ledger_writer`` role (INSERT and SELECT only), and the EXCLUSIVE lock
taken through the ``export_ledger_lock_events()`` SECURITY DEFINER function.
The library's own Postgres tests drop their tables between tests; we cannot
(nor TRUNCATE or DELETE: refused on purpose), hence a new database per test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from threading import Event, Thread
from typing import Any
from unittest import TestCase
from uuid import uuid4

import eventsourcing.tests.persistence as _contract
import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    TrackingRecorder,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import Environment

from api.wiring.database import ledger_env
from api.wiring.eventstore import Factory, LedgerRecorder
from sql.names import WRITER_ROLE
from tests.integration.helpers import EVENTS_TABLE, connect_as

AggregateRecorderTestCase = _contract.AggregateRecorderTestCase
ApplicationRecorderTestCase = _contract.ApplicationRecorderTestCase
InfrastructureFactoryTestCase = _contract.InfrastructureFactoryTestCase
NonInterleavingNotificationIDsBaseCase = _contract.NonInterleavingNotificationIDsBaseCase

APP_NAME = "ExportLedger"  # the factory names the events table "<name>_events"


class LedgerDatabase(TestCase):
    """Gives each test a fresh migrated database and our Factory's datastore on it."""

    pool_size = 1
    lock_timeout_seconds = 10

    @pytest.fixture(autouse=True)
    def _fresh_database(self, database_url: str) -> Iterator[None]:
        self.database_url = database_url
        self.env = Environment(
            APP_NAME,
            ledger_env(
                database_url,
                pool_size=self.pool_size,
                lock_timeout_seconds=self.lock_timeout_seconds,
            ),
        )
        self.factory = Factory(self.env)
        self.datastore = self.factory.datastore
        yield
        self.factory.close()

    def create_recorder(self) -> Any:
        recorder = self.factory.application_recorder()
        # The production wiring: our class, on the guarded table, no CREATE TABLE.
        assert type(recorder) is LedgerRecorder
        assert recorder.events_table_name == EVENTS_TABLE
        return recorder

    def resize_pool(self, size: int) -> None:
        self.datastore.pool.open()
        self.datastore.pool.resize(size, size)

    def assert_connections_are_writers(self) -> None:
        with self.datastore.get_connection() as conn:
            row = conn.execute("SELECT current_user AS role").fetchone()
        assert row is not None
        self.assertEqual(row["role"], WRITER_ROLE)


class TestLedgerApplicationRecorder(LedgerDatabase, ApplicationRecorderTestCase[LedgerRecorder]):
    """ApplicationRecorderTestCase, with the pool sizes the library's own Postgres
    tests use for its concurrent cases."""

    def create_recorder(self) -> LedgerRecorder:
        recorder: LedgerRecorder = super().create_recorder()
        return recorder

    def test_insert_select(self) -> None:
        self.assert_connections_are_writers()
        super().test_insert_select()

    def test_insert_subscribe(self) -> None:
        self.resize_pool(2)
        self.optional_test_insert_subscribe()

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:
        self.resize_pool(12)
        super().test_concurrent_no_conflicts(initial_position)

    def test_concurrent_throughput(self) -> None:
        self.resize_pool(10)
        super().test_concurrent_throughput()


class TestLedgerRecorderLockTimeout(LedgerDatabase):
    """The library's test_insert_lock_timeout_actually_works: the lock taken by our
    SECURITY DEFINER function still honours the recorder's ``lock_timeout``."""

    lock_timeout_seconds = 1

    def test_insert_lock_timeout_actually_works(self) -> None:
        self.resize_pool(2)
        recorder = self.create_recorder()
        event1 = StoredEvent(uuid4(), 1, "topic1", b"state1")
        event2 = StoredEvent(uuid4(), 1, "topic1", b"state1")
        lock_acquired, test_ended, timed_out = Event(), Event(), Event()
        errors: list[BaseException] = []

        def insert1() -> None:
            with self.datastore.transaction() as curs:
                recorder._insert_stored_events(curs, [event1])  # takes the lock
                lock_acquired.set()
                test_ended.wait(timeout=5)  # and keeps it

        def insert2() -> None:
            try:
                lock_acquired.wait(timeout=5)
                with self.datastore.get_connection() as conn:
                    with conn.transaction(), conn.cursor() as curs:
                        recorder._insert_stored_events(curs, [event2])
            except OperationalError as error:
                if "lock timeout" in str(error):
                    timed_out.set()
                else:
                    errors.append(error)
            except BaseException as error:
                errors.append(error)

        threads = [Thread(target=insert1, daemon=True), Thread(target=insert2, daemon=True)]
        for thread in threads:
            thread.start()
        timed_out.wait(timeout=4)
        test_ended.set()
        for thread in threads:
            thread.join(timeout=10)
        self.assertEqual(errors, [])
        self.assertTrue(timed_out.is_set())


class TestLedgerRecorderNonInterleaving(LedgerDatabase, NonInterleavingNotificationIDsBaseCase):
    """Two writers racing: each one's notification ids form a block, which is what
    the EXCLUSIVE lock (taken by our function, not LOCK TABLE) is for."""

    pool_size = 2

    def create_recorder(self) -> ApplicationRecorder:
        recorder: ApplicationRecorder = super().create_recorder()
        return recorder


class _LedgerRecorderAsAggregateRecorder(LedgerRecorder):
    """LedgerRecorder seen through the AggregateRecorder interface only.

    AggregateRecorderTestCase expects ``insert_events`` to return None (an
    aggregate recorder issues no notification ids); an application recorder
    returns them. Everything else under test (selects by version range, order
    and limit, atomic conflicting inserts) is the LedgerRecorder's own.
    """

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        if stored_events:
            assert ids is not None and len(ids) == len(stored_events), ids
        return None


class TestLedgerRecorderAsAggregateRecorder(LedgerDatabase, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return _LedgerRecorderAsAggregateRecorder(self.datastore, events_table_name=EVENTS_TABLE)


class TestLedgerFactory(LedgerDatabase, InfrastructureFactoryTestCase[Factory]):
    """The library's factory contract, for our Factory subclass (CREATE_TABLE is off,
    as in production: the writer role may not create tables)."""

    class TrackingRecorderSubclass(PostgresTrackingRecorder):
        pass

    def setUp(self) -> None:
        # The base setUp builds its own factory from self.env; close the fixture's.
        self.factory.close()
        super().setUp()
        self.datastore = self.factory.datastore

    def expected_factory_class(self) -> type[Factory]:
        return Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return PostgresAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return LedgerRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return PostgresTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return self.TrackingRecorderSubclass

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return PostgresProcessRecorder

    def test_connections_take_on_the_writer_role(self) -> None:
        self.assertEqual(
            self.datastore.pool.kwargs["options"],
            f"-c role={WRITER_ROLE} -c lock_timeout={self.lock_timeout_seconds}s",
        )
        self.assert_connections_are_writers()

    def test_connections_wait_for_the_lock_as_configured(self) -> None:
        """The lock timeout is set once per connection, not in each command."""
        with self.datastore.get_connection() as conn:
            row = conn.execute("SELECT current_setting('lock_timeout') AS t").fetchone()
        self.assertEqual(row, {"t": f"{self.lock_timeout_seconds}s"})

    def test_no_role_setting_connects_as_the_url_user(self) -> None:
        del self.env["LEDGER_DB_ROLE"]
        factory = Factory(self.env)
        try:
            self.assertNotIn("role=", factory.datastore.pool.kwargs["options"])
            with factory.datastore.get_connection() as conn:
                row = conn.execute("SELECT current_user AS role").fetchone()
            assert row is not None
            self.assertNotEqual(row["role"], WRITER_ROLE)
        finally:
            factory.close()

    def test_pool_reconnects_in_the_writer_role(self) -> None:
        """Connections the pool opens after losing its old ones take the role too."""
        recorder = self.create_recorder()
        recorder.insert_events([StoredEvent(uuid4(), 1, "topic1", b"state1")])
        with connect_as(self.database_url) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # pre-ping (POSTGRES_PRE_PING=y) replaces the dead connection.
        self.assertEqual(recorder.insert_events([StoredEvent(uuid4(), 1, "t", b"s")]), [2])
        self.assert_connections_are_writers()
