"""Webhook sinks against a local receiver that fails, hangs and goes down: every event
arrives at least once and in order after dedupe, each request signed as the
``standardwebhooks`` library verifies; a sink that keeps failing is marked failing and
resumes; two senders (two projectors) never send one attempt twice; an erased subject's
personal fields are never sent, even to a --personal-data sink."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from domain.exceptions import InvalidSink
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.sinks import store
from projections.sinks.sender import SinkSenders, SinkSettings
from projections.subject_keys import ReadModelSubjects
from sql.names import WRITER_ROLE
from tests.integration.readmodel_helpers import catch_up
from tests.integration.sink_receiver import Receiver, receiving

KEY = os.urandom(32)
FAST = SinkSettings(KEY, batch=5, lease_seconds=5, connect_timeout=0.5, read_timeout=0.5,
                    first_backoff=0.02, max_backoff=0.2, failing_after=4, poll=0.05)  # fmt: skip
CLAIMED = "domain.model:IdempotencyClaim.Claimed"


@pytest.fixture
def writer(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with Database(database_url).connect(WRITER_ROLE, autocommit=True) as conn:
        yield conn


@contextmanager
def sending(url: str, count: int = 1, settings: SinkSettings = FAST) -> Iterator[None]:
    senders = [SinkSenders(Database(url), settings, holder=f"sender-{n}") for n in range(count)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in senders]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for sender in senders:
            sender.stop()
        for thread in threads:
            thread.join(timeout=30)


def work(ledger: ExportLedger, exports: int, user: str = "user-1") -> None:
    for _ in range(exports):
        export_id = ledger.request_export(
            user_id=user, format="csv", config={"q": "x"}, conversation_count=1
        ).export_id
        ledger.start_processing(export_id, actor="worker")
        ledger.fail(export_id, error_message="private failure text", actor="worker")


def positions_after(url: str, after: int) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT notification_id FROM exportledger_events WHERE notification_id > %s"
            " AND topic <> %s ORDER BY notification_id",
            (after, CLAIMED),
        ).fetchall()
    return [int(r[0]) for r in rows]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def add(writer: psycopg.Connection[Any], receiver: Receiver, url: str, **options: Any) -> str:
    sink = store.SinkCreate(options.pop("name", "siem"), url, **options)
    receiver.secret = store.add(writer, sink, KEY, allowed_hosts=())
    return sink.name


def test_every_event_arrives_in_order_through_failures_hangs_and_an_outage(
    ledger: ExportLedger, database_url: str, writer: psycopg.Connection[Any]
) -> None:
    work(ledger, 2)  # before the sink: not sent
    receiver = Receiver(fail_ratio=0.3, hang_ratio=0.1)
    with receiving(receiver) as url:
        add(writer, receiver, url)
        start = store.listed(writer)[0].cursor
        port = int(url.split(":")[2].split("/")[0])
        with sending(database_url):
            work(ledger, 6)
            wait_until(lambda: len(receiver.delivered_ids()) >= 6, "the first events")
    down_at = len(receiver.requests)
    work(ledger, 4)  # while the receiver is down
    time.sleep(0.5)
    with receiving(receiver, port), sending(database_url):
        expected = positions_after(database_url, start)
        wait_until(lambda: receiver.delivered_ids() == expected, "every event", 90)
    assert receiver.bad_signatures == 0 and len(receiver.requests) >= down_at
    assert [r for r in receiver.requests if r.answered != 200], "the receiver failed some"
    [sink] = store.listed(writer)
    assert sink.state == "active" and sink.cursor == expected[-1]
    tries = store.deliveries(writer, "siem", limit=1000)
    assert any(t[5] is None for t in tries) and any(t[5] == 500 for t in tries)


def test_a_sink_that_keeps_failing_is_marked_failing_and_resumes(
    ledger: ExportLedger, database_url: str, writer: psycopg.Connection[Any]
) -> None:
    receiver = Receiver(fail_ratio=1.0)
    with receiving(receiver) as url:
        add(writer, receiver, url)
        with sending(database_url):
            work(ledger, 1)
            wait_until(lambda: store.listed(writer)[0].state == "failing", "failing")
            receiver.fail_ratio = 0.0
            expected = positions_after(database_url, 0)
            wait_until(lambda: receiver.delivered_ids() == expected, "resumed")
            wait_until(lambda: store.listed(writer)[0].state == "active", "active again")
            store.change(writer, "siem", "pause")
            work(ledger, 1)
            time.sleep(0.5)
            assert receiver.delivered_ids() == expected  # paused: nothing sent
            store.change(writer, "siem", "replay", cursor=0)
            store.change(writer, "siem", "resume")
            everything = positions_after(database_url, 0)
            wait_until(lambda: len(receiver.requests) and receiver.requests[-1].ids[-1]
                       == everything[-1], "replayed")  # fmt: skip
    assert receiver.delivered_ids() == everything


def test_two_senders_never_send_one_attempt_twice(
    ledger: ExportLedger, database_url: str, writer: psycopg.Connection[Any]
) -> None:
    receiver = Receiver(fail_ratio=0.2)
    with receiving(receiver) as url:
        add(writer, receiver, url)
        with sending(database_url, count=2):
            work(ledger, 8)
            expected = positions_after(database_url, 0)
            wait_until(lambda: receiver.delivered_ids() == expected, "every event")
    tries = store.deliveries(writer, "siem", limit=1000)
    sent: dict[str, int] = {}
    for request in receiver.requests:
        sent[request.webhook_id] = sent.get(request.webhook_id, 0) + 1
    attempts: dict[str, int] = {}
    for attempt in tries:
        attempts[attempt[0]] = attempts.get(attempt[0], 0) + 1
    assert sent == {k: v for k, v in attempts.items() if k in sent}
    assert all(sent[k] <= attempts[k] for k in sent)


def test_an_erased_subjects_personal_fields_are_never_sent(
    ledger: ExportLedger, database_url: str, writer: psycopg.Connection[Any]
) -> None:
    receiver = Receiver()
    with receiving(receiver) as url:
        add(writer, receiver, url, personal=True)
        work(ledger, 1, user="erased-person-id")
        work(ledger, 1, user="kept-person-id")
        catch_up(database_url)
        ledger.erase_subject("erased-person-id", actor="admin", reason=None,
                             exports=ReadModelSubjects(Database(database_url)))  # fmt: skip
        with sending(database_url):
            expected = positions_after(database_url, 0)
            wait_until(lambda: receiver.delivered_ids() == expected, "every event")
    text = str(receiver.all_events())
    assert "erased-person-id" not in text and "kept-person-id" in text
    assert text.count("private failure text") == 1  # the kept subject's failure only


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/hook", "only to loopback"),
        ("https://siem.example.com/hook", "EXPORT_LEDGER_SINK_HOSTS"),
        ("ftp://127.0.0.1/x", "https://"),
        ("http://user:pw@127.0.0.1/x", "no user name"),
        ("http://127.0.0.1:99999/x", "not a URL"),
    ],
)
def test_targets_outside_the_allow_list_are_refused(
    writer: psycopg.Connection[Any], url: str, message: str
) -> None:
    with pytest.raises(InvalidSink, match=message):
        store.add(writer, store.SinkCreate("bad", url), KEY, allowed_hosts=("other.example",))
    assert store.listed(writer) == []
    allowed = store.add(writer, store.SinkCreate("ok", "https://siem.example.com/h"), KEY,
                        allowed_hosts=("siem.example.com",))  # fmt: skip
    assert allowed.startswith("whsec_")
