"""Property: random lifecycles of several users' exports, legal holds, and erasures
at random points. Afterwards every leaf, root and checkpoint verifies, a rebuild makes
the live tables, and no personal value of an erased subject is anywhere: the events,
the read tables, the history, the audit export, the subject report, the logs."""

from __future__ import annotations

import base64
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.wiring.database import open_ledger
from api.wiring.signing import generate
from domain.exceptions import ExportLedgerError
from domain.ledger.application import ExportLedger
from projections.audit import export as audit
from projections.audit.subject_report import report_batches
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.subject_keys import ReadModelSubjects
from sql.names import ADMIN_ROLE, EVENTS_TABLE
from tests import pg
from tests.integration.readmodel_helpers import catch_up
from tests.integration.tlog.test_seal import seal_all

USERS = 3
Step = tuple[str, int, int]  # (action, user, export choice)
ACTIONS = ("request", "start", "complete", "fail", "retry", "download", "delete", "hold",
           "release", "expire", "erase")  # fmt: skip


def personal(user: int) -> dict[str, str]:
    """The personal values of one user: none may survive their erasure."""
    name = f"subject{user}x"
    return {
        "user_id": name,
        "note": f"{name}-note",
        "file_url": f"s3://exports/{name}-file.csv",
        "error": f"{name}-quota",
        "reason": f"{name}-asked",
    }


def run(ledger: ExportLedger, url: str, steps: list[Step]) -> set[int]:
    exports: dict[int, list[str]] = {u: [] for u in range(USERS)}
    holds: dict[str, str] = {}
    erased: set[int] = set()
    for action, user, pick in steps:
        values = personal(user)
        chosen = exports[user][pick % len(exports[user])] if exports[user] else None
        with contextlib.suppress(ExportLedgerError):
            if action == "request" or chosen is None:
                state = ledger.request_export(
                    user_id=values["user_id"], format="csv", config={"note": values["note"]},
                    conversation_count=1,
                )  # fmt: skip
                exports[user].append(state.export_id)
            elif action == "start":
                ledger.start_processing(chosen, actor="worker")
            elif action == "complete":
                ledger.complete(
                    chosen, file_size=1, file_url=values["file_url"],
                    expires_at=datetime.now(UTC) - timedelta(seconds=1),
                )  # fmt: skip
            elif action == "fail":
                ledger.fail(chosen, error_message=values["error"], actor="worker")
            elif action == "retry":
                ledger.retry(chosen, actor=values["user_id"])
            elif action == "download":
                ledger.record_download(chosen, actor=values["user_id"])
            elif action == "delete":
                ledger.delete(chosen, actor="admin", reason=values["reason"])
            elif action == "hold":
                holds[chosen], _ = ledger.place_hold(chosen, matter="M", actor="legal")
            elif action == "release" and chosen in holds:
                ledger.release_hold(chosen, holds.pop(chosen), actor="legal")
            elif action == "expire":
                ledger.expire(chosen)
            elif action == "erase":
                catch_up(url)
                ledger.erase_subject(
                    values["user_id"],
                    actor="dpo",
                    reason=None,
                    exports=ReadModelSubjects(Database(url)),
                )
                erased.add(user)
    return erased


def everything(ledger: ExportLedger, url: str) -> str:
    """Every place a personal value could be, as text."""
    parts: list[str] = []
    with psycopg.connect(url) as conn:
        for table in (EVENTS_TABLE, "export_logs", "export_log_versions", "export_holds"):
            rows = conn.execute(f"SELECT row_to_json(t)::text FROM {table} t").fetchall()
            parts.extend(r[0] for r in rows)
        states = conn.execute(f"SELECT state, originator_id FROM {EVENTS_TABLE}").fetchall()
        ids = {r[1] for r in states}
    parts.extend(bytes(r[0]).decode() for r in states)
    for originator in ids:
        for export_id in _export_ids(ledger, originator):
            parts.append(orjson.dumps(ledger.history(export_id), default=str).decode())
    with psycopg.connect(url, options=f"-c role={ADMIN_ROLE}") as conn, conn.transaction():
        for batch in audit.stream(conn, audit.AuditFilters()):
            parts.append(audit.jsonl(batch).decode())
            parts.extend(base64.b64decode(r["state"]).decode() for r in batch)
        for user in range(USERS):
            for batch in report_batches(conn, personal(user)["user_id"]):
                parts.append(audit.jsonl(batch).decode())
    return "\n".join(parts)


def _export_ids(ledger: ExportLedger, originator: Any) -> list[str]:
    events = list(ledger.events.get(originator, lte=1))
    first = vars(events[0]) if events else {}
    return [first["export_id"]] if "format" in first else []


steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, USERS - 1), st.integers(0, 3)),
    min_size=5,
    max_size=30,
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps)
def test_erasure_keeps_every_proof_and_leaves_no_plaintext(
    plan: list[Step], admin_url: str, template_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = pg.clone(admin_url, template_db)
    url = pg.with_database(admin_url, name)
    ledger = open_ledger(Database(url))
    try:
        with caplog.at_level(logging.DEBUG):
            erased = run(ledger, url, plan)
            catch_up(url)
            seal_all(url, generate(), batch=7)
            report = verify(Database(url))
            assert report.ok, report.problems.sorted()
            assert not rebuild(Database(url), swap=False, history=True).differences.drifted
            found = everything(ledger, url)
        for user in erased:
            for value in personal(user).values():
                assert value not in found, (user, value)
                assert value not in caplog.text, (user, value)
        stored = _raw_events(url)
        for user in range(USERS):  # nobody's personal values are stored in the clear
            assert personal(user)["user_id"] not in stored
    finally:
        ledger.close()
        pg.drop(admin_url, name)


def _raw_events(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT state FROM {EVENTS_TABLE}").fetchall()
    return "\n".join(bytes(r[0]).decode() for r in rows)
