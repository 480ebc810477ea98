"""Long ledger checks the console starts (rebuild --check, verify): one at a time, in a
background thread, with progress the ledger page and /metrics show while they run.

Results are kept in this process's memory: the ledger page shows the last one
of each kind since the server started.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from api.wiring.metrics import Metrics
from projections.audit.verify import UNKNOWN, verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.readmodel.retention import retention_summary
from projections.subject_keys import privacy_summary
from sql.names import ADMIN_ROLE

log = logging.getLogger("export_ledger.console")
JOB_NAMES = {"rebuild-check": "rebuild --check", "verify": "verify"}
_IN_PROCESS = 2**62  # verify without worker processes: this is a server's thread


@dataclass
class JobRun:
    name: str
    finished_at: datetime | None = None
    done: int = 0
    total: int | None = None
    ok: bool | None = None
    summary: str = ""
    details: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def label(self) -> str:
        return JOB_NAMES.get(self.name, self.name)


Outcome = tuple[bool, str, list[str]]


class Jobs:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._lock = threading.Lock()
        self.last: dict[str, JobRun] = {}

    def running(self) -> JobRun | None:
        with self._lock:
            return next((run for run in self.last.values() if run.running), None)

    def start(self, name: str, db: Database) -> bool:
        """Start job ``name`` on the database ``db``; False if one is running."""
        work = {"rebuild-check": _rebuild_check, "verify": _verify}[name]
        with self._lock:
            if any(run.running for run in self.last.values()):
                return False
            run = self.last[name] = JobRun(name)
        thread = threading.Thread(
            target=self._run, args=(run, work, db), name=f"console-{name}", daemon=True
        )
        thread.start()
        return True

    def _run(
        self, run: JobRun, work: Callable[[Database, _Tracked], Outcome], db: Database
    ) -> None:
        progress = self.metrics.job(run.name)

        def on_total(total: int) -> None:
            run.total = total
            progress.on_total(total)

        def on_events(n: int) -> None:
            run.done += n
            progress.on_events(n)

        tracked = _Tracked(on_total, on_events)
        try:
            with progress:
                run.ok, run.summary, run.details = work(db, tracked)
        except Exception as error:  # shown on the page; the server keeps running
            log.exception("%s failed", run.label)
            run.ok, run.summary = False, f"{run.label} could not run: {error}"
        run.finished_at = datetime.now(UTC)


@dataclass
class _Tracked:
    on_total: Callable[[int], None]
    on_events: Callable[[int], None]


def _rebuild_check(db: Database, progress: _Tracked) -> Outcome:
    report = rebuild(db, swap=False, on_total=progress.on_total, on_events=progress.on_events)
    diff = report.differences
    summary = (
        f"{report.events:,} events folded into {report.rows:,} rows in {report.seconds:.1f} s, "
        f"position {report.position}: "
    )
    if not diff.drifted:
        return True, summary + "the live table matches the events", []
    details = [diff.problem] if diff.problem else []
    if diff.versions:
        details.append(diff.versions_summary())
    details += [f"{e['export_id']}: {e['kind']}" for e in diff.examples]
    summary += (
        f"the live table differs: {diff.missing} missing, {diff.extra} extra, "
        f"{diff.different} different rows"
    )
    return False, summary, details


def _verify(db: Database, progress: _Tracked) -> Outcome:
    report = verify(
        db, parallel_from=_IN_PROCESS, on_total=progress.on_total, on_events=progress.on_events
    )
    summary = (
        f"{report.events:,} events ({report.sealed:,} sealed), {report.checkpoints:,} "
        f"checkpoints and {report.rows:,} rows checked in {report.seconds:.1f} s: "
    )
    with db.connect(ADMIN_ROLE, autocommit=True) as conn:
        said = [privacy_summary(conn), retention_summary(conn)]
    notes = [note for note in said if note]
    if report.ok:
        return True, summary + "the ledger matches its events, seals and signatures", notes
    details = [
        f"position {'?' if p.position == UNKNOWN else p.position} ({p.kind}): {p.message}"
        for p in report.problems.sorted()
    ]
    return False, summary + f"{report.problems.total} problems", [*notes, *details]
