"""Another user sees, changes and forges nothing through any filter; the anon key sees
nothing; the service role sees and deletes everything; a user's delete deletes nothing."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.e2e.rest_v1.support import (
    OBJECT,
    RETURN_ROWS,
    TABLE,
    anon_headers,
    assert_error,
    insert,
    new_row,
    service_headers,
    user_headers,
)

OWNER, OTHER = str(uuid.uuid4()), str(uuid.uuid4())


def filters(row: dict[str, str]) -> list[dict[str, str]]:
    """Every way the other user might name the owner's row."""
    return [
        {},
        {"export_id": f"eq.{row['export_id']}"},
        {"id": f"eq.{row['id']}"},
        {"user_id": f"eq.{OWNER}"},
        {"user_id": f"neq.{OTHER}"},
        {"user_id": f"not.eq.{OTHER}"},
        {"user_id": "not.is.null"},
        {"or": f"(user_id.eq.{OWNER},user_id.eq.{OTHER})"},
        {"or": f"(export_id.eq.{row['export_id']},status.neq.nothing)"},
        {"not.and": f"(user_id.eq.{OTHER},status.eq.queued)"},
        {"and": "(status.eq.queued,or(user_id.like.*,user_id.is.null))"},
        {"export_id": "like.*"},
        {"id": f"in.({row['id']})"},
    ]


@pytest.fixture
def owned(client: TestClient) -> dict[str, str]:
    return insert(client, OWNER)


def unchanged(client: TestClient, row: dict[str, str]) -> None:
    now = client.get(TABLE, params={"id": f"eq.{row['id']}"},
                     headers=user_headers(OWNER, Accept=OBJECT))  # fmt: skip
    assert now.status_code == 200 and now.json() == row


@pytest.mark.parametrize("who", ["other", "anon"])
def test_reads_show_nothing_through_any_filter(
    client: TestClient, owned: dict[str, str], who: str
) -> None:
    headers = user_headers(OTHER) if who == "other" else anon_headers()
    for params in filters(owned):
        listed = client.get(TABLE, params=params, headers={**headers, "Prefer": "count=exact"})
        assert listed.status_code == 200, (params, listed.text)
        assert listed.json() == [] and listed.headers["content-range"] == "*/0", params
        single = client.get(TABLE, params=params, headers={**headers, "Accept": OBJECT})
        assert_error(single, 406, "PGRST116")
        head = client.head(TABLE, params=params, headers={**headers, "Prefer": "count=exact"})
        assert head.headers["content-range"] == "*/0"


@pytest.mark.parametrize("who", ["other", "anon"])
def test_updates_change_nothing_through_any_filter(
    client: TestClient, owned: dict[str, str], who: str
) -> None:
    headers = user_headers(OTHER) if who == "other" else anon_headers()
    for params in filters(owned):
        for body in ({"status": "processing"}, {"status": "queued"}, {"user_id": OTHER},
                     {"expires_at": "2000-01-01T00:00:00Z"}):  # fmt: skip
            changed = client.patch(TABLE, params={**params, "select": "id"}, json=body,
                                   headers={**headers, "Prefer": RETURN_ROWS})  # fmt: skip
            assert changed.status_code == 200 and changed.json() == [], (params, changed.text)
            single = client.patch(TABLE, params=params, json=body,
                                  headers={**headers, "Accept": OBJECT})  # fmt: skip
            assert_error(single, 406, "PGRST116")
    unchanged(client, owned)


def test_deletes_by_users_delete_nothing(client: TestClient, owned: dict[str, str]) -> None:
    for headers in (user_headers(OWNER), user_headers(OTHER), anon_headers()):
        for params in filters(owned):
            deleted = client.delete(TABLE, params={**params, "select": "id"},
                                    headers={**headers, "Prefer": RETURN_ROWS})  # fmt: skip
            assert deleted.status_code == 200 and deleted.json() == [], params
            assert client.delete(TABLE, params=params, headers=headers).status_code == 204
    unchanged(client, owned)


def test_inserts_for_someone_else_are_refused(client: TestClient, owned: dict[str, str]) -> None:
    forged = client.post(TABLE, json=new_row(OWNER), headers=user_headers(OTHER))
    assert_error(forged, 403, "42501")
    many = client.post(TABLE, json=[new_row(OTHER), new_row(OWNER)], headers=user_headers(OTHER))
    assert_error(many, 403, "42501")
    taken = client.post(TABLE, json=new_row(OTHER, export_id=owned["export_id"]),
                        headers=user_headers(OTHER))  # fmt: skip
    assert_error(taken, 409, "23505")
    assert client.get(TABLE, headers=user_headers(OTHER)).json() == []
    unchanged(client, owned)


def test_the_service_role_sees_changes_and_deletes_every_row(
    client: TestClient, owned: dict[str, str]
) -> None:
    theirs = insert(client, OTHER)
    service = service_headers(Prefer="count=exact")
    everything = client.get(TABLE, params={"order": "created_at"}, headers=service)
    assert everything.json() == [owned, theirs]
    for_owner = client.post(TABLE, params={"select": "user_id"}, json=new_row(OWNER),
                            headers=service_headers(Prefer=RETURN_ROWS))  # fmt: skip
    assert for_owner.status_code == 201 and for_owner.json() == [{"user_id": OWNER}]
    moved = client.patch(TABLE, params={"user_id": f"eq.{OWNER}", "select": "status"},
                         json={"status": "processing"},
                         headers=service_headers(Prefer=RETURN_ROWS))  # fmt: skip
    assert moved.json() == [{"status": "processing"}] * 2
    gone = client.delete(TABLE, params={"user_id": f"eq.{OWNER}", "select": "id"},
                         headers=service_headers(Prefer=RETURN_ROWS))  # fmt: skip
    assert gone.status_code == 200 and owned["id"] in {r["id"] for r in gone.json()}
    left = client.get(TABLE, headers=service).json()
    assert left == [theirs]
