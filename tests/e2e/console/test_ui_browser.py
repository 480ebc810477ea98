"""The web console in a real browser: Debian's Chromium, headless, driven by Playwright,
against a real uvicorn server on a free port. Screenshots of the main pages are saved
to $EXPORT_LEDGER_ARTIFACTS (default tests/artifacts/)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.http.app import create_app
from tests.e2e.conftest import make_settings
from tests.e2e.helpers import ADMIN, USER_A, USER_B, completion, export_body, token

CHROMIUM = Path("/usr/bin/chromium")
A_EXPORTS = 23
B_EXPORTS = 3

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI ('apt-get install chromium')", pytrace=False)
    pytest.skip(f"no browser at {CHROMIUM}", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn server (projection and sealer in-process) in a thread of this process."""
    settings = make_settings(module_database_url, tmp_path_factory.mktemp("data"))
    app = create_app(settings, run_migrations=False)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="ui-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def seeded(base_url: str) -> dict[str, list[str]]:
    """user-a: exports in every status; user-b: a few of their own."""
    ids: dict[str, list[str]] = {"user-a": [], "user-b": []}
    last = 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for n in range(A_EXPORTS + B_EXPORTS):
            owner, headers = ("user-a", USER_A) if n < A_EXPORTS else ("user-b", USER_B)
            fmt = ("json", "csv", "jsonl")[n % 3]
            response = client.post("/api/exports", json=export_body(format=fmt), headers=headers)
            assert response.status_code == 201, response.text
            export_id = response.json()["export_id"]
            ids[owner].append(export_id)
            last = _advance(client, export_id, n % 5) or int(response.headers["X-Ledger-Position"])
        waited = client.get("/api/exports", params={"min_position": last}, headers=ADMIN)
        assert waited.status_code == 200, waited.text
    return ids


def _advance(client: httpx.Client, export_id: str, step: int) -> int:
    moves: list[dict[str, Any]] = [
        {"status": "processing"},
        completion(),
        {"status": "expired"},
    ]
    if step == 4:
        moves = [{"status": "processing"}, {"status": "failed", "error_message": "disk full"}]
    position = 0
    for body in moves[:step] if step < 4 else moves:
        response = client.patch(f"/api/exports/{export_id}", json=body, headers=ADMIN)
        assert response.status_code == 200, response.text
        position = int(response.headers["X-Ledger-Position"])
    return position


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, base_url: str, seeded: dict[str, list[str]]) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def sign_in(page: Any, user: str, *, admin: bool = False, start: str = "/ui/exports") -> None:
    page.goto(start)
    assert "/ui/sign-in" in page.url
    page.get_by_label("Bearer token").fill(token(user, admin=admin))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/(exports|ledger)"))


def shot(page: Any, name: str) -> None:
    folder = Path(
        os.environ.get("EXPORT_LEDGER_ARTIFACTS") or Path(__file__).parents[2] / "artifacts"
    )
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def export_ids(page: Any) -> list[str]:
    return [str(t) for t in page.locator("tbody tr td:first-child a").all_inner_texts()]


def test_sign_in_filter_and_page(page: Any, seeded: dict[str, list[str]]) -> None:
    page.goto("/ui/sign-in")
    shot(page, "sign-in")
    sign_in(page, "user-a")
    assert set(export_ids(page)) == set(seeded["user-a"])
    shot(page, "exports")

    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"status=completed"))
    badges = page.locator("tbody .badge").all_inner_texts()
    assert badges and set(badges) == {"completed"}

    page.goto("/ui/exports")
    page.get_by_label("Per page").select_option("10")
    page.get_by_role("button", name="Apply filters").click()
    seen: list[str] = []
    for _ in range(3):
        rows = export_ids(page)
        assert 0 < len(rows) <= 10
        seen += rows
        following = page.get_by_role("link", name="Next page")
        if following.count() == 0:
            break
        following.click()
        page.wait_for_url(re.compile(r"cursor="))
    assert len(seen) == len(set(seen)) == A_EXPORTS  # three pages, no row twice
    assert "limit=10" in page.url and "cursor=" in page.url


def test_timeline_and_as_of(page: Any, seeded: dict[str, list[str]]) -> None:
    export_id = seeded["user-a"][3]  # requested, processing, completed, expired
    sign_in(page, "user-a")
    page.get_by_role("link", name=export_id).click()
    page.wait_for_url(f"**/ui/exports/{export_id}")
    assert page.locator(".timeline > li").count() == 4
    page.get_by_label("Event", exact=True).select_option("2")
    page.get_by_role("button", name="Show").first.click()
    page.wait_for_url(re.compile(r"version=2"))
    result = page.locator("#as-of-result")
    assert "after version 2" in result.inner_text()
    as_of = page.locator("section[aria-labelledby=as-of-h] .badge").inner_text()
    assert as_of == "processing"

    page.get_by_label("Time (UTC)").fill("2001-01-01T00:00:00")
    page.get_by_role("button", name="Show").nth(1).click()
    page.wait_for_url(re.compile(r"at=2001"))
    assert "did not exist yet" in page.get_by_role("alert").inner_text()

    for _ in range(50):  # the sealer signs a checkpoint within moments
        page.goto(f"/ui/exports/{export_id}")
        if "Verified" in page.locator("section[aria-labelledby=proof-h]").inner_text():
            break
        time.sleep(0.2)
    assert "Verified" in page.locator("#proof-status").inner_text()
    shot(page, "export")


def test_user_a_never_sees_user_b(page: Any, seeded: dict[str, list[str]]) -> None:
    sign_in(page, "user-a")
    page.goto("/ui/exports?limit=100")
    listed = set(export_ids(page))
    assert listed and not listed & set(seeded["user-b"])
    assert "user-b" not in page.content()
    for theirs in seeded["user-b"]:
        response = page.goto(f"/ui/exports/{theirs}")
        assert response.status == 404
        assert theirs not in page.locator("main").inner_text().replace(
            "There is no export with that id", ""
        )
    assert page.goto("/ui/exports?user_id=user-b").status == 403
    assert page.goto("/ui/ledger").status == 403


def test_admin_seal_page_and_rebuild_check(page: Any, seeded: dict[str, list[str]]) -> None:
    sign_in(page, "admin-1", admin=True, start="/ui/ledger")
    assert page.get_by_role("heading", name="Ledger", exact=True).is_visible()
    assert "Last result: none" in page.locator("#job-rebuild-check").inner_text()
    page.get_by_role("button", name="Run rebuild --check").click()
    for _ in range(100):
        text = page.locator("#job-rebuild-check").inner_text()
        if "passed" in text or "failed" in text:
            break
        time.sleep(0.2)
        page.goto("/ui/ledger")
    assert "the live table matches the events" in page.locator("#job-rebuild-check").inner_text()
    total = A_EXPORTS + B_EXPORTS
    assert page.locator("tfoot td").inner_text() == str(total)
    shot(page, "ledger")

    page.goto("/ui/exports?user_id=user-b")
    assert set(export_ids(page)) == set(seeded["user-b"])


def test_keyboard_only_sign_in(page: Any) -> None:
    page.goto("/ui/sign-in")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(token("user-a"))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/exports")
    assert page.get_by_text("Signed in as").is_visible()


def test_admin_adds_pauses_and_removes_a_sink(page: Any) -> None:
    sign_in(page, "admin-1", admin=True, start="/ui/ledger")
    page.get_by_role("link", name="Manage the webhook sinks").click()
    page.wait_for_url("**/ui/sinks")
    page.get_by_label("Name", exact=True).fill("browser-hook")
    page.get_by_label("URL").fill("http://127.0.0.1:9/hook")  # nothing listens on port 9
    page.get_by_label("export.completed").check()
    page.get_by_role("button", name="Add sink").click()
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("whsec_") and "/ui/sinks" in page.url and "whsec" not in page.url
    page.get_by_role("link", name="Back to the sinks").click()
    row = page.locator("#sink-browser-hook")
    assert "export.completed" in row.inner_text() and secret not in page.content()
    shot(page, "sinks")
    row.get_by_role("button", name="Pause browser-hook").click()
    assert page.locator("#notice").inner_text() == "Sink browser-hook paused."
    assert page.locator("#sink-browser-hook .badge").inner_text() == "paused"
    page.locator("#sink-browser-hook").get_by_role("button", name="Remove browser-hook").click()
    assert page.locator("#notice").inner_text() == "Sink browser-hook removed."
    assert page.locator("#sink-browser-hook").count() == 0
