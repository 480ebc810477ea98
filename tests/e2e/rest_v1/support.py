"""Requests as supabase-js sends them to /rest/v1/export_logs, for the Python tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.e2e.supabase_tokens import anon_key, headers, service_role_key, session_token

TABLE = "/rest/v1/export_logs"
OBJECT = "application/vnd.pgrst.object+json"
RETURN_ROWS = "return=representation"


def user_headers(user_id: str, **extra: str) -> dict[str, str]:
    return {**headers(session_token(user_id), anon_key()), **extra}


def service_headers(**extra: str) -> dict[str, str]:
    return {**headers(service_role_key()), **extra}


def anon_headers(**extra: str) -> dict[str, str]:
    return {**headers(anon_key()), **extra}


def new_row(user_id: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "export_id": str(uuid.uuid4()),
        "user_id": user_id,
        "format": "jsonl",
        "config": {"scope": "all", "format": "jsonl", "includeMetadata": True},
        "conversation_count": 42,
        "status": "queued",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    row.update(overrides)
    return row


def insert(client: httpx.Client, user_id: str, **overrides: Any) -> dict[str, Any]:
    """A row created as its user does (``.insert(row).select().single()``)."""
    response = client.post(
        TABLE,
        params={"select": "*"},
        json=new_row(user_id, **overrides),
        headers=user_headers(user_id, Prefer=RETURN_ROWS, Accept=OBJECT),
    )
    assert response.status_code == 201, response.text
    row: dict[str, Any] = response.json()
    return row


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A PostgREST error: its status, its code, and the body's four keys."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details", "hint"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body
