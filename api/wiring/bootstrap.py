"""The composition root: every entry point gets its parts from :func:`bootstrap`.

``bootstrap`` reads nothing at import and opens nothing it is not asked for: it
finds the database (the configured URL, or the embedded server), migrates it, and
returns a :class:`Runtime` whose parts (the ledger, the read store, the position
watcher, the projector) open on first use and close together with it. The HTTP
app asks for all of them at start-up; a CLI command only for what it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from functools import cached_property

from api.wiring.auth import TokenVerifier, verifier_for
from api.wiring.database import migrate, open_database, open_ledger
from api.wiring.metrics import Metrics, observe_commands
from api.wiring.settings import Settings
from api.wiring.signing import KeyRing
from api.wiring.sink_key import sink_key
from api.wiring.witnesses import configured, post
from domain.ledger.application import ExportLedger
from projections.db.closable import Closable
from projections.db.database import Database
from projections.importing.sync_worker import SyncWorker
from projections.projector import ElectedProjector, Projector, process_name
from projections.readmodel.retention import RetentionJob, StoredRetentionCandidates
from projections.reads.positions import PositionWatcher
from projections.reads.read_store import ReadStore
from projections.sinks.sender import SinkSettings
from projections.tlog.witnessing import Cosigners


class Runtime(Closable):
    """What an entry point works with; a context manager that closes what it opened."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        group_commit: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.metrics = metrics or Metrics()
        self._observed = metrics is not None  # the server counts and logs commands; the CLI not
        self.projector: Projector | ElectedProjector | None = None
        self._group_commit = group_commit
        self._closing = ExitStack()

    @cached_property
    def ledger(self) -> ExportLedger:
        ledger = open_ledger(self.database, self.settings, group_commit=self._group_commit)
        self._closing.callback(ledger.close)
        return observe_commands(ledger, self.metrics) if self._observed else ledger

    @cached_property
    def reads(self) -> ReadStore:
        reads = ReadStore(
            self.database,
            size=self.settings.pool_size,
            timeout=self.settings.pool_timeout_seconds,
            replicas=[url.get_secret_value() for url in self.settings.read_database_urls],
        ).open()
        self._closing.callback(reads.close)
        return reads

    @cached_property
    def watcher(self) -> PositionWatcher:
        watcher = PositionWatcher(self.database).start()
        self._closing.callback(watcher.stop)
        return watcher

    @cached_property
    def verifier(self) -> TokenVerifier:
        return verifier_for(self.settings)

    @cached_property
    def keys(self) -> KeyRing:
        """The private checkpoint keys of this host (api/wiring/signing.py)."""
        return KeyRing.of(self.settings)

    def start_projector(
        self, *, seal: bool = True, batch_size: int = 1000, elect: bool = False
    ) -> Projector | ElectedProjector:
        """The follower (and the sealer, unless ``seal`` is false) in threads of this
        process; with ``elect``, only while this process holds the projector lock."""
        keys = self.keys if seal else None
        witnesses = configured(self.settings)
        cosigners = Cosigners(self.database, witnesses, post) if witnesses and seal else None
        kind = ElectedProjector if elect else Projector
        projector = kind(
            self.database,
            keys,
            batch_size=batch_size,
            origin=self.settings.log_origin,
            cosigners=cosigners,
            sync=self._sync_worker() if self.settings.sync_from else None,
            sinks=SinkSettings(sink_key(self.settings), origin=self.settings.log_origin),
            retention=self._retention_job() if self.settings.retention_every_seconds else None,
        ).start()
        self.projector = projector
        self._closing.callback(projector.stop)
        return projector

    def _sync_worker(self) -> Callable[[], SyncWorker]:
        """The live sync of EXPORT_LEDGER_SYNC_FROM, made anew for each projector."""
        settings = self.settings
        assert settings.sync_from is not None
        source = settings.sync_from
        return lambda: SyncWorker(
            source, settings.sync_table, settings.sync_slot, self.database, lambda: self.ledger
        )

    def _retention_job(self) -> Callable[[], RetentionJob]:
        """The periodic retention run, made anew for each projector."""
        every = self.settings.retention_every_seconds
        return lambda: RetentionJob(
            lambda: self.ledger.retain(StoredRetentionCandidates(self.database)), every
        )

    def open_for_serving(self, *, projector: bool) -> Runtime:
        """Open now what a server uses on every request, so no user's request pays for it."""
        _ = (self.verifier, self.ledger, self.reads)
        if projector:
            self.start_projector(elect=self.settings.projector_election)
        _ = self.watcher
        return self

    def projector_alive(self) -> bool | None:
        """Whether this process's projector runs; None when it runs none (or another
        process holds the projector lock)."""
        projector = self.projector
        if isinstance(projector, ElectedProjector) and not projector.leading():
            return None if projector.alive() else False
        return None if projector is None else projector.alive()

    def projected_by(self) -> str | None:
        """The process (host:pid) that projects, when known: this one, or the holder
        of the projector lock."""
        if isinstance(self.projector, ElectedProjector):
            return self.projector.holder
        return process_name() if self.projector is not None else None

    def close(self) -> None:
        self._closing.close()


def bootstrap(
    settings: Settings | None = None,
    *,
    run_migrations: bool = True,
    group_commit: bool = False,
    metrics: Metrics | None = None,
) -> Runtime:
    """Find the database, migrate it (unless told not to) and hand back the runtime."""
    settings = settings or Settings()
    database = open_database(settings)
    if run_migrations:
        migrate(database.migrate_url)
    return Runtime(settings, database, group_commit=group_commit, metrics=metrics)
