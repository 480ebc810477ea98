"""/metrics shows each live sync's lag, as its follower stored it."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from tests.e2e.test_operations import sample


def test_metrics_show_a_live_syncs_lag(database_url: str, client: TestClient) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO sync_positions (slot_name, source_table, publication, "
            "created_publication, phase, end_lsn, ordinal, done, committed_at, applied_at, "
            "lag_bytes) VALUES ('s1', 'export_logs', 's1', true, 'following', '0/16', 0, true, "
            "'2026-12-07T01:00:00Z', '2026-12-07T01:00:00.25Z', 4096)"
        )
    text = client.get("/metrics").text
    assert sample(text, "export_ledger_sync_lag_bytes", slot="s1") == 4096
    assert sample(text, "export_ledger_sync_lag_seconds", slot="s1") == 0.25


def test_the_console_shows_a_live_sync(database_url: str, client: TestClient) -> None:
    from tests.e2e.console.test_ui_pages import sign_in

    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO sync_positions (slot_name, source_table, publication, "
            "created_publication, phase, end_lsn, ordinal, done, lag_bytes, wal_status) "
            "VALUES ('s2', 'export_logs', 's2', true, 'following', '0/2A', 0, true, 512, "
            "'reserved')"
        )
    sign_in(client, "admin-1", admin=True)
    page = client.get("/ui/ledger").text
    assert "Live sync" in page and "s2" in page and "0/2A" in page and "reserved" in page
