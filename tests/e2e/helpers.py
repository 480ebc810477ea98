"""Tokens and a thin client for the end-to-end tests."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.wiring.auth import issue_token

# A per-run signing key of the tests' own; never a default of the application.
SECRET = secrets.token_urlsafe(48)
PROBLEM = "application/problem+json"
POSITION = "X-Ledger-Position"


def token(user: str, *, admin: bool = False, ttl: timedelta = timedelta(minutes=30)) -> str:
    return issue_token(SECRET, user, admin=admin, ttl=ttl)


def bearer(user: str, *, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, admin=admin)}"}


USER_A = bearer("user-a")
USER_B = bearer("user-b")
ADMIN = bearer("admin-1", admin=True)


def export_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": "jsonl",
        "config": {"scope": "all", "include_metadata": True},
        "conversation_count": 42,
    }
    body.update(overrides)
    return body


def completion(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "completed",
        "file_size": 1024000,
        "file_url": "https://storage.example.com/exports/file.jsonl",
        "expires_at": "2099-01-01T00:00:00Z",
    }
    body.update(overrides)
    return body


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert {"type", "title", "status", "detail"} <= set(problem)
    return problem


class Api:
    """The calls the tests make again and again."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def create(self, headers: dict[str, str] = USER_A, **overrides: Any) -> dict[str, Any]:
        response = self.client.post("/api/exports", json=export_body(**overrides), headers=headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        created["_position"] = int(response.headers[POSITION])
        return created

    def patch(
        self, export_id: str, body: dict[str, Any], headers: dict[str, str] = USER_A
    ) -> httpx.Response:
        response: httpx.Response = self.client.patch(
            f"/api/exports/{export_id}", json=body, headers=headers
        )
        return response

    def advance(self, export_id: str, *statuses: str, headers: dict[str, str] = ADMIN) -> int:
        """Move an export through ``statuses``; returns the last command's position."""
        position = 0
        for status in statuses:
            body = completion() if status == "completed" else {"status": status}
            if status == "failed":
                body["error_message"] = "disk full"
            response = self.patch(export_id, body, headers)
            assert response.status_code == 200, response.text
            position = int(response.headers[POSITION])
        return position

    def get(
        self, export_id: str, headers: dict[str, str] = USER_A, /, **params: Any
    ) -> httpx.Response:
        response: httpx.Response = self.client.get(
            f"/api/exports/{export_id}", params=params, headers=headers
        )
        return response

    def list(self, headers: dict[str, str] = USER_A, /, **params: Any) -> httpx.Response:
        response: httpx.Response = self.client.get("/api/exports", params=params, headers=headers)
        return response
