"""/ui/sinks: admins manage webhook sinks from the console as /api/sinks does (the same
store and target checks): the secret shown once, forms with CSRF from this origin only,
refused input as a page saying why."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.e2e.console.test_ui_pages import csrf_of, sign_in
from tests.e2e.helpers import ADMIN

PAGE = "/ui/sinks"
HOOK = "http://127.0.0.1:9/hook"  # nothing listens on port 9
FORM = {"name": "siem", "url": HOOK, "user_id": ""}


def admin_page(client: TestClient) -> str:
    sign_in(client, "admin-1", admin=True)
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def add(client: TestClient, csrf: str, **fields: str) -> str:
    """Adds a sink through the form; the result page's secret."""
    data = {"csrf": csrf, "name": "siem", "url": HOOK, "user_id": "", **fields}
    data.setdefault("type:export.completed", "1")
    added = client.post(PAGE, data=data, follow_redirects=False)
    assert added.status_code == 201 and "location" not in added.headers, added.text
    match = re.search(r'id="secret">(whsec_[A-Za-z0-9+/=]+)<', added.text)
    assert match, added.text
    return match[1]


def row_of(html: str, name: str) -> str:
    match = re.search(rf'<tr id="sink-{name}">(.*?)</tr>', html, re.S)
    assert match, html
    return match[1]


def test_non_admins_get_no_page(client: TestClient) -> None:
    assert client.get(PAGE, follow_redirects=False).status_code == 303  # to the sign-in
    sign_in(client, "user-a")
    page = client.get(PAGE)
    assert page.status_code == 403 and "for admins only" in page.text
    assert "Add a sink" not in page.text and 'href="/ui/sinks"' not in page.text
    assert 'href="/ui/sinks"' not in client.get("/ui/exports").text  # no link in the navigation
    assert client.post(PAGE, data={"name": "x", "url": HOOK}).status_code == 403
    assert client.post(f"{PAGE}/x/pause", data={}).status_code == 403


def test_forms_need_csrf_and_this_origin(client: TestClient) -> None:
    csrf = admin_page(client)
    body = FORM
    assert client.post(PAGE, data={**body, "csrf": "0" * 40}).status_code == 403
    assert client.post(PAGE, data=body).status_code == 403
    foreign = {"Origin": "https://evil.example"}
    assert client.post(PAGE, data={**body, "csrf": csrf}, headers=foreign).status_code == 403
    assert client.get("/api/sinks", headers=ADMIN).json()["sinks"] == []
    add(client, csrf)
    for action in ("pause", "resume", "remove"):
        assert client.post(f"{PAGE}/siem/{action}", data={"csrf": "0" * 40}).status_code == 403
        refused = client.post(f"{PAGE}/siem/{action}", data={"csrf": csrf}, headers=foreign)
        assert refused.status_code == 403
    replay = client.post(f"{PAGE}/siem/replay", data={"from": "1"})
    assert replay.status_code == 403
    assert client.get("/api/sinks", headers=ADMIN).json()["sinks"][0]["state"] == "active"


def test_add_shows_the_secret_once(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    csrf = admin_page(client)
    secret = add(client, csrf, user_id="user-a", personal_data="1")
    listing = client.get(PAGE)
    assert listing.status_code == 200 and secret not in listing.text
    row = row_of(listing.text, "siem")
    for shown in ("siem", HOOK, "export.completed", "user-a", "opened", "active"):
        assert shown in row
    sinks = client.get("/api/sinks", headers=ADMIN).json()["sinks"]
    assert [(s["name"], s["user_id"], s["personal"]) for s in sinks] == [("siem", "user-a", True)]
    assert sinks[0]["types"] == ["export.completed"] and secret not in str(sinks)
    assert "POST /ui/sinks 201" in caplog.text  # the request log line is there, not the secret
    assert secret not in caplog.text and secret not in str([r.__dict__ for r in caplog.records])
    assert 'href="/ui/sinks" aria-current="page"' in listing.text
    ledger = client.get("/ui/ledger")
    assert 'href="/ui/sinks"' in ledger.text and "sink siem" in ledger.text


def test_pause_resume_replay_and_remove(client: TestClient) -> None:
    csrf = admin_page(client)
    add(client, csrf, **{"type:export.completed": "", "type:export.requested": "1"})

    def act(action: str, **data: str) -> str:
        done = client.post(f"{PAGE}/siem/{action}", data={"csrf": csrf, **data})
        assert done.status_code == 200, done.text
        assert re.search(r'id="notice">Sink siem \w+\.<', done.text)
        state = client.get("/api/sinks", headers=ADMIN).json()["sinks"]
        return str(state[0]["state"]) if state else "gone"

    assert act("pause") == "paused"
    assert "Resume" in row_of(client.get(PAGE).text, "siem")
    assert act("resume") == "active"
    assert act("replay", **{"from": "1"}) == "active"
    assert client.get("/api/sinks", headers=ADMIN).json()["sinks"][0]["cursor"] == 0
    assert act("remove") == "gone"
    assert 'id="sink-siem"' not in client.get(PAGE).text


def test_refused_input_says_why(client: TestClient) -> None:
    csrf = admin_page(client)
    refusals = {
        "https://siem.example.com/h": "is not in EXPORT_LEDGER_SINK_HOSTS",
        "http://192.168.1.1/h": "http:// only to loopback",
        "file:///etc/passwd": "no host in",
        "ftp://127.0.0.1/h": "not &#39;ftp&#39;",
    }
    for url, reason in refusals.items():
        page = client.post(PAGE, data={**FORM, "csrf": csrf, "url": url})
        assert page.status_code == 422 and reason in page.text, page.text
        assert 'role="alert"' in page.text and "whsec_" not in page.text
    bad_name = client.post(PAGE, data={**FORM, "csrf": csrf, "name": "Not A Name"})
    assert bad_name.status_code == 422 and "a sink&#39;s name is" in bad_name.text
    add(client, csrf)
    twice = client.post(PAGE, data={**FORM, "csrf": csrf})
    assert twice.status_code == 409 and "siem" in twice.text and "whsec_" not in twice.text
    partial = client.post(PAGE, data={"csrf": csrf, "name": "siem", "url": HOOK})
    assert partial.status_code == 400 and "incomplete" in partial.text
    unknown = client.post(f"{PAGE}/other/pause", data={"csrf": csrf})
    assert unknown.status_code == 404 and "There is no sink" in unknown.text
    bad_from = client.post(f"{PAGE}/siem/replay", data={"csrf": csrf, "from": "0"})
    assert bad_from.status_code == 400 and "whole number" in bad_from.text
    assert client.post(f"{PAGE}/siem/explode", data={"csrf": csrf}).status_code == 404
    assert len(client.get("/api/sinks", headers=ADMIN).json()["sinks"]) == 1


def test_an_allowed_https_host_is_accepted(make_app: Callable[..., FastAPI]) -> None:
    url = "https://localhost:9/hook"  # on the allow-list, and no test dials out
    with TestClient(make_app(sink_hosts="localhost")) as client:
        csrf = admin_page(client)
        add(client, csrf, url=url)
        assert url in row_of(client.get(PAGE).text, "siem")
