"""Helpers of the read-model tests (export_logs, its follower and its rebuild).

Expected rows come from three sources, so a test can compare the live table with
one that does not share the code under test:

* :func:`domain_rows`: the aggregates as the domain rebuilds them (``ledger.get``)
  plus the log positions ``ledger.history`` reports; independent of projections/.
* :func:`history_rows`: ``projections.readmodel.fold.apply`` over ``ledger.history``.
* :func:`folded_rows`: ``projections.readmodel.fold`` over the stored events up to a position.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from domain import topics
from domain.exceptions import IdempotencyKeyReused, IllegalTransition
from domain.exports.ids import aggregate_id
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.changes import Change
from projections.readmodel.fold import COLUMNS, apply, fold_by_export
from projections.readmodel.follower import Follower
from projections.readmodel.rebuild import SHADOW_PREFIX
from projections.readmodel.store import stream_events_by_aggregate
from sql.names import LIVE_TABLE

EVENTS_TABLE = "exportledger_events"
SHA = "cd" * 32
Row = dict[str, Any]
T = TypeVar("T")

# -- the CLI as a subprocess ----------------------------------------------------


def cli_executable() -> str:
    """The virtualenv's ``export-ledger`` console script."""
    beside = Path(sys.executable).parent / "export-ledger"
    if beside.exists():
        return str(beside)
    found = shutil.which("export-ledger")
    assert found, "the export-ledger script is not installed"
    return found


def cli_env(url: str, app_name: str = "el-test-cli") -> dict[str, str]:
    """The CLI's environment: the test database, and an application_name (libpq's
    PGAPPNAME) so a test can tell the subprocess's server backends apart."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["EXPORT_LEDGER_DATABASE_URL"] = url
    env["PGAPPNAME"] = app_name
    return env


def run_cli(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cli_executable(), *args],
        env=cli_env(url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(url: str, *args: str, app_name: str, log: Path) -> subprocess.Popen[bytes]:
    """Start a long-running command; its output goes to ``log`` (never a pipe that
    could fill up and stall it)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [cli_executable(), *args],
            env=cli_env(url, app_name),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill_hard(proc: subprocess.Popen[bytes]) -> bool:
    """kill -9 the process (this one only); True if it was still running."""
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return running


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.02) -> T:
    """The first truthy value of ``predicate()``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


def backends_of(url: str, app_name: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            (app_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def wait_backends_gone(url: str, app_name: str, timeout: float = 15) -> None:
    """After a kill -9 the server notices the lost client on its next read: wait for
    that, so its locks (the tracking row, the rebuild's advisory lock) are released."""
    wait_until(lambda: backends_of(url, app_name) == 0, timeout)


# -- reading the read model ----------------------------------------------------


def tracking(url: str, table: str = LIVE_TABLE) -> int | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT position FROM read_model_tracking WHERE table_name = %s", (table,)
        ).fetchone()
    return None if row is None else int(row[0])


def head(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}")
        value = row.fetchone()
    assert value is not None
    return int(value[0])


def catch_up(url: str, batch_size: int = 1000) -> int:
    """Fold every committed event into export_logs, as the follower does; the position."""
    follower = Follower(Database(url), batch_size=batch_size)
    with Database(url).projector() as conn:
        follower.catch_up(conn)
    return follower.position


def live_rows(url: str, table: str = LIVE_TABLE) -> dict[UUID, Row]:
    """Every row of the table, read as the owner (no row-level security)."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
    return {r["id"]: _normalised(r) for r in rows}


def live_state(url: str) -> tuple[int | None, dict[UUID, Row]]:
    """The tracking position and the rows, from one snapshot."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            found = conn.execute(
                "SELECT position FROM read_model_tracking WHERE table_name = %s", (LIVE_TABLE,)
            ).fetchone()
            rows = conn.execute(f"SELECT * FROM {LIVE_TABLE}").fetchall()
    position = None if found is None else int(found["position"])
    return position, {r["id"]: _normalised(r) for r in rows}


def rows_by_export_id(url: str) -> dict[str, Row]:
    return {r["export_id"]: r for r in live_rows(url).values()}


def shadow_tables(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s ORDER BY 1",
            (SHADOW_PREFIX.replace("_", r"\_") + "%",),
        ).fetchall()
        tracked = conn.execute(
            "SELECT table_name FROM read_model_tracking WHERE table_name LIKE %s ORDER BY 1",
            (SHADOW_PREFIX.replace("_", r"\_") + "%",),
        ).fetchall()
    return [r[0] for r in tables] + [f"tracking:{r[0]}" for r in tracked]


def folded_rows(url: str, upto: int) -> dict[UUID, Row]:
    """What ``projections.readmodel.fold`` makes of the stored events up to ``upto``."""
    with psycopg.connect(url) as conn, conn.transaction():
        changes = stream_events_by_aggregate(conn, upto, lambda _: None)
        rows = list(fold_by_export(changes))
    return {r["id"]: _normalised(r) for r in rows}


def history_rows(ledger: ExportLedger, export_ids: Iterable[str]) -> dict[UUID, Row]:
    """``projections.readmodel.fold.apply`` over each export's ``ledger.history``."""
    found: dict[UUID, Row] = {}
    for export_id in export_ids:
        row: Row | None = None
        for entry in ledger.history(export_id):
            assert entry.position is not None
            change = Change(
                entry.position,
                aggregate_id(export_id),
                entry.version,
                entry.type,
                entry.timestamp.isoformat(),
                {k: _stored(v) for k, v in entry.data.items()},
            )
            row = apply(row, change)
        if row is not None:
            found[row["id"]] = _normalised(row)
    return found


def state_row(state: ExportState, position: int | None) -> Row:
    """An export_logs row from a domain state (no projection code)."""
    return {
        "id": aggregate_id(state.export_id),
        "export_id": state.export_id,
        "user_id": state.user_id,
        "timestamp": state.created_at,
        "format": state.format,
        "config": state.config,
        "conversation_count": state.conversation_count,
        "file_size": state.file_size,
        "status": state.status,
        "file_url": state.file_url,
        "expires_at": state.expires_at,
        "error_message": state.error_message,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "version": state.version,
        "position": position,
    }


def domain_rows(ledger: ExportLedger, export_ids: Iterable[str]) -> dict[UUID, Row]:
    """The row each export should have, from the domain alone (no projection code):
    its aggregate's state and the log position of its last event; deleted exports
    have none."""
    found: dict[UUID, Row] = {}
    for export_id in export_ids:
        state = ledger.get(export_id)
        if state.status == "deleted":
            continue
        row = state_row(state, ledger.history(export_id)[-1].position)
        found[row["id"]] = row
    return found


def live_exports_in_events(url: str) -> int:
    """Exports requested and not deleted, counted straight from the stored events."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE topic = %s) - count(*) FILTER (WHERE topic = %s) "
            f"FROM {EVENTS_TABLE}",
            (topics.REQUESTED, topics.export_event("Deleted")),
        ).fetchone()
    assert row is not None
    return int(row[0])


_TIMESTAMPS = ("timestamp", "expires_at", "created_at", "updated_at")


def _normalised(row: Mapping[str, Any]) -> Row:
    """One shape for rows read back (datetimes) and folded ones (ISO text)."""
    out = {c: row[c] for c in COLUMNS}
    for column in _TIMESTAMPS:
        if isinstance(out[column], str):
            out[column] = datetime.fromisoformat(out[column])
    if isinstance(out["id"], str):
        out["id"] = UUID(out["id"])
    return out


def _stored(value: Any) -> Any:
    """A history value as the event store's JSON holds it (what decode() passes on)."""
    if isinstance(value, datetime):
        return {"_type_": "datetime_iso", "_data_": value.isoformat()}
    return value


def diff(actual: Mapping[UUID, Row], expected: Mapping[UUID, Row]) -> list[str]:
    """Readable differences between two sets of rows (empty when equal)."""
    out = [f"missing {expected[k]['export_id']}" for k in expected.keys() - actual.keys()]
    out += [f"extra {actual[k]['export_id']}" for k in actual.keys() - expected.keys()]
    for key in actual.keys() & expected.keys():
        for column in COLUMNS:
            if actual[key][column] != expected[key][column]:
                out.append(
                    f"{actual[key]['export_id']}.{column}: "
                    f"{actual[key][column]!r} != {expected[key][column]!r}"
                )
    return sorted(out)


# -- commands ------------------------------------------------------------------


def random_command(ledger: ExportLedger, rng: random.Random, exports: list[str]) -> None:
    """One random command through the ledger; refused ones record nothing."""
    op = rng.choice(
        ["request", "request", "start", "complete", "fail", "retry", "download", "expire", "delete"]
    )
    if op == "request" or not exports:
        key = rng.choice([None, None, f"k{rng.randrange(5)}"])
        try:
            state = ledger.request_export(
                user_id=rng.choice(["A", "B", "C"]),
                format=rng.choice(["json", "csv"]),
                config={"scope": "all"},
                conversation_count=rng.randrange(1, 4),
                idempotency_key=key,
            )
        except IdempotencyKeyReused:  # the key again, with another body
            return
        if state.export_id not in exports:
            exports.append(state.export_id)
        return
    export_id = rng.choice(exports)
    try:
        apply_command(ledger, op, export_id, rng.randrange(3))
    except IllegalTransition:
        pass


def apply_command(ledger: ExportLedger, op: str, export_id: str, variant: int) -> None:
    now = datetime.now(UTC)
    if op == "start":
        ledger.start_processing(export_id, actor="worker")
    elif op == "complete":
        expires = [None, now + timedelta(days=3), now - timedelta(hours=1)][variant % 3]
        ledger.complete(
            export_id,
            file_size=100 * (variant + 1),
            file_url=f"s3://exports/{export_id}.json",
            expires_at=expires,
            file_sha256=SHA,
            row_count=variant,
            actor="worker",
        )
    elif op == "fail":
        ledger.fail(export_id, error_message=f"boom {variant}", actor="worker")
    elif op == "retry":
        ledger.retry(export_id, actor="user")
    elif op == "download":
        ledger.record_download(export_id, actor="user", file_sha256=SHA)
    elif op == "expire":
        ledger.expire(export_id)
    elif op == "delete":
        ledger.delete(export_id, actor="admin", reason=f"reason {variant}")
    else:
        raise ValueError(op)


def request(ledger: ExportLedger, user_id: str = "A", **kwargs: Any) -> str:
    body: dict[str, Any] = {"format": "json", "config": {}, "conversation_count": 2}
    body.update(kwargs)
    return ledger.request_export(user_id=user_id, **body).export_id


def complete(ledger: ExportLedger, export_id: str, expires_at: datetime | None = None) -> int:
    """Start and complete an export; the Completed event's position."""
    ledger.start_processing(export_id, actor="worker")
    state = ledger.complete(
        export_id,
        file_size=2048,
        file_url=f"s3://exports/{export_id}.json",
        expires_at=expires_at or datetime.now(UTC) + timedelta(days=7),
        file_sha256=SHA,
        row_count=2,
        actor="worker",
    )
    assert state.position is not None
    return state.position


@contextmanager
def fresh_database(admin_url: str, template_db: str) -> Iterator[str]:
    """A migrated database of its own (one per hypothesis example), dropped after."""
    from tests import pg

    name = pg.clone(admin_url, template_db)
    try:
        yield pg.with_database(admin_url, name)
    finally:
        pg.drop(admin_url, name)
