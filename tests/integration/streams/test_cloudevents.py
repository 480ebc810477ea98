"""Stored events rendered as CloudEvents: every one parses with the ``cloudevents``
library's 2.x JSON format as a valid 1.0 event; its leaf hash is the sealer's; the
personal fields are named, never valued, unless opened, and an erased subject's stay
withheld even then; pages follow one another without a gap or a repeat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from psycopg.types.json import Jsonb

from api.wiring.signing import Ed25519Signer
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.streams import feed
from projections.streams.cloudevents import EVENT_TYPES
from projections.subject_keys import ReadModelSubjects
from projections.tlog.sealer import row_leaf_hash
from sql.names import ADMIN_ROLE, EVENTS_TABLE
from tests.integration.ledger.test_stored_events_v1 import FIXTURE
from tests.integration.readmodel_helpers import catch_up
from tests.integration.tlog.test_seal import seal_all, stored_events

ALICE, BOB = "alice-7f3c-user", "bob-91d2-user"
SECRET_URL = "s3://exports/private-file-of-bob.csv"


def life(ledger: ExportLedger, user: str) -> str:
    export_id = ledger.request_export(
        user_id=user, format="csv", config={"filters": {"name": f"{user}-filter"}},
        conversation_count=3,
    ).export_id  # fmt: skip
    ledger.start_processing(export_id, actor="worker")
    ledger.fail(export_id, error_message=f"{user}: quota", actor="worker")
    ledger.retry(export_id, actor=user)
    ledger.start_processing(export_id, actor="worker")
    expires = datetime.now(UTC) + timedelta(days=1)
    ledger.complete(export_id, file_size=10, file_url=SECRET_URL, expires_at=expires)
    ledger.record_download(export_id, actor=user)
    hold_id, _ = ledger.place_hold(export_id, actor="admin-1", matter="case 7")
    ledger.release_hold(export_id, hold_id, actor="admin-1")
    return export_id


@pytest.fixture
def history(ledger: ExportLedger, database_url: str, signer: Ed25519Signer) -> dict[str, str]:
    found = {"alice": life(ledger, ALICE), "bob": life(ledger, BOB)}
    ledger.request_export(user_id=ALICE, format="json", config={}, conversation_count=1,
                          idempotency_key="k-1")  # fmt: skip
    catch_up(database_url)
    subjects = ReadModelSubjects(Database(database_url))
    ledger.erase_subject(BOB, actor="admin-1", reason="asked", exports=subjects)
    seal_all(database_url, signer, batch=7)
    ledger.record_download(found["alice"], actor=ALICE)  # stored after the last checkpoint
    return found


@pytest.fixture
def admin(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, options=f"-c role={ADMIN_ROLE}") as conn:
        yield conn


def read_all(conn: psycopg.Connection[Any], query: feed.FeedQuery, personal: bool = False
             ) -> list[dict[str, Any]]:  # fmt: skip
    """Every page from ``query.after`` on, following the next cursors."""
    how = feed.rendering(conn, None, personal)
    found: list[dict[str, Any]] = []
    while True:
        limits = feed.bounds(conn)
        page = feed.page(conn, query, limits, how)
        found.extend(page.events)
        if page.next_after == query.after:
            return found
        query = feed.FeedQuery(page.next_after, query.limit, query.types, query.user_id,
                               query.sealed)  # fmt: skip


def parsed(event: dict[str, Any]) -> CloudEvent:
    made = JSONFormat().read(None, orjson.dumps(event))
    assert isinstance(made, CloudEvent)
    return made


def test_every_stored_event_but_claims_is_a_valid_cloudevent(
    admin: psycopg.Connection[Any], database_url: str, history: dict[str, str]
) -> None:
    events = read_all(admin, feed.FeedQuery(limit=1000))
    rows = [r for r in stored_events(database_url) if "IdempotencyClaim" not in r[3]]
    assert [int(e["id"]) for e in events] == [r[0] for r in rows]
    for event, row in zip(events, rows, strict=True):
        cloud = parsed(event)
        assert cloud.get_specversion() == "1.0" and cloud.get_type() in EVENT_TYPES
        assert cloud.get_time() is not None and cloud.get_time().tzinfo is not None
        assert cloud.get_source() == events[0]["source"]
        assert cloud.get_extension("leafhash") == row_leaf_hash(row).hex()
        assert cloud.get_data() == event["data"]
    kinds = {e["type"] for e in events}
    assert {"export.requested", "export.failed", "export.hold_placed", "subject.erased"} <= kinds
    subjects = {e["subject"] for e in events if e["type"].startswith("export.")}
    assert set(history.values()) <= subjects


def test_sealed_events_carry_their_leaf_index_and_checkpoint(
    admin: psycopg.Connection[Any], history: dict[str, str]
) -> None:
    events = read_all(admin, feed.FeedQuery(limit=5))
    sealed = [e for e in events if "leafindex" in e]
    assert sealed and len(sealed) == len(events) - 1  # all but the download after the seal
    for event in sealed:
        assert event["leafindex"] < event["checkpointsize"] <= event["leafindex"] + 7
    assert read_all(admin, feed.FeedQuery(limit=3, sealed=True)) == sealed


def test_personal_fields_are_named_not_valued(
    admin: psycopg.Connection[Any], history: dict[str, str]
) -> None:
    events = read_all(admin, feed.FeedQuery(limit=1000))
    text = orjson.dumps(events).decode()
    for clear in (ALICE, BOB, SECRET_URL, "quota", "filter"):
        assert clear not in text
    requested = next(e for e in events if e["type"] == "export.requested")
    assert requested["data"]["withheld"] == ["user_id", "config"]
    assert len(requested["data"]["subject"]) == 32
    retried = next(e for e in events if e["type"] == "export.retried")
    assert retried["data"]["actor"] == retried["data"]["subject"]  # the subject's pseudonym
    hold = next(e for e in events if e["type"] == "export.hold_placed")
    assert hold["data"]["actor"] == "admin-1" and hold["data"]["matter"] == "case 7"


def test_opened_personal_fields_stay_withheld_for_an_erased_subject(
    admin: psycopg.Connection[Any], history: dict[str, str]
) -> None:
    events = read_all(admin, feed.FeedQuery(limit=1000), personal=True)
    alice = [e for e in events if e.get("subject") == history["alice"]]
    bob = [e for e in events if e.get("subject") == history["bob"]]
    first = alice[0]["data"]
    assert first["user_id"] == ALICE and "withheld" not in first
    assert first["config"] == {"filters": {"name": f"{ALICE}-filter"}}
    assert next(e for e in alice if e["type"] == "export.retried")["data"]["actor"] == ALICE
    text = orjson.dumps(bob).decode()
    assert BOB not in text and "quota" not in text and SECRET_URL not in text
    assert bob[0]["data"]["withheld"] == ["user_id", "config"]
    erased = next(e for e in events if e["type"] == "subject.erased")
    assert erased["subject"] == bob[0]["data"]["subject"]
    assert erased["data"]["export_ids"] == [history["bob"]]


def test_filters_by_type_and_user(admin: psycopg.Connection[Any], history: dict[str, str]) -> None:
    downloads = read_all(admin, feed.FeedQuery(limit=2, types=("export.downloaded",)))
    assert [e["subject"] for e in downloads] == [history["alice"], history["bob"],
                                                 history["alice"]]  # fmt: skip
    bobs = read_all(admin, feed.FeedQuery(limit=4, user_id=BOB))
    assert {e["subject"] for e in bobs} == {history["bob"], bobs[-1]["subject"]}
    assert bobs[-1]["type"] == "subject.erased"
    with pytest.raises(ValueError, match="unknown event type"):
        read_all(admin, feed.FeedQuery(types=("export.claimed",)))


def test_a_page_ends_at_the_head(admin: psycopg.Connection[Any], history: dict[str, str]) -> None:
    limits = feed.bounds(admin)
    how = feed.rendering(admin, "ledger.example/log")
    last = feed.page(admin, feed.FeedQuery(after=limits.head, limit=10), limits, how)
    assert last.events == [] and last.next_after == limits.head
    sealed = feed.page(admin, feed.FeedQuery(after=0, limit=1000, sealed=True), limits, how)
    assert sealed.next_after == limits.sealed < limits.head
    assert sealed.events[0]["source"] != "ledger.example/log"  # the stored origin wins


@pytest.fixture
def v1_events(database_url: str) -> list[dict[str, Any]]:
    """The first event shapes' fixture, stored as they were (no pseudonyms, clear fields)."""
    events: list[dict[str, Any]] = orjson.loads(FIXTURE.read_bytes())["events"]
    with psycopg.connect(database_url) as conn:
        for e in events:
            conn.execute(
                f"INSERT INTO {EVENTS_TABLE} (notification_id, originator_id, originator_version,"
                " topic, state) VALUES (%s, %s, %s, %s, convert_to(%s::jsonb::text, 'UTF8'))",
                (e["position"], e["originator_id"], e["originator_version"], e["topic"],
                 Jsonb(e["state"])),
            )  # fmt: skip
    return events


def test_events_stored_before_pseudonyms_render_pseudonymous(
    v1_events: list[dict[str, Any]], database_url: str
) -> None:
    with psycopg.connect(database_url, options=f"-c role={ADMIN_ROLE}") as conn:
        events = read_all(conn, feed.FeedQuery(limit=1000))
        opened = read_all(conn, feed.FeedQuery(limit=1000), personal=True)
    assert len(events) == len([e for e in v1_events if "Claimed" not in e["topic"]])
    text = orjson.dumps(events).decode()
    for clear in ('"alice"', '"bob"', "disk full", "files.example.com"):
        assert clear not in text
    for event in events:
        parsed(event)
    retried = next(e for e in events if e["type"] == "export.retried")["data"]
    assert retried["actor"] == retried["subject"] and len(retried["subject"]) == 32
    assert next(e for e in opened if e["type"] == "export.retried")["data"]["actor"] == "alice"
    assert next(e for e in opened if e["type"] == "export.failed")["data"]["error_message"] == (
        "disk full"
    )
