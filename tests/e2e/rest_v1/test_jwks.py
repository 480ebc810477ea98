"""Sessions signed with asymmetric keys published as a JWKS (Supabase's newer projects
sign ES256 at ``/auth/v1/.well-known/jwks.json``): with the ledger's JWKS URL set to the
project's, they work on /rest/v1 and /auth/v1 unchanged."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.e2e.rest_v1.support import OBJECT, RETURN_ROWS, TABLE, assert_error, new_row

KID = "supabase-ec-key"


@pytest.fixture
def jwks() -> Iterator[tuple[ec.EllipticCurvePrivateKey, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update(kid=KID, use="sig", alg="ES256")
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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_port}/auth/v1/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def session(key: ec.EllipticCurvePrivateKey, user_id: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": user_id, "role": "authenticated", "aud": "authenticated", "iat": now,
              "exp": now + 600, "iss": "https://project.supabase.co/auth/v1"}  # fmt: skip
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": KID})
    return {"apikey": token, "Authorization": f"Bearer {token}"}


def test_es256_sessions_from_the_projects_jwks(
    make_app: Callable[..., FastAPI], jwks: tuple[ec.EllipticCurvePrivateKey, str]
) -> None:
    key, url = jwks
    user = str(uuid.uuid4())
    with TestClient(make_app(jwks_url=url)) as client:
        created = client.post(TABLE, params={"select": "*"}, json=new_row(user),
                              headers={**session(key, user), "Prefer": RETURN_ROWS,
                                       "Accept": OBJECT})  # fmt: skip
        assert created.status_code == 201, created.text
        got = client.get(TABLE, params={"export_id": f"eq.{created.json()['export_id']}"},
                         headers={**session(key, user), "Accept": OBJECT})  # fmt: skip
        assert got.json() == created.json()
        me = client.get("/auth/v1/user", headers=session(key, user))
        assert me.status_code == 200 and me.json()["id"] == user
        forged = session(ec.generate_private_key(ec.SECP256R1()), user)
        assert_error(client.get(TABLE, headers=forged), 401, "PGRST301")
