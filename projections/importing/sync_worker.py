"""The live sync as a worker of the projector (``EXPORT_LEDGER_SYNC_FROM``), so that of
several server processes only the one holding the projector lock follows.

It follows a slot that ``import --follow`` has set up (the initial import is a command
of its own, with its progress on a terminal); the stored position is moved
compare-and-set, so an old leader still finishing a batch records nothing twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.importing.importer import EventTableExports
from projections.importing.live_sync import Follower, reconcile
from projections.importing.logical import LogicalSource, SyncRefused, check_slot_name, default_slot
from projections.importing.sync_position import SyncState

log = logging.getLogger("export_ledger.sync")


class SyncWorker:
    def __init__(
        self,
        source_url: str,
        table: str,
        slot: str | None,
        db: Database,
        ledger: Callable[[], ExportLedger],
    ) -> None:
        self.source_url, self.table, self.db = source_url, table, db
        self.slot = check_slot_name(slot or default_slot(table))
        self._ledger = ledger
        self._stopping = threading.Event()

    def run(self) -> None:
        """Follow until stopped; an error ends it (the projector restarts it)."""
        with (
            LogicalSource(self.source_url, self.table, self.slot) as source,
            SyncState(self.db, self.slot) as state,
        ):
            stored = state.stored()
            if stored is None or stored.phase != "following":
                raise SyncRefused(
                    f"the slot {self.slot} has no initial import yet: run import --follow once"
                )
            info = source.check_can_follow(new_slot=False)
            if not source.check_publication(stored.publication, info):
                raise SyncRefused(f"the publication {stored.publication} was dropped")
            reconcile(source, stored)
            with EventTableExports(self.db) as known:
                follower = Follower(
                    self._ledger(), source, state, known, stored, info.schema, info.name,
                    on_refused=lambda r: log.warning(
                        "live sync refused %s at %s of source row %s (export %s): %s",
                        r.change.kind, r.change.position, r.change.source_id, r.export_id,
                        r.reason,
                    ),
                    on_warning=lambda line: log.warning("live sync: %s", line),
                )  # fmt: skip
                follower.run(self._stopping)

    def stop(self) -> None:
        self._stopping.set()
