"""GET /api/events/stream against a real server: it starts at the head, resumes after
Last-Event-ID or ?after=, sends heartbeats, accepts the console's cookie, holds back
unsealed events with sealed=true, and all streams of a process share one LISTEN."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.wiring.auth import SESSION_COOKIE, issue_token
from sql.names import ADMIN_ROLE, LOGINS
from tests.e2e.helpers import ADMIN, SECRET, USER_A, Api, assert_problem, token
from tests.e2e.live import serving
from tests.e2e.stream_reader import Reader

URL = "/api/events/stream"
AUDITOR = {"Authorization": f"Bearer {issue_token(SECRET, 'auditor-1', auditor=True)}"}


@pytest.fixture
def live(make_app: Callable[..., FastAPI]) -> Iterator[tuple[str, Api]]:
    """A served app (heartbeats every 0.2 s) and a client of the same app for commands."""
    app = make_app(events_heartbeat_seconds=0.2)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield base, Api(client)  # type: ignore[arg-type]  # httpx's client, as TestClient's


def test_a_stream_starts_at_the_head_and_follows_new_events(live: tuple[str, Api]) -> None:
    base, api = live
    before = api.create(USER_A)
    with Reader(base + URL, AUDITOR) as reader:
        created = api.create(USER_A)
        api.advance(created["export_id"], "processing")
        first, second = reader.take(2)
        assert reader.comments[0] == "export-ledger events"
        deadline = time.monotonic() + 30  # heartbeats come every 0.2 s
        while not any(c.startswith("ping") for c in reader.comments):
            assert time.monotonic() < deadline, reader.comments
            time.sleep(0.05)
    assert first["type"] == "export.requested" and first["subject"] == created["export_id"]
    assert int(first["id"]) == created["_position"] > before["_position"]
    assert second["type"] == "export.processing_started"


def test_last_event_id_and_after_resume_where_they_say(live: tuple[str, Api]) -> None:
    base, api = live
    made = [api.create(USER_A) for _ in range(3)]
    with Reader(base + URL, {**ADMIN, "Last-Event-ID": "0"}) as reader:
        replayed = reader.take(3)
    assert [int(e["id"]) for e in replayed] == [m["_position"] for m in made]
    after = made[0]["_position"]
    with Reader(f"{base}{URL}?after={after}&type=export.requested", ADMIN) as reader:
        resumed = reader.take(2)
    assert [e["subject"] for e in resumed] == [m["export_id"] for m in made[1:]]


def test_the_console_cookie_authenticates_a_browser(live: tuple[str, Api]) -> None:
    base, api = live
    cookies = {SESSION_COOKIE: token("admin-2", admin=True)}
    with Reader(base + URL + "?after=0", {}, cookies=cookies) as reader:
        created = api.create(USER_A)
        assert reader.take(1)[0]["subject"] == created["export_id"]


def test_sealed_streams_send_an_event_once_its_checkpoint_exists(live: tuple[str, Api]) -> None:
    base, api = live
    with Reader(f"{base}{URL}?sealed=true", AUDITOR) as reader:
        created = api.create(USER_A)
        event = reader.take(1)[0]
    assert event["subject"] == created["export_id"]
    assert event["leafindex"] < event["checkpointsize"]


def test_streams_of_a_process_share_one_listen(live: tuple[str, Api], database_url: str) -> None:
    base, api = live
    with Reader(base + URL, ADMIN) as one, Reader(base + URL, AUDITOR) as two:
        with Reader(base + URL + "?type=export.requested", ADMIN) as three:
            created = api.create(USER_A)
            for reader in (one, two, three):
                assert reader.take(1)[0]["subject"] == created["export_id"]
            assert listeners(database_url) == 1


def listeners(url: str) -> int:
    """The stream's LISTEN connections (as the admin login, idle after LISTEN)."""
    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE usename = %s AND query LIKE 'LISTEN%%'",
                (LOGINS[ADMIN_ROLE],),
            ).fetchone()
            assert row is not None
            if row[0] or time.monotonic() > deadline:
                return int(row[0])
            time.sleep(0.1)


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, "", 401),
        (USER_A, "", 403),
        (AUDITOR, "?personal=true", 403),
        ({**ADMIN, "Last-Event-ID": "soon"}, "", 422),
        ({**ADMIN, "Last-Event-ID": "99999999"}, "", 422),
        (ADMIN, "?after=99999999", 422),
        (ADMIN, "?type=export.claimed", 422),
        (ADMIN, "?colour=red", 422),
    ],
)
def test_refusals_are_problems_before_the_stream_opens(
    client: TestClient, headers: dict[str, str], query: str, status: int
) -> None:
    assert_problem(client.get(URL + query, headers=headers), status)
