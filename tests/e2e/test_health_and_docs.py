"""Probes, and the OpenAPI document: every operation, status code and example filled in."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.helpers import PROBLEM, USER_A, Api


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_the_projection(api: Api, client: TestClient) -> None:
    created = api.create()
    api.list(min_position=created["_position"])
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["database"] == "ok" and body["migrations"] == "applied"
    projection = body["projection"]
    assert projection["head"] >= created["_position"]
    assert projection["lag"] == projection["head"] - projection["position"]
    assert projection["projector"] == "running"


def test_docs_are_served(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_openapi_documents_every_response(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/healthz",
        "/readyz",
        "/api/exports",
        "/api/exports/expire",
        "/api/exports/{export_id}",
        "/api/exports/{export_id}/downloads",
        "/api/retention",
        "/api/retention/{policy_id}",
        "/api/retention/exports/{export_id}",
        "/api/exports/{export_id}/history",
        "/api/exports/{export_id}/proof",
        "/api/exports/{export_id}/receipt",
        "/api/ledger/public-key",
        "/api/ledger/checkpoint",
        "/api/ledger/consistency",
        "/api/audit/events",
        "/api/events",
        "/api/events/stream",
        "/api/sinks",
        "/api/sinks/{name}",
        "/api/sinks/{name}/pause",
        "/api/sinks/{name}/resume",
        "/api/sinks/{name}/replay",
        "/api/exports/{export_id}/holds",
        "/api/exports/{export_id}/holds/{hold_id}",
        "/api/subjects/{user_id}/erasure",
        "/api/subjects/{user_id}/report",
        "/checkpoint",
        "/tile/{level}/{index}",
        "/tile/entries/{index}",
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            assert operation.get("summary"), name
            for code, response in operation["responses"].items():
                _check_response(name, code, response)
            if path.startswith("/api/"):
                assert operation["security"] == [{"HTTPBearer": []}], name
                assert {"401", "503"} <= set(operation["responses"]), name
            body = operation.get("requestBody")
            if body:
                assert {"413", "400", "422"} <= set(operation["responses"]), name
    for name, schema in spec["components"]["schemas"].items():
        assert schema.get("properties") or schema.get("enum") or schema.get("anyOf"), name


def _check_response(name: str, code: str, response: dict[str, Any]) -> None:
    assert response.get("description"), (name, code)
    if code == "204":
        return
    content = response["content"]
    if int(code) >= 400:
        assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/ProblemDetail"}
        assert content[PROBLEM]["example"]["status"] == int(code)
    elif name == "GET /api/audit/events":
        assert {"application/x-ndjson", "text/csv"} <= set(content), (name, code)
    elif name == "GET /api/events":
        assert "application/x-ndjson" in content, (name, code)
    elif name == "GET /api/events/stream":
        assert "text/event-stream" in content, (name, code)
    elif name == "GET /api/subjects/{user_id}/report":
        assert "application/x-ndjson" in content, (name, code)
    elif name == "GET /checkpoint":
        assert "text/plain; charset=utf-8" in content, (name, code)
    elif name.startswith("GET /tile/"):
        assert "application/octet-stream" in content, (name, code)
    else:
        assert "application/json" in content, (name, code)


def test_errors_outside_routes_are_problems_too(client: TestClient) -> None:
    missing = client.get("/nowhere", headers=USER_A)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    wrong_method = client.put("/api/exports", headers=USER_A)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == PROBLEM
    assert "GET" in wrong_method.headers["Allow"]
