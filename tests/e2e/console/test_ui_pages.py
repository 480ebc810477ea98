"""The web console through HTTP (no browser): sign-in, the API's rules, forms' CSRF."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from api.http.console.session import COOKIE, dev_sign_in_enabled
from api.wiring.settings import Settings
from tests.e2e.helpers import ADMIN, USER_B, Api, token


def sign_in(client: TestClient, user: str, *, admin: bool = False) -> None:
    response = client.post(
        "/ui/sign-in", data={"token": token(user, admin=admin)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/;" in cookie + ";"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token on the page"
    return match[1]


def test_pages_need_a_session(client: TestClient) -> None:
    response = client.get("/ui/exports?status=failed", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in?next=%2Fui%2Fexports%3Fstatus%3Dfailed"
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and 'name="token"' in page.text


def test_a_bad_token_is_refused(client: TestClient) -> None:
    response = client.post("/ui/sign-in", data={"token": "not.a.jwt"})
    assert response.status_code == 401
    assert "refused" in response.text
    assert COOKIE not in client.cookies


def test_a_user_sees_only_their_exports(api: Api, client: TestClient) -> None:
    mine = api.create()
    theirs = api.create(USER_B)
    assert api.list(ADMIN, min_position=theirs["_position"]).status_code == 200
    sign_in(client, "user-a")
    listing = client.get("/ui/exports")
    assert listing.status_code == 200
    assert mine["export_id"] in listing.text
    assert theirs["export_id"] not in listing.text and "user-b" not in listing.text
    assert client.get(f"/ui/exports/{theirs['export_id']}").status_code == 404
    assert client.get("/ui/exports/not-an-id").status_code == 404
    detail = client.get(f"/ui/exports/{mine['export_id']}")
    assert detail.status_code == 200 and "Requested" in detail.text
    assert client.get("/ui/exports", params={"user_id": "user-b"}).status_code == 403
    assert client.get("/ui/ledger").status_code == 403


def test_as_of_a_version_and_a_time(api: Api, client: TestClient) -> None:
    export_id = api.create()["export_id"]
    api.advance(export_id, "processing", "completed")
    sign_in(client, "user-a")
    page = client.get(f"/ui/exports/{export_id}", params={"version": "2"})
    assert page.status_code == 200
    assert "after version 2" in page.text and "badge-processing" in page.text
    early = client.get(f"/ui/exports/{export_id}", params={"at": "2000-01-01T00:00"})
    assert early.status_code == 200 and "did not exist yet" in early.text
    bad = client.get(f"/ui/exports/{export_id}", params={"version": "x"})
    assert bad.status_code == 200 and "whole number" in bad.text


def test_bad_filters_are_a_400_page(client: TestClient) -> None:
    sign_in(client, "user-a")
    response = client.get("/ui/exports", params={"status": "lost", "date_from": "soon"})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.text


def test_seal_page_and_its_jobs_need_csrf(client: TestClient) -> None:
    sign_in(client, "admin-1", admin=True)
    page = client.get("/ui/ledger")
    assert page.status_code == 200 and "Head position" in page.text
    assert "Last result: none" in page.text
    refused = client.post("/ui/ledger/jobs", data={"job": "rebuild-check", "csrf": "0" * 40})
    assert refused.status_code == 403
    foreign = client.post(
        "/ui/ledger/jobs",
        data={"job": "rebuild-check", "csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    started = client.post(
        "/ui/ledger/jobs", data={"job": "rebuild-check", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert started.status_code == 303
    for _ in range(100):
        page = client.get("/ui/ledger")
        if "the live table matches the events" in page.text:
            break
        time.sleep(0.1)
    assert "the live table matches the events" in page.text


def test_sign_out(client: TestClient) -> None:
    sign_in(client, "user-a")
    page = client.get("/ui/exports")
    out = client.post("/ui/sign-out", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/ui/exports", follow_redirects=False).status_code == 303


def test_dev_sign_in_only_on_the_embedded_default() -> None:
    embedded = Settings(database_url=None, jwt_secret=None)  # type: ignore[call-arg]
    assert dev_sign_in_enabled(embedded)
    assert not dev_sign_in_enabled(embedded.model_copy(update={"ui_dev_sign_in": False}))
    configured = Settings(database_url="postgresql://x@localhost/db")  # type: ignore[arg-type]
    assert not dev_sign_in_enabled(configured)
    assert not dev_sign_in_enabled(configured.model_copy(update={"ui_dev_sign_in": True}))


def test_dev_sign_in_is_off_with_a_configured_database(client: TestClient) -> None:
    page = client.get("/ui/sign-in")
    assert "Dev sign-in" not in page.text
    response = client.post("/ui/sign-in/dev", data={"user": "x", "role": "admin"})
    assert response.status_code == 404
