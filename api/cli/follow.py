"""``export-ledger import --follow`` and ``import --drop-slot``: live sync of a source table.

The follow makes its slot with an exported snapshot, imports the table's rows in that
snapshot (the usual import, ``--jobs`` processes sharing it), fills the map of source
ids from the same snapshot, and then records every committed change until SIGTERM or
SIGINT (the batch in hand is finished first). A restart goes on from the stored
position; a crash during the initial import makes a new slot and imports again.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import psycopg

from api.cli.output import err, errors, fail, opened, out
from api.wiring.bootstrap import Runtime
from domain.exceptions import ExportLedgerError
from domain.sync.rows import SourceRow
from domain.sync.source_changes import Refusal
from projections.importing.importer import EventTableExports, ImportReport
from projections.importing.live_sync import Follower, FollowProgress, reconcile
from projections.importing.logical import (
    LogicalSource,
    SyncRefused,
    TableInfo,
    check_slot_name,
    create_slot,
    default_slot,
)
from projections.importing.source_table import SourceTable
from projections.importing.sync_position import Stored, SyncState

Refuse = Callable[[SourceRow, str], None]
ImportRows = Callable[..., ImportReport]
Refusals = Callable[[Path | None], AbstractContextManager[Refuse]]
PROGRESS_SECONDS = 5.0


@dataclass(frozen=True)
class FollowOptions:
    source: str
    table: str
    slot: str | None
    publication: str | None
    jobs: int | None
    batch_size: int
    report: Path | None
    until_idle: bool = False


def follow_source(options: FollowOptions, import_rows: ImportRows, refusals: Refusals) -> None:
    """The initial import if the slot has none yet, then the follow, until stopped."""
    with errors():
        slot = check_slot_name(options.slot or default_slot(options.table))
    with _stop_signals() as stopping, errors(), opened() as rt:
        with (
            LogicalSource(options.source, options.table, slot) as source,
            SyncState(rt.database, slot) as state,
        ):
            stored = state.stored()
            if stored is None or stored.phase == "importing":
                stored, info = _initial_import(options, rt, source, state, import_rows, refusals)
            else:
                info = source.check_can_follow(new_slot=False)
                if not source.check_publication(stored.publication, info):
                    raise SyncRefused(
                        f"the publication {stored.publication} was dropped: the slot cannot go "
                        "on; run import --drop-slot, then import --follow to import again"
                    )
                reconcile(source, stored)
            _follow(options, rt, source, state, stored, info, stopping)


def drop_sync_slot(source_url: str, table: str, slot_name: str | None) -> None:
    """Drop the slot, the publication the follow created, and the ledger's sync state."""
    with errors():
        slot = check_slot_name(slot_name or default_slot(table))
    with errors(), opened() as rt:
        with (
            LogicalSource(source_url, table, slot) as source,
            SyncState(rt.database, slot) as state,
        ):
            stored = state.stored()
            source.drop_slot()
            if stored is not None and stored.created_publication:
                source.drop_publication(stored.publication)
            state.forget()
    out.print(f"dropped the slot {slot} and its sync state", highlight=False, soft_wrap=True)


def _initial_import(
    options: FollowOptions,
    rt: Runtime,
    source: LogicalSource,
    state: SyncState,
    import_rows: ImportRows,
    refusals: Refusals,
) -> tuple[Stored, TableInfo]:
    info = source.check_can_follow(new_slot=True)
    with SourceTable(options.source, options.table):
        pass  # the seed's columns, checked before a slot starts keeping WAL
    earlier = state.stored()
    publication = options.publication or source.slot
    exists = source.check_publication(publication, info)
    if options.publication is not None and not exists:
        raise SyncRefused(f"the source has no publication {publication}")
    created = not exists or (earlier is not None and earlier.created_publication)
    if not exists:
        source.create_publication(publication, info)
    if earlier is None and source.slot_state() is not None:
        raise SyncRefused(
            f"the source already has a slot {source.slot} that this ledger did not make: "
            "give another --slot, or drop that slot on the source"
        )
    state.begin_import(options.table, publication, created, 0)  # the slot is ours from now
    source.drop_slot()  # a slot left by an import that did not finish
    slot = create_slot(options.source, source.slot)
    try:
        state.begin_import(options.table, publication, created, slot.consistent_point)
        with (
            SourceTable(options.source, options.table, snapshot=slot.snapshot) as rows,
            refusals(options.report) as refuse,
        ):
            result = import_rows(
                rt, rows, options.jobs, options.batch_size, refuse, shared_snapshot_required=True
            )
            state.map_source_ids(source.source_ids(rows.conn))
    except BaseException:
        slot.close()
        _undo_slot(source, state, publication if not exists else None)
        raise
    slot.close()
    state.start_following()
    counts = ", ".join(f"{n:,} {outcome}" for outcome, n in sorted(result.counts.items()))
    err.print(
        f"imported {result.rows:,} rows of {options.table} in the slot's snapshot ({counts})",
        highlight=False,
        soft_wrap=True,
    )
    stored = state.stored()
    assert stored is not None
    return stored, info


def _undo_slot(source: LogicalSource, state: SyncState, publication: str | None) -> None:
    """An initial import that failed or was stopped leaves no slot keeping WAL (a kill -9
    does: the next run makes the slot again)."""
    with contextlib.suppress(ExportLedgerError, psycopg.Error):
        source.drop_slot()
        if publication is not None:
            source.drop_publication(publication)
        state.forget()


def _follow(
    options: FollowOptions,
    rt: Runtime,
    source: LogicalSource,
    state: SyncState,
    stored: Stored,
    info: TableInfo,
    stopping: threading.Event,
) -> None:
    err.print(
        f"following {options.table} from slot {source.slot} (SIGTERM stops)",
        highlight=False,
        soft_wrap=True,
    )
    with EventTableExports(rt.database) as known, _change_report(options.report) as refused:
        follower = Follower(
            rt.ledger, source, state, known, stored, info.schema, info.name,
            batch_size=options.batch_size, on_refused=refused, on_progress=_progress_printer(),
            on_warning=lambda line: err.print(f"warning: {line}", highlight=False),
        )  # fmt: skip
        follower.run(stopping, until_idle=options.until_idle)
    done = follower.progress
    out.print(
        f"stopped: {done.changes:,} changes recorded, {done.refused:,} refused",
        highlight=False,
        soft_wrap=True,
    )


def _progress_printer() -> Callable[[FollowProgress], None]:
    last = [time.monotonic(), 0]

    def show(progress: FollowProgress) -> None:
        now = time.monotonic()
        if now - float(last[0]) < PROGRESS_SECONDS:
            return
        rate = (progress.changes - int(last[1])) / (now - float(last[0]))
        last[0], last[1] = now, progress.changes
        err.print(
            f"followed {progress.changes:,} changes ({rate:,.0f}/s), {progress.refused:,} "
            f"refused, {progress.lag_bytes:,} bytes behind",
            highlight=False,
            soft_wrap=True,
        )

    return show


@contextmanager
def _change_report(report: Path | None) -> Iterator[Callable[[Refusal], None]]:
    """Refused changes: one JSON line each appended to ``report``, else a line on stderr."""
    file: IO[str] | None = None
    if report is not None:
        try:
            file = report.open("a", encoding="utf-8")
        except OSError as error:
            fail(f"cannot write the report {report}: {error.strerror}")

    def refused(refusal: Refusal) -> None:
        change = refusal.change
        if file is None:
            err.print(
                f"refused {change.kind} at {change.position} of source row {change.source_id} "
                f"(export {refusal.export_id}): {refusal.reason}",
                highlight=False,
                soft_wrap=True,
            )
            return
        line = {
            "position": str(change.position), "kind": change.kind, "id": change.source_id,
            "export_id": refusal.export_id, "reason": refusal.reason,
        }  # fmt: skip
        file.write(json.dumps(line, ensure_ascii=False) + "\n")
        file.flush()

    try:
        yield refused
    finally:
        if file is not None:
            file.close()


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """SIGTERM and SIGINT set the event (the follow finishes its batch and stops)."""
    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    if threading.current_thread() is not threading.main_thread():
        yield stopping  # signals reach only the main thread (tests run commands in threads)
        return
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
