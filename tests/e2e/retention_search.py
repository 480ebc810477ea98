"""Where a value shows: every table of the database, every read route, the console's
pages, the live stream and a webhook sink replayed from the start, and every log line the
test saw (the retention end-to-end test's search).

A place is a name and the text it showed; :meth:`Places.showing` names the places a
value shows in. Tables are read as text, and a ``bytea`` column (the stored events'
state) as its hex too, so a clear copy inside stored bytes is found as well.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql

from tests.e2e.console.test_ui_pages import sign_in
from tests.e2e.helpers import ADMIN, bearer
from tests.e2e.rest_v1.support import TABLE, service_headers
from tests.e2e.stream_reader import Reader
from tests.integration.sink_receiver import Receiver

OPENING_ROUTES = frozenset({
    "history", "feed (personal)", "report", "console export", "stream (personal)", "webhooks",
})  # fmt: skip
"""The routes that open an export's events (not its read rows; the console's export
page shows its history; the sink sends personal fields): what they open of an export
sealed before export keys stays openable until its subject is erased."""
CLIENT_LOGS = frozenset({"httpx", "httpcore"})
"""The test's HTTP client logs its requests, query strings included: not the ledger's."""


@dataclass
class Places:
    texts: dict[str, str] = field(default_factory=dict)

    def showing(self, value: str) -> set[str]:
        hexed = value.encode().hex()
        return {name for name, text in self.texts.items() if value in text or hexed in text}


def every_table(url: str) -> str:
    """Every row of every table of the ledger's schema, as text."""
    names = every_table_named(url)
    with psycopg.connect(url, autocommit=True) as conn:
        texts = [
            str(row[0])
            for name in names
            for row in conn.execute(
                sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(name))
            )
        ]
    return "\n".join(texts)


def every_table_named(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )]  # fmt: skip


def routes(client: TestClient, export_ids: Iterable[str], users: Iterable[str]) -> dict[str, str]:
    """What the read routes answer about these exports and users, as admins and owners."""
    ids, who = list(export_ids), list(users)
    now = datetime.now(UTC).isoformat()

    def text(path: str, headers: dict[str, str] = ADMIN, **params: str) -> str:
        return client.get(path, params=params, headers=headers).text

    return {
        "export": "\n".join(text(f"/api/exports/{i}") for i in ids),
        "export as of now": "\n".join(text(f"/api/exports/{i}", as_of=now) for i in ids),
        "list": "\n".join(
            text("/api/exports", user_id=u, limit="100") + text("/api/exports", bearer(u))
            for u in who
        ),
        "list as of now": "\n".join(
            text("/api/exports", user_id=u, limit="100", as_of=now) for u in who
        ),
        "history": "\n".join(text(f"/api/exports/{i}/history") for i in ids),
        "holds": "\n".join(text(f"/api/exports/{i}/holds") for i in ids),
        "feed": text("/api/events", limit="1000"),
        "feed (personal)": text("/api/events", limit="1000", personal="true"),
        "audit": text("/api/audit/events"),
        "report": "\n".join(text(f"/api/subjects/{u}/report") for u in who),
        "rest": text(TABLE, service_headers(), select="*"),
    }


def console(client: TestClient, export_ids: Iterable[str]) -> dict[str, str]:
    """The console's pages of these exports, as an admin sees them."""
    sign_in(client, "admin-1", admin=True)
    try:
        listed = client.get("/ui/exports").text
        pages = [client.get(f"/ui/exports/{i}").text for i in export_ids]
    finally:
        client.cookies.clear()
    return {"console list": listed, "console export": "\n".join(pages)}


def log_lines(records: Iterable[logging.LogRecord], outputs: Iterable[str]) -> dict[str, str]:
    """Every log record of the ledger's (its message and every attribute, the fields
    included; not the test's own HTTP client's) and the output of every command run."""
    lines = [
        f"{r.getMessage()} {r.__dict__!r}"
        for r in records
        if r.name.split(".")[0] not in CLIENT_LOGS
    ]
    return {"logs": "\n".join([*lines, *outputs])}


def server_log(admin_url: str) -> dict[str, str]:
    """The database server's log, when it is a file on this machine (the embedded test
    server's is ``log`` in its data directory); empty for a server elsewhere."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    path = Path(str(row[0])) / "log" if row else None
    return {"server log": path.read_text(errors="replace") if path and path.is_file() else ""}


def head_of(feed: str) -> int:
    """The position of the last event of a feed page (JSON lines of CloudEvents)."""
    return max(int(json.loads(line)["id"]) for line in feed.splitlines() if line.strip())


def live_stream(base: str, head: int) -> dict[str, str]:
    """The live stream of a served app from the start to ``head``, with personal fields
    opened and without."""
    texts = {}
    for name, personal in (("stream", "false"), ("stream (personal)", "true")):
        url = f"{base}/api/events/stream?after=0&personal={personal}"
        with Reader(url, ADMIN) as reader:
            events = [reader.events.get(timeout=30)]
            while int(events[-1]["id"]) < head:
                events.append(reader.events.get(timeout=30))
        texts[name] = json.dumps(events)
    return texts


def webhooks(client: TestClient, receiver: Receiver, sink: str, head: int) -> dict[str, str]:
    """What a sink sending personal fields delivers when replayed from the start now."""
    with receiver.lock:
        mark = len(receiver.requests)
    replayed = client.post(f"/api/sinks/{sink}/replay", json={"from": 1}, headers=ADMIN)
    assert replayed.status_code == 200, replayed.text
    deadline = time.monotonic() + 60
    while True:
        with receiver.lock:
            sent = [r for r in receiver.requests[mark:] if r.answered == 200]
        if max((i for r in sent for i in r.ids), default=0) >= head:
            break
        assert time.monotonic() < deadline, "the sink's replay did not reach the head"
        time.sleep(0.1)
    assert receiver.bad_signatures == 0
    return {"webhooks": json.dumps([e for r in sent for e in r.events])}
