"""Following the log batch by batch and rebuilding it in one go give the same
export_logs, whatever the lifecycles, batch sizes and interleavings.

Each hypothesis example runs random commands against a fresh database (cloned
from the migrated template): mostly moves the lifecycle allows from each
export's current status (so the examples reach deep lifecycles), sometimes a
refused one, idempotent requests whose keys repeat, and deletes. It folds
some events while commands are still being written, catches up with a batch
size of its own, and then checks the live table three ways:
``rebuild(url, swap=False)`` finds nothing to report, and the rows equal both
what the domain says (``ledger.get``, no projection code) and
``projections.readmodel.fold.apply`` over ``ledger.history``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.wiring.database import open_ledger
from domain.exceptions import IdempotencyKeyReused, IllegalTransition
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.follower import Follower
from projections.readmodel.rebuild import rebuild
from projections.readmodel.store import project_batch
from tests.integration.readmodel_helpers import (
    apply_command,
    diff,
    domain_rows,
    fresh_database,
    head,
    history_rows,
    live_rows,
    tracking,
)

# What the lifecycle allows from each status (domain/exports/model.py); "download" of a
# completed export whose file has expired is refused, and that is fine too.
LEGAL = {
    "queued": ["start", "start", "delete"],
    "processing": ["complete", "complete", "fail", "delete"],
    "completed": ["download", "expire", "delete"],
    "failed": ["retry", "retry", "delete"],
    "expired": ["delete"],
    "deleted": [],
}
COMMANDS = ("start", "complete", "fail", "retry", "download", "expire", "delete")


@pytest.mark.slow
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    steps=st.integers(1, 40),
    batch_size=st.sampled_from([1, 3, 1000]),
)
def test_following_and_rebuilding_give_the_same_table(
    admin_url: str, template_db: str, data: st.DataObject, steps: int, batch_size: int
) -> None:
    with fresh_database(admin_url, template_db) as url:
        ledger = open_ledger(Database(url))
        try:
            exports = run_steps(ledger, url, data, steps)
            follower = Follower(Database(url), batch_size=batch_size)
            with Database(url).projector() as conn:
                follower.catch_up(conn)

            log_head = head(url)
            assert follower.position == log_head
            assert tracking(url) == log_head
            followed = live_rows(url)

            expected = domain_rows(ledger, exports)
            assert diff(followed, expected) == []
            assert diff(followed, history_rows(ledger, exports)) == []

            report = rebuild(Database(url), swap=False)
            assert report.differences.total == 0, report.differences.examples
            assert report.position == log_head
            assert report.rows == len(expected)
            # The check neither moved the tracking position nor touched a row.
            assert tracking(url) == log_head
            assert live_rows(url) == followed
        finally:
            ledger.close()


def run_steps(ledger: ExportLedger, url: str, data: st.DataObject, steps: int) -> list[str]:
    exports: list[str] = []
    status: dict[str, str] = {}
    for _ in range(steps):
        kind = data.draw(st.sampled_from(["request", "command", "command", "command", "fold"]))
        if kind == "request" or (kind == "command" and not exports):
            user = data.draw(st.sampled_from(["A", "B"]))
            key = data.draw(st.sampled_from([None, None, "k1", "k2"]))
            count = data.draw(st.integers(1, 2))  # a repeated key with another body is refused
            try:
                state = ledger.request_export(
                    user_id=user,
                    format="csv",
                    config={"scope": "all"},
                    conversation_count=count,
                    idempotency_key=key,
                )
            except IdempotencyKeyReused:
                continue
            if state.export_id not in exports:
                exports.append(state.export_id)
                status[state.export_id] = state.status
        elif kind == "fold":
            limit = data.draw(st.integers(1, 4))
            with Database(url).projector() as conn:
                project_batch(conn, limit=limit)
        else:
            export_id = data.draw(st.sampled_from(exports))
            legal = LEGAL[status[export_id]]
            refused = not legal or data.draw(st.integers(0, 9)) == 0
            op = data.draw(st.sampled_from(COMMANDS if refused else legal))
            variant = data.draw(st.integers(0, 2))
            try:
                apply_command(ledger, op, export_id, variant)
            except IllegalTransition:
                pass
            status[export_id] = ledger.get(export_id).status
    return exports
