"""The ``eventsourcing`` library's own way to keep export_logs: a ProjectionRunner.

A ``PostgresTrackingRecorder`` subclass upserts the export's row and records
the tracking position in one transaction per event, as the library's
projection examples do. The row change itself is the project's fold, so only
the machinery differs from the rebuild.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner

from api.wiring.database import ledger_env
from domain.ledger.application import ExportLedger
from projections.readmodel.changes import Change
from projections.readmodel.store import write_changes
from sql.names import LIVE_TABLE

_META = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp"})


class ExportLogsView(PostgresTrackingRecorder):
    def project(self, change: Change | None, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            if change is not None:
                write_changes(curs.connection, LIVE_TABLE, [change])
            self._insert_tracking(curs, tracking)


class LibraryExportLogs(Projection[ExportLogsView]):
    name = "library_export_logs"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.project(_change(domain_event, tracking), tracking)


def _change(event: DomainEventProtocol[Any], tracking: Tracking) -> Change | None:
    """The event as the fold expects it (datetimes as the JSON transcoder stores them)."""
    kind = type(event).__qualname__
    if not kind.startswith("ExportLog."):
        return None
    data = {
        key: {"_type_": "datetime_iso", "_data_": value.isoformat()}
        if isinstance(value, datetime)
        else value
        for key, value in vars(event).items()
        if key not in _META
    }
    return Change(
        tracking.notification_id,
        event.originator_id,
        event.originator_version,
        kind.removeprefix("ExportLog."),
        vars(event)["timestamp"].isoformat(),
        data,
    )


def time_to_project(url: str, head: int, timeout: float = 600.0) -> float:
    """Seconds from starting a ProjectionRunner until it has tracked position ``head``."""
    env = ledger_env(url, role=None, pool_size=2) | {"LIBRARY_EXPORT_LOGS_CREATE_TABLE": "y"}
    started = time.perf_counter()
    with ProjectionRunner(
        application_class=ExportLedger,
        projection_class=LibraryExportLogs,
        view_class=ExportLogsView,
        env=env,
    ) as runner:
        while (runner.view.max_tracking_id(runner.app_name) or 0) < head:
            runner.run_forever(timeout=0.01)  # re-raises the runner's errors
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"the ProjectionRunner did not reach {head} in {timeout} s")
        return time.perf_counter() - started
