"""Who may do what: the auth matrix over every route, and the tokens themselves."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.http.deps import Services
from api.wiring.auth import load_or_create_secret, resolve_secret
from api.wiring.settings import Settings
from domain.exceptions import ConfigurationError
from projections.reads.read_store import Principal
from tests.e2e.helpers import ADMIN, USER_A, USER_B, Api, assert_problem, completion, token

EXPIRED = {"Authorization": f"Bearer {token('user-a', ttl=timedelta(minutes=-5))}"}
FORGED = {"Authorization": "Bearer " + jwt.encode({"sub": "user-a", "exp": 2**40}, "x" * 40)}
GARBAGE = {"Authorization": "Bearer not.a.token"}
BASIC = {"Authorization": "Basic dXNlcjpwYXNz"}

CALLERS: dict[str, dict[str, str]] = {
    "owner": USER_A,
    "other": USER_B,
    "admin": ADMIN,
    "no token": {},
    "bad signature": FORGED,
    "expired": EXPIRED,
    "garbage": GARBAGE,
    "basic auth": BASIC,
}
UNAUTHENTICATED = ("no token", "bad signature", "expired", "garbage", "basic auth")

# route: (method, path, body, prepare, expected status for owner, other, admin)
ROUTES: dict[str, tuple[str, str, Any, tuple[str, ...], tuple[int, int, int]]] = {
    "create": ("POST", "/api/exports", {"format": "csv", "config": {}, "conversation_count": 1},
               (), (201, 201, 201)),
    "list": ("GET", "/api/exports", None, (), (200, 200, 200)),
    "list by user": ("GET", "/api/exports?user_id=user-a", None, (), (403, 403, 200)),
    "get": ("GET", "/api/exports/{id}", None, (), (200, 404, 200)),
    "get as of": ("GET", "/api/exports/{id}?version=1", None, (), (200, 404, 200)),
    "update": ("PATCH", "/api/exports/{id}", {"status": "processing"}, (), (200, 404, 200)),
    "download": ("POST", "/api/exports/{id}/downloads", None, ("processing", "completed"),
                 (200, 404, 200)),
    "history": ("GET", "/api/exports/{id}/history", None, (), (200, 404, 200)),
    "delete": ("DELETE", "/api/exports/{id}", None, (), (403, 403, 204)),
    "expire": ("POST", "/api/exports/expire", None, (), (403, 403, 200)),
}  # fmt: skip


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("route", list(ROUTES))
def test_auth_matrix(module_api: Api, route: str, caller: str) -> None:
    method, path, body, prepare, expected = ROUTES[route]
    created = module_api.create()  # user-a's export, fresh for every case
    export_id = created["export_id"]
    position = module_api.advance(export_id, *prepare) if prepare else created["_position"]
    url = path.format(id=export_id)
    if route in ("list", "get", "get as of", "list by user"):  # reads of the read table
        url += ("&" if "?" in url else "?") + f"min_position={position}"
    response = module_api.client.request(method, url, json=body, headers=CALLERS[caller])
    if caller in UNAUTHENTICATED:
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        return
    status = expected[("owner", "other", "admin").index(caller)]
    if status >= 400:
        assert_problem(response, status)
    else:
        assert response.status_code == status, response.text


def test_a_users_list_never_shows_other_users_exports(module_api: Api) -> None:
    mine = module_api.create(USER_B)
    theirs = module_api.create(USER_A)
    page = module_api.list(USER_B, min_position=theirs["_position"], limit=200).json()
    assert {log["user_id"] for log in page["logs"]} == {"user-b"}
    assert mine["export_id"] in {log["export_id"] for log in page["logs"]}


def test_isolation_holds_in_the_database(module_client: TestClient, module_api: Api) -> None:
    """The by-id read has no user filter in its SQL: only row-level security hides it."""
    theirs = module_api.create(USER_A)
    assert module_api.get(theirs["export_id"], min_position=theirs["_position"]).status_code == 200
    app: FastAPI = module_client.app  # type: ignore[assignment]
    services: Services = app.state.services
    assert services.reads.get(Principal("user-b"), theirs["export_id"]) is None
    assert services.reads.get(Principal("user-a"), theirs["export_id"]) is not None
    assert services.reads.get(Principal("x", admin=True), theirs["export_id"]) is not None
    with psycopg.connect(services.database.url, options="-c role=export_ledger_reader") as conn:
        conn.execute("SELECT set_config('export_ledger.user_id', 'user-b', false)")
        seen = conn.execute("SELECT DISTINCT user_id FROM export_logs").fetchall()
    assert seen in ([], [("user-b",)])


def test_admin_role_needs_the_admin_claim(module_client: TestClient) -> None:
    not_admin = {"Authorization": f"Bearer {jwt_with(role='superuser')}"}
    assert_problem(module_client.post("/api/exports/expire", headers=not_admin), 403)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 2**40},  # no sub
        {"sub": "user-a"},  # no exp
        {"sub": "", "exp": 2**40},
        {"sub": "a\x00b", "exp": 2**40},
        {"sub": 42, "exp": 2**40},
    ],
)
def test_tokens_without_a_usable_subject_or_expiry_are_refused(
    module_client: TestClient, claims: dict[str, Any]
) -> None:
    from tests.e2e.helpers import SECRET

    bad = {"Authorization": "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")}
    assert_problem(module_client.get("/api/exports", headers=bad), 401)


def test_unsigned_tokens_are_refused(module_client: TestClient) -> None:
    unsigned = jwt.encode({"sub": "user-a", "exp": 2**40}, None, algorithm="none")  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {unsigned}"}
    assert_problem(module_client.get("/api/exports", headers=headers), 401)


def jwt_with(**claims: Any) -> str:
    from tests.e2e.helpers import SECRET

    return jwt.encode({"sub": "user-a", "exp": 2**40, **claims}, SECRET, algorithm="HS256")


@pytest.fixture
def jwks() -> Iterator[tuple[rsa.RSAPrivateKey, str]]:
    """An RSA key, and a JWKS URL on a loopback server that publishes its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="test-key", use="sig", alg="RS256")
    document = json.dumps({"keys": [public]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield key, f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def test_rs256_tokens_from_a_jwks_url(
    make_app: Callable[..., FastAPI], jwks: tuple[rsa.RSAPrivateKey, str]
) -> None:
    key, url = jwks
    claims = {"sub": "user-rsa", "exp": 2**40, "role": "admin"}
    signed = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-key"})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "test-key"})
    with TestClient(make_app(jwks_url=url, run_projector=False)) as client:
        response = client.post("/api/exports/expire", headers={"Authorization": f"Bearer {signed}"})
        assert response.status_code == 200, response.text
        assert_problem(
            client.get("/api/exports", headers={"Authorization": f"Bearer {forged}"}), 401
        )
        assert client.get("/api/exports", headers=USER_A).status_code == 200  # HS256 still works


def test_rs256_tokens_without_a_jwks_url_are_refused(
    module_client: TestClient, jwks: tuple[rsa.RSAPrivateKey, str]
) -> None:
    key, _ = jwks
    signed = jwt.encode({"sub": "u", "exp": 2**40}, key, algorithm="RS256")
    headers = {"Authorization": f"Bearer {signed}"}
    assert_problem(module_client.get("/api/exports", headers=headers), 401)


def test_secret_is_generated_once_for_the_embedded_server(tmp_path: Path) -> None:
    settings = Settings(database_url=None, jwt_secret=None, data_dir=tmp_path / "data")
    first = resolve_secret(settings)
    path = tmp_path / "data" / "jwt-secret"
    assert first is not None and len(first) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert resolve_secret(settings) == first == load_or_create_secret(path)
    assert list(path.parent.iterdir()) == [path]  # no temporary files left


def test_a_configured_database_needs_a_configured_secret(
    make_app: Callable[..., FastAPI],
) -> None:
    with pytest.raises(ConfigurationError, match="EXPORT_LEDGER_JWT_SECRET"):
        with TestClient(make_app(jwt_secret=None)):
            pass


def test_a_bad_jwks_url_is_a_configuration_error(make_app: Callable[..., FastAPI]) -> None:
    with pytest.raises(ConfigurationError, match="JWKS"):
        with TestClient(make_app(jwks_url="file:///keys.json")):
            pass


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Settings(jwt_secret=SecretStr("short"))


def test_completion_by_the_owner_is_allowed(module_api: Api) -> None:
    export_id = module_api.create()["export_id"]
    module_api.advance(export_id, "processing", headers=USER_A)
    response = module_api.patch(export_id, completion(), USER_B)
    assert_problem(response, 404)
    assert module_api.patch(export_id, completion(), USER_A).status_code == 200
