"""``demo`` spreads its history over past weeks: events recorded at earlier times, in
order within each export, never in the future; the library's clock is restored after."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import eventsourcing.domain
import psycopg
from typer.testing import CliRunner

from api.cli.demo import seed
from api.cli.main import app
from domain.ledger.application import ExportLedger
from tests.integration.readmodel_helpers import catch_up


def stamps(url: str) -> list[tuple[str, int, datetime]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_id::text, originator_version,"
            " (convert_from(state, 'UTF8')::json -> 'timestamp' ->> '_data_')::timestamptz"
            " FROM exportledger_events ORDER BY originator_id, originator_version"
        ).fetchall()
    return [(str(r[0]), int(r[1]), r[2]) for r in rows]


def test_a_spread_history_is_recorded_in_the_past(ledger: ExportLedger, database_url: str) -> None:
    before = datetime.now(UTC)
    clock = eventsourcing.domain.datetime_now_with_tzinfo
    seed(ledger, 200, rng=random.Random(5), spread=timedelta(weeks=3))
    assert eventsourcing.domain.datetime_now_with_tzinfo is clock
    found = stamps(database_url)
    times = [t for _, _, t in found]
    assert max(times) <= datetime.now(UTC)
    assert min(times) < before - timedelta(weeks=2)
    for (a, _, t1), (b, _, t2) in itertools.pairwise(found):
        assert a != b or t1 <= t2  # an export's events in the order they happened
    catch_up(database_url)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT min(created_at) FROM export_logs").fetchone()
    assert row is not None and row[0] < before - timedelta(weeks=2)


def test_the_demo_command_says_so(database_url: str, tmp_path: Path) -> None:
    env = {"EXPORT_LEDGER_DATABASE_URL": database_url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["demo", "--exports", "20", "--weeks", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert "demo only: events are recorded at times over the last 2 weeks" in result.output
