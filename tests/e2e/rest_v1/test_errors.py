"""Every refusal of /rest/v1 and /auth/v1, with PostgREST's (or GoTrue's) code, status and
body shape; a refused write records nothing."""

from __future__ import annotations

import uuid

import jwt
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
from tests.e2e.supabase_tokens import anon_key, session_token, supabase_jwt

USER = str(uuid.uuid4())


def test_tokens_bad_missing_or_roleless(client: TestClient) -> None:
    forged = jwt.encode({"sub": USER, "role": "authenticated", "exp": 2**40}, "x" * 40)
    body = assert_error(client.get(TABLE, headers={"Authorization": f"Bearer {forged}"}), 401,
                        "PGRST301")  # fmt: skip
    assert "signature" in body["message"].lower()
    expired = supabase_jwt(sub=USER, role="authenticated", exp=1000)
    assert_error(client.get(TABLE, headers={"Authorization": f"Bearer {expired}"}), 401, "PGRST301")
    assert_error(client.get(TABLE), 401, "PGRST302")
    strange = supabase_jwt(role="postgres")
    assert_error(client.get(TABLE, headers={"Authorization": f"Bearer {strange}"}), 401, "PGRST301")


def test_anon_sees_nothing_and_may_write_nothing(client: TestClient) -> None:
    insert(client, USER)
    listed = client.get(TABLE, headers=anon_headers(Prefer="count=exact"))
    assert listed.status_code == 200 and listed.json() == []
    assert listed.headers["content-range"] == "*/0"
    no_bearer = client.get(TABLE, headers={"apikey": "sb_publishable_not_a_jwt"})
    assert no_bearer.status_code == 200 and no_bearer.json() == []
    refused = client.post(TABLE, json=new_row(USER), headers=anon_headers())
    assert_error(refused, 401, "42501")


def test_insert_for_another_user_and_a_reused_export_id(client: TestClient) -> None:
    other = client.post(TABLE, json=new_row(str(uuid.uuid4())), headers=user_headers(USER))
    assert_error(other, 403, "42501")
    row = insert(client, USER)
    again = client.post(TABLE, json=new_row(USER, export_id=row["export_id"]),
                        headers=user_headers(USER))  # fmt: skip
    assert_error(again, 409, "23505")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"format": "xml"}, "23514"),
        ({"status": "deleted"}, "23514"),
        ({"status": "done"}, "23514"),
        ({"conversation_count": -1}, "23514"),
        ({"conversation_count": "many"}, "22P02"),
        ({"conversation_count": None}, "23502"),
        ({"user_id": None}, "23502"),
        ({"status": None}, "23502"),
        ({"format": None}, "23502"),
        ({"export_id": "not-a-uuid"}, "22P02"),
        ({"timestamp": "yesterday"}, "22007"),
        ({"file_url": 42}, "22P02"),
        ({"config": {"includeMetadata": "yes"}}, "23514"),
        ({"nope": 1}, "PGRST204"),
        ({"id": str(uuid.uuid4())}, "LDG01"),
    ],
)
def test_constraint_errors_on_insert(
    client: TestClient, overrides: dict[str, object], code: str
) -> None:
    body = {**new_row(USER), **overrides}
    response = client.post(TABLE, json=body, headers=user_headers(USER))
    assert_error(response, 400, code)
    assert client.get(TABLE, headers=service_headers()).json() == []


def test_bodies_that_are_no_json(client: TestClient) -> None:
    response = client.post(TABLE, content=b"{nope", headers=user_headers(USER))
    assert_error(response, 400, "PGRST102")
    row = insert(client, USER)
    patch = client.patch(TABLE, params={"export_id": f"eq.{row['export_id']}"}, content=b"[1]",
                         headers=user_headers(USER))  # fmt: skip
    assert_error(patch, 400, "PGRST102")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"status": "equals.queued"}, 400, "PGRST100"),
        ({"status": "queued"}, 400, "PGRST100"),
        ({"or": "(status.eq.queued"}, 400, "PGRST100"),
        ({"or": "status.eq.queued"}, 400, "PGRST100"),
        ({"id": "in.a,b"}, 400, "PGRST100"),
        ({"file_url": "is.maybe"}, 400, "PGRST100"),
        ({"limit": "ten"}, 400, "PGRST100"),
        ({"order": "timestamp.sideways"}, 400, "PGRST100"),
        ({"nope": "eq.1"}, 400, "42703"),
        ({"or": "(nope.eq.1,status.eq.queued)"}, 400, "42703"),
        ({"select": "id,nope"}, 400, "42703"),
        ({"order": "nope.desc"}, 400, "42703"),
        ({"id": "eq.not-a-uuid"}, 400, "22P02"),
        ({"conversation_count": "gt.many"}, 400, "22P02"),
        ({"created_at": "lt.someday"}, 400, "22007"),
    ],
)
def test_filters_that_cannot_be_run(
    client: TestClient, params: dict[str, str], status: int, code: str
) -> None:
    assert_error(client.get(TABLE, params=params, headers=user_headers(USER)), status, code)


def test_single_object_range_table_and_schema(client: TestClient) -> None:
    one = client.get(TABLE, params={"export_id": "eq.non-existent-uuid"},
                     headers=user_headers(USER, Accept=OBJECT))  # fmt: skip
    body = assert_error(one, 406, "PGRST116")
    assert body["message"] == "JSON object requested, multiple (or no) rows returned"
    assert body["details"] == "The result contains 0 rows"
    insert(client, USER)
    insert(client, USER)
    two = client.get(TABLE, headers=user_headers(USER, Accept=OBJECT))
    assert assert_error(two, 406, "PGRST116")["details"] == "The result contains 2 rows"
    past = client.get(
        TABLE, params={"offset": "5"}, headers=user_headers(USER, Prefer="count=exact")
    )
    assert_error(past, 416, "PGRST103")
    assert past.headers["content-range"] == "*/2"
    at_end = client.get(
        TABLE, params={"offset": "2"}, headers=user_headers(USER, Prefer="count=exact")
    )
    assert at_end.status_code == 206 and at_end.json() == []
    assert_error(client.get("/rest/v1/exports", headers=user_headers(USER)), 404, "PGRST205")
    nested = client.get("/rest/v1/export_logs/1", headers=user_headers(USER))
    assert nested.status_code == 404 and nested.json()["code"]
    other = client.get(TABLE, headers=user_headers(USER, **{"Accept-Profile": "private"}))
    assert_error(other, 406, "PGRST106")
    posted = client.post(
        TABLE, json=new_row(USER), headers=user_headers(USER, **{"Content-Profile": "x"})
    )
    assert_error(posted, 406, "PGRST106")


def test_a_head_answers_with_headers_only(client: TestClient) -> None:
    insert(client, USER)
    head = client.head(
        TABLE, params={"select": "*"}, headers=user_headers(USER, Prefer="count=exact")
    )
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-range"] == "0-0/1"
    insert(client, USER)
    insert(client, USER)
    counted = user_headers(USER, Prefer="count=exact")
    page = client.head(TABLE, params={"offset": "1", "limit": "5"}, headers=counted)
    assert (page.status_code, page.headers["content-range"]) == (206, "1-2/3")
    past = client.head(TABLE, params={"offset": "4"}, headers=counted)
    assert (past.status_code, past.content) == (416, b"")
    uncounted = client.head(TABLE, params={"limit": "2"}, headers=user_headers(USER))
    assert (uncounted.status_code, uncounted.headers["content-range"]) == (200, "0-1/*")
    bad = client.head(TABLE, params={"nope": "eq.1"}, headers=user_headers(USER))
    assert bad.status_code == 400 and bad.content == b""


def test_patch_columns_the_ledger_never_rewrites(client: TestClient) -> None:
    row = insert(client, USER)
    where = {"export_id": f"eq.{row['export_id']}", "select": "*"}
    for column, value in [("format", "csv"), ("config", {}), ("conversation_count", 1),
                          ("export_id", str(uuid.uuid4())), ("id", str(uuid.uuid4())),
                          ("timestamp", "2020-01-01T00:00:00Z")]:  # fmt: skip
        response = client.patch(
            TABLE, params=where, json={column: value}, headers=user_headers(USER)
        )
        assert column in assert_error(response, 400, "LDG01")["message"]
    owner = client.patch(TABLE, params=where, json={"user_id": "someone-else"},
                         headers=user_headers(USER))  # fmt: skip
    assert_error(owner, 403, "42501")
    unknown = client.patch(TABLE, params=where, json={"colour": "red"}, headers=user_headers(USER))
    assert_error(unknown, 400, "PGRST204")
    same = client.get(TABLE, params={"export_id": f"eq.{row['export_id']}"},
                      headers=user_headers(USER, Accept=OBJECT))  # fmt: skip
    assert same.json() == row


def test_a_refused_move_is_409_naming_both_states_and_records_nothing(client: TestClient) -> None:
    row = insert(client, USER, status="completed")
    where = {"export_id": f"eq.{row['export_id']}", "select": "*"}
    headers = user_headers(USER, Prefer=RETURN_ROWS, Accept=OBJECT)
    back = client.patch(TABLE, params=where, json={"status": "queued"}, headers=headers)
    message = assert_error(back, 409, "LDG02")["message"]
    assert "completed" in message and "queued" in message
    rewrite = client.patch(TABLE, params=where, json={"file_url": "https://x"}, headers=headers)
    assert_error(rewrite, 409, "LDG05")
    assert client.get(TABLE, params=where, headers=headers).json() == row


def test_a_bulk_patch_is_all_or_nothing(client: TestClient) -> None:
    queued = insert(client, USER)
    done = insert(client, USER, status="completed")
    response = client.patch(TABLE, json={"status": "processing"}, headers=user_headers(USER))
    assert_error(response, 409, "LDG02")
    rows = client.get(TABLE, params={"order": "created_at"}, headers=user_headers(USER)).json()
    assert [r["status"] for r in rows] == ["queued", "completed"]
    assert rows == [queued, done]


def test_auth_user_in_gotrue_shapes(client: TestClient) -> None:
    missing = client.get("/auth/v1/user")
    assert missing.status_code == 401 and missing.json()["error_code"] == "no_authorization"
    bad = client.get("/auth/v1/user", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 403 and set(bad.json()) == {"code", "error_code", "msg"}
    keyed = client.get("/auth/v1/user", headers={"Authorization": f"Bearer {anon_key()}"})
    assert keyed.status_code == 403 and "sub" in keyed.json()["msg"]
    user = client.get("/auth/v1/user", headers={"Authorization": f"Bearer {session_token(USER)}"})
    assert user.status_code == 200
    assert {
        "id": USER,
        "aud": "authenticated",
        "role": "authenticated",
    }.items() <= user.json().items()
    other = client.get("/auth/v1/token", headers={"Authorization": f"Bearer {session_token(USER)}"})
    assert other.status_code == 404 and other.json()["msg"]
