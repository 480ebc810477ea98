"""Legal holds from the command line, on a real database: hold place/list/release,
the expiry job's count of held exports, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta

from domain.exceptions import ConcurrentModification, ExportOnHold
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.due import ReadModelDueExports
from tests.integration.readmodel_helpers import catch_up, run_cli

PAST = datetime.now(UTC) - timedelta(hours=1)


def _completed(ledger: ExportLedger) -> str:
    export_id = ledger.request_export(
        user_id="u1", format="json", config={}, conversation_count=1
    ).export_id
    ledger.start_processing(export_id)
    ledger.complete(export_id, file_size=1, file_url="s3://x/f.json", expires_at=PAST)
    return export_id


def test_hold_commands_and_the_expiry_job(ledger: ExportLedger, database_url: str) -> None:
    export_id = _completed(ledger)
    placed = run_cli(database_url, "hold", "place", export_id, "--matter", "M-7", "--by", "ops")
    assert placed.returncode == 0, placed.stderr
    found = re.search(r"hold_[0-9A-Z]{26}", placed.stdout)
    assert found, placed.stdout
    hold_id = found.group(0)
    listed = run_cli(database_url, "hold", "list", export_id, "--json")
    assert json.loads(listed.stdout)[0]["hold_id"] == hold_id

    catch_up(database_url)
    job = run_cli(database_url, "expire")
    assert job.returncode == 0, job.stderr
    assert "expired 0 exports; 1 due exports skipped, under legal hold" in job.stdout

    released = run_cli(database_url, "hold", "release", export_id, hold_id)
    assert released.returncode == 0, released.stderr
    again = run_cli(database_url, "hold", "release", export_id, hold_id)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert hold_id in again.stderr
    catch_up(database_url)
    assert "expired 1 exports" in run_cli(database_url, "expire").stdout


def _race(ledger: ExportLedger, export_id: str, hold_id: str) -> list[str]:
    outcomes: list[str] = []

    def release() -> None:
        try:
            ledger.release_hold(export_id, hold_id, actor="admin")
            outcomes.append("released")
        except ConcurrentModification:
            outcomes.append("release lost")

    def expire() -> None:
        try:
            ledger.expire(export_id)
            outcomes.append("expired")
        except (ExportOnHold, ConcurrentModification):
            outcomes.append("expire refused")

    threads = [threading.Thread(target=release), threading.Thread(target=expire)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_release_and_expire(ledger: ExportLedger, database_url: str) -> None:
    """Release and expire racing: whichever wins, the export never expires while
    held, and ends either expired (after its release) or completed."""
    for _ in range(5):
        export_id = _completed(ledger)
        hold_id, _ = ledger.place_hold(export_id, matter="M", actor="admin")
        outcomes = _race(ledger, export_id, hold_id)
        state = ledger.get(export_id)
        assert state.status == ("expired" if "expired" in outcomes else "completed")
        events = [e.type for e in ledger.history(export_id)]
        if "Expired" in events:
            assert events.index("HoldReleased") < events.index("Expired")
    catch_up(database_url)
    ledger.expire_due_run(ReadModelDueExports(Database(database_url)))
