"""Erasure while 16 writers keep recording exports for the same subject, in another
ledger (another process's key cache) and with the follower running: once the erasure
returns and the projection has folded it, no read table holds a clear copy of the
subject's data, verify's row pass and ``rebuild --check`` agree, and every export the
writers got recorded is named by the Erased event."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg

from domain.exceptions import ExportLedgerError
from domain.ledger.application import ExportLedger
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.follower import Follower
from projections.readmodel.rebuild import rebuild
from projections.subject_keys import ReadModelSubjects
from tests.integration.readmodel_helpers import catch_up, wait_until

WRITERS = 16
SECRET = "victim-private-note"


def _writer(ledger: ExportLedger, made: list[str], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            state = ledger.request_export(
                user_id="victim", format="csv", config={"note": SECRET}, conversation_count=1
            )
        except ExportLedgerError:  # erased: nothing may be sealed for them any more
            return
        made.append(state.export_id)


def test_no_clear_row_is_left_by_writers_racing_the_erasure(
    ledger: ExportLedger, database_url: str, open_ledgers: Callable[..., ExportLedger]
) -> None:
    db = Database(database_url)
    writers_ledger = open_ledgers(pool_size=WRITERS)
    first = writers_ledger.request_export(
        user_id="victim", format="csv", config={"note": SECRET}, conversation_count=1
    ).export_id
    follower = Follower(db, batch_size=5)
    following = threading.Thread(target=follower.run, daemon=True)
    following.start()
    made: list[list[str]] = [[] for _ in range(WRITERS)]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(writers_ledger, made[n], stop), daemon=True)
        for n in range(WRITERS)
    ]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: sum(map(len, made)) >= 2 * WRITERS, 30)
        catch_up(database_url)
        erasure = ledger.erase_subject(
            "victim", actor="dpo", reason=None, exports=ReadModelSubjects(db)
        )
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop.set()
        follower.stop()
        following.join(timeout=30)
    catch_up(database_url)

    recorded = {first, *(e for part in made for e in part)}
    assert recorded <= set(erasure.export_ids)
    with psycopg.connect(database_url) as conn:
        dump = conn.execute(
            "SELECT string_agg(t::text, E'\\n') FROM ("
            "SELECT row_to_json(l)::text AS t FROM export_logs l UNION ALL "
            "SELECT row_to_json(v)::text FROM export_log_versions v) AS rows"
        ).fetchone()
    text = dump[0] if dump and dump[0] else ""
    assert SECRET not in text and '"victim"' not in text
    assert not rebuild(db, swap=False, history=True).differences.drifted
    report = verify(db)
    assert report.ok, report.problems.sorted()
