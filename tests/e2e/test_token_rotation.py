"""Token-secret rotation and JWKS key rotation, through the app."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.wiring.auth import issue_token
from tests.e2e.helpers import SECRET, USER_A, assert_problem

CURRENT = secrets.token_urlsafe(48)


def bearer(signed: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {signed}"}


def test_tokens_of_the_current_and_the_previous_secret_verify(
    make_app: Callable[..., FastAPI],
) -> None:
    unknown = issue_token(secrets.token_urlsafe(48), "user-a")
    with TestClient(make_app(jwt_secret=f"{CURRENT},{SECRET}", run_projector=False)) as client:
        assert client.get("/api/exports", headers=USER_A).status_code == 200  # the previous
        current = bearer(issue_token(CURRENT, "user-a"))
        assert client.get("/api/exports", headers=current).status_code == 200
        refused = assert_problem(client.get("/api/exports", headers=bearer(unknown)), 401)
        assert CURRENT not in json.dumps(refused) and SECRET not in json.dumps(refused)
    with TestClient(make_app(jwt_secret=CURRENT, run_projector=False)) as client:
        assert_problem(client.get("/api/exports", headers=USER_A), 401)  # the previous, dropped


@dataclass
class Jwks:
    """A JWKS document on a loopback server that the test can change, and its fetches."""

    url: str = ""
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    fetches: int = 0

    def add(self, kid: str) -> rsa.RSAPrivateKey:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def document(self) -> bytes:
        published = []
        for kid, key in self.keys.items():
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            published.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return json.dumps({"keys": published}).encode()

    def token(self, kid: str, key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        claims = {"sub": "user-rsa", "exp": 2**40}
        signing = key or self.keys[kid]
        return bearer(jwt.encode(claims, signing, algorithm="RS256", headers={"kid": kid}))


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    state = Jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = state.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/jwks.json"
    yield state
    server.shutdown()
    server.server_close()


def test_an_unknown_kid_fetches_the_jwks_again(
    make_app: Callable[..., FastAPI], jwks: Jwks
) -> None:
    first = jwks.add("first")
    settings = {"jwks_url": jwks.url, "jwks_refetch_seconds": 0, "jwks_cache_seconds": 0.5}
    with TestClient(make_app(run_projector=False, **settings)) as client:
        assert client.get("/api/exports", headers=jwks.token("first")).status_code == 200
        fetched = jwks.fetches
        jwks.add("second")  # the issuer rotates its key
        assert client.get("/api/exports", headers=jwks.token("second")).status_code == 200
        assert jwks.fetches == fetched + 1
        unknown = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert_problem(client.get("/api/exports", headers=jwks.token("third", unknown)), 401)
        del jwks.keys["first"]  # and retires the old one: gone once the cache expires
        time.sleep(0.6)
        other = {"sub": "user-other", "exp": 2**40}
        late = jwt.encode(other, first, algorithm="RS256", headers={"kid": "first"})
        assert_problem(client.get("/api/exports", headers=bearer(late)), 401)
