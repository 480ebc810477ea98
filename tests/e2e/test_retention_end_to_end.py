"""Retention end to end, on a ledger that holds exports sealed before export keys
(tests/fixtures/stored_events_v2.json) beside new ones: policies set over HTTP, the
projector's periodic run, a held export skipped and then shed by ``retain``, and the
subject erased after some of their exports were shed; ``rebuild --check`` and ``verify``
pass between each step. After each step every table, read route, console page, the live
stream and a webhook sink replayed from the start (personal fields opened in both) and
every log line are searched for the values shed.

A new export's shed values show nowhere (its events are sealed under its own key, now
destroyed: this part relies on the export keys). An export sealed before export keys is
shed from the read tables only: its events, sealed under its subject's key, still open
in the routes that open events (history, the feed with personal fields, the subject
report) until the subject is erased, and then nowhere.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from domain.privacy import SHED_TEXT
from domain.retention.due import OLD_FORMAT
from tests.e2e import retention_search as search
from tests.e2e.helpers import ADMIN, Api, assert_problem, bearer, completion
from tests.e2e.live import serving
from tests.integration.ledger.test_stored_events_v2 import load_v2
from tests.integration.readmodel_helpers import run_cli
from tests.integration.sink_receiver import Receiver, receiving

ALICE = bearer("alice")
SINK = "siem"
PAST = (datetime.now(UTC) - timedelta(days=2)).isoformat()
"""An expiry long gone: a policy counting from expiry is due at once."""
OLD_VALUES = {  # the fixture's values (tests/fixtures/make_stored_events_v2.py)
    "completed": ("alice-filter", "s3://exports/alice-2026.csv"),
    "expired": ("bob-filter", "s3://exports/bob.jsonl"),  # expires_at 2027: kept
    "imported": ("bob-seed", "bob: seed failed"),
}
ALICE_OLD = ("alice-filter", "s3://exports/alice-2026.csv", "alice: quota exceeded",
             "alice asked: wrong scope")  # fmt: skip
"""Every personal value of Alice's old exports (the deleted one's reason, the completed
one's earlier failure): none is left once she is erased."""


class Ledger:
    """The test's ledger: its app, made anew for each step, the commands it ran and
    what they printed, and the exports and policies the steps made."""

    def __init__(self, make_app: Callable[..., FastAPI], url: str, admin_url: str) -> None:
        self.make_app, self.url, self.admin_url = make_app, url, admin_url
        self.outputs: list[str] = []
        self.new: dict[str, str] = {}
        self.old: dict[str, str] = {}
        self.policies: dict[str, str] = {}
        self.receiver = Receiver()

    @property
    def ids(self) -> list[str]:
        return [*self.new.values(), *self.old.values()]

    def cli(self, *args: str) -> str:
        done = run_cli(self.url, *args)
        self.outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def checked(self) -> str:
        """``rebuild --check`` and ``verify`` pass; what verify said."""
        self.cli("rebuild", "--check")
        return self.cli("verify")

    def add_sink(self, client: TestClient, url: str) -> None:
        """A webhook sink sending personal fields, to the test's receiver."""
        body = {"name": SINK, "url": url, "personal_data": True}
        added = client.post("/api/sinks", json=body, headers=ADMIN)
        assert added.status_code == 201, added.text
        self.receiver.secret = added.json()["secret"]

    def places(self, client: TestClient, caplog: pytest.LogCaptureFixture) -> search.Places:
        answered = search.routes(client, self.ids, ["alice", "bob"])
        head = search.head_of(answered["feed"])
        with serving(self.make_app(run_projector=False)) as base:
            streamed = search.live_stream(base, head)
        return search.Places({
            "tables": search.every_table(self.url),
            **answered,
            **streamed,
            **search.webhooks(client, self.receiver, SINK, head),
            **search.console(client, self.ids),
            **search.log_lines(caplog.records, self.outputs),
            **search.server_log(self.admin_url),
        })  # fmt: skip


def secret(tag: str) -> dict[str, str]:
    return {
        "title": f"alice-private-title-{tag}",
        "file_url": f"https://storage.example.com/alice-private-{tag}.jsonl",
        "error": f"alice-private-error-{tag}",
        "reason": f"alice-private-reason-{tag}",
    }


def make_exports(api: Api, client: TestClient) -> dict[str, str]:
    """Alice's new exports: expired (shed), held, failed (kept), expired and deleted."""
    made = {}
    for tag in ("expired", "held", "failed", "deleted"):
        values = secret(tag)
        made[tag] = api.create(ALICE, config={"scope": "all", "title": values["title"]})[
            "export_id"
        ]
        api.advance(made[tag], "processing")
        if tag == "held":
            placed = client.post(
                f"/api/exports/{made[tag]}/holds", json={"matter": "M-1"}, headers=ADMIN
            )
            assert placed.status_code == 201, placed.text
        if tag == "failed":
            body = {"status": "failed", "error_message": values["error"]}
        else:
            body = completion(file_url=values["file_url"], expires_at=PAST)
        assert api.patch(made[tag], body, ADMIN).status_code == 200
    reason = {"reason": secret("deleted")["reason"]}
    gone = client.delete(f"/api/exports/{made['deleted']}", params=reason, headers=ADMIN)
    assert gone.status_code == 204, gone.text
    return made


def set_policies(client: TestClient) -> dict[str, str]:
    policies = {
        "expiry": {"after": "1h", "from": "expiry", "format": "jsonl"},
        "completion": {"after": "1h", "from": "completion", "format": "csv"},
        "failure": {"after": "1h", "from": "failure", "status": "failed"},
        "longest": {"after": "90d", "from": "last-event", "status": "failed"},
    }
    made = {}
    for name, body in policies.items():
        response = client.post("/api/retention", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        made[name] = response.json()["policy_id"]
    return made


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.1)


def shed_by(client: TestClient, export_id: str) -> str | None:
    found: str | None = client.get(f"/api/retention/exports/{export_id}", headers=ADMIN).json()[
        "shed_by"
    ]
    return found


@pytest.fixture
def ledger(make_app: Callable[..., FastAPI], database_url: str, admin_url: str) -> Ledger:
    return Ledger(make_app, database_url, admin_url)


def test_retention_end_to_end(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ledger.old = load_v2(ledger.url)["exports"]
    with receiving(ledger.receiver) as sink_url:
        set_up(ledger, caplog, sink_url)
        the_periodic_run(ledger, caplog)
        retain_once_released(ledger, caplog)
        erase_alice(ledger, caplog)


def set_up(ledger: Ledger, caplog: pytest.LogCaptureFixture, sink_url: str) -> None:
    """Exports, policies, a snapshot and a sink, with the periodic run off; nothing shed
    yet."""
    with TestClient(ledger.make_app(retention_every_seconds=0)) as client:
        ledger.new = make_exports(Api(client), client)
        ledger.policies = set_policies(client)
        failed = ledger.new["failed"]
        applies = client.get(f"/api/retention/exports/{failed}", headers=ADMIN).json()
        assert applies["policy"]["policy_id"] == ledger.policies["longest"]  # longest wins
        ledger.cli("rebuild", "--as-of", datetime.now(UTC).isoformat(), "--into", "snap")
        ledger.add_sink(client, sink_url)  # replayed from the start by each search
        before = ledger.places(client, caplog)
    assert "shed by retention" not in ledger.checked()
    for tag in ledger.new:  # the search finds what it looks for
        shown = {"tables", "history", "report", "stream (personal)", "webhooks"}
        assert shown <= before.showing(secret(tag)["title"])
    for values in OLD_VALUES.values():
        assert {"tables", "export", "rest", "console export"} <= before.showing(values[1])


def the_periodic_run(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    """The projector's run (at its start, then hourly) sheds the expired exports (one
    deleted) and the old export past its policy, not the held one; a shed export
    refuses a hold and other commands."""
    new, old, policies = ledger.new, ledger.old, ledger.policies
    with TestClient(ledger.make_app(retention_every_seconds=3600)) as client:
        api = Api(client)
        shed_now = [new["expired"], new["deleted"], old["completed"]]
        wait_until(lambda: all(shed_by(client, i) for i in shed_now), "the periodic run")
        wait_until(lambda: api.get(new["expired"], ALICE).json()["file_url"] == SHED_TEXT,
                   "the fold")  # fmt: skip
        assert shed_by(client, new["expired"]) == policies["expiry"]
        assert shed_by(client, old["completed"]) == policies["completion"]
        for kept in (new["held"], new["failed"], old["imported"], old["expired"]):
            assert shed_by(client, kept) is None
        body = api.get(new["expired"], ALICE).json()
        assert (body["config"], body["status"], body["user_id"]) == (
            {"shed": True}, "completed", "alice",
        )  # fmt: skip
        hold = {"matter": "M-2"}
        refused = client.post(f"/api/exports/{new['expired']}/holds", json=hold, headers=ADMIN)
        assert "place a legal hold" in assert_problem(refused, 409)["detail"]
        assert_problem(api.patch(new["expired"], {"status": "processing"}, ADMIN), 409)
        places = ledger.places(client, caplog)
    said = [r.getMessage() for r in caplog.records if r.name == "export_ledger.retention"]
    assert "shed 3 exports (1 sealed before export keys), skipped 1 under legal hold" in said[0]
    verified = ledger.checked()
    assert f"3 exports shed by retention; 1 of them sealed before export keys: {OLD_FORMAT}" in (
        verified
    )
    check_new_shed(places, ["expired", "deleted"])
    check_old_shed(places, ["completed"])
    check_kept(places, new_tags=["held", "failed"], old_tags=["imported", "expired"])


def retain_once_released(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    """``retain`` lists the held export; once its hold is released, sheds it."""
    held = ledger.new["held"]
    with TestClient(ledger.make_app(retention_every_seconds=0)) as client:
        dry = json.loads(ledger.cli("retain", "--dry-run", "--json"))
        assert (dry["applied"], [h["export_id"] for h in dry["held"]]) == ([], [held])
        (hold,) = client.get(f"/api/exports/{held}/holds", headers=ADMIN).json()["holds"]
        released = client.delete(f"/api/exports/{held}/holds/{hold['hold_id']}", headers=ADMIN)
        assert released.status_code == 204, released.text
        assert "applied retention to 1 exports" in ledger.cli("retain")
        said = json.loads(ledger.cli("retention", "list", "--export", held, "--json"))
        assert said["shed_by"] == ledger.policies["expiry"]
        wait_until(lambda: Api(client).get(held, ALICE).json()["file_url"] == SHED_TEXT,
                   "the fold")  # fmt: skip
        places = ledger.places(client, caplog)
    assert "4 exports shed by retention; 1 of them" in ledger.checked()
    check_new_shed(places, ["expired", "deleted", "held"])
    check_old_shed(places, ["completed"])
    check_kept(places, new_tags=["failed"], old_tags=["imported", "expired"])


def erase_alice(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    """Alice erased after some of her exports were shed: none of her values is left,
    old or new, shed or kept (the snapshot's rows included); Bob's kept ones stay."""
    with TestClient(ledger.make_app(retention_every_seconds=0)) as client:
        erased = client.post("/api/subjects/alice/erasure", json={}, headers=ADMIN)
        assert erased.status_code == 201, erased.text
        body = Api(client).get(ledger.new["expired"], ADMIN).json()
        assert body["user_id"].startswith("erased:") and body["config"] == {"erased": True}
        places = ledger.places(client, caplog)
    assert "4 exports shed by retention; 1 of them" in ledger.checked()
    check_new_shed(places, list(ledger.new))
    for value in ALICE_OLD:
        assert places.showing(value) == set(), value
    check_kept(places, new_tags=[], old_tags=["imported", "expired"])


def check_new_shed(places: search.Places, tags: list[str]) -> None:
    """A new export's shed values show nowhere: its key is destroyed."""
    for tag in tags:
        for value in secret(tag).values():
            assert places.showing(value) == set(), (tag, value)


def check_old_shed(places: search.Places, tags: list[str]) -> None:
    """An old export's shed values show only where its events are opened."""
    for tag in tags:
        for value in OLD_VALUES[tag]:
            assert places.showing(value) <= search.OPENING_ROUTES, (tag, value)
            assert "history" in places.showing(value)  # openable until the subject's erasure


def check_kept(places: search.Places, new_tags: list[str], old_tags: list[str]) -> None:
    """Exports not shed still show their values (the search is not blind)."""
    for tag in new_tags:
        assert {"tables", "export", "history"} <= places.showing(secret(tag)["title"])
    for tag in old_tags:
        assert {"tables", "export", "history"} <= places.showing(OLD_VALUES[tag][1])
