"""/ui/retention: admins set and remove retention policies from the console, through
the ledger's commands (as /api/retention); CSRF required; refused input says why."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.console.test_ui_pages import csrf_of, sign_in
from tests.e2e.helpers import ADMIN

PAGE = "/ui/retention"


def test_non_admins_get_no_page(client: TestClient) -> None:
    assert client.get(PAGE, follow_redirects=False).status_code == 303  # to the sign-in
    sign_in(client, "user-a")
    page = client.get(PAGE)
    assert page.status_code == 403 and "Set a policy" not in page.text
    assert 'href="/ui/retention"' not in client.get("/ui/exports").text
    assert client.post(PAGE, data={"after": "1d"}).status_code == 403


def test_admins_set_and_remove_policies(client: TestClient) -> None:
    sign_in(client, "admin-1", admin=True)
    page = client.get(PAGE)
    assert page.status_code == 200 and "No retention policies" in page.text
    csrf = csrf_of(page.text)
    form = {"csrf": csrf, "after": "90d", "basis": "expiry", "format": "csv", "status": ""}
    assert client.post(PAGE, data={**form, "csrf": "bad"}).status_code in (400, 403)
    made = client.post(PAGE, data=form)
    assert made.status_code == 200 and "Retention policy ret_" in made.text, made.text
    (policy,) = client.get("/api/retention", headers=ADMIN).json()["policies"]
    assert (policy["after"], policy["from"], policy["format"]) == ("90d", "expiry", "csv")
    assert f'id="policy-{policy["policy_id"]}"' in made.text

    refused = client.post(PAGE, data={**form, "after": "soon"})
    assert refused.status_code == 422 and "after must be a duration" in refused.text

    removed = client.post(f"{PAGE}/{policy['policy_id']}/remove", data={"csrf": csrf})
    assert removed.status_code == 200 and "removed" in removed.text
    assert client.get("/api/retention", headers=ADMIN).json()["policies"] == []
    missing = client.post(f"{PAGE}/{policy['policy_id']}/remove", data={"csrf": csrf})
    assert missing.status_code == 404
