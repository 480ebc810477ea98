"""The log in the transparency-log formats over HTTP: GET /checkpoint (a C2SP note, no
token), the vkey beside the public key, and (later in this file) the tiles."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain import merkle, notes
from tests.e2e.helpers import USER_A, Api
from tests.e2e.test_ledger_routes import sealed


@pytest.fixture(scope="module")
def export(module_api: Api) -> dict[str, Any]:
    created = module_api.create(USER_A)
    position = module_api.advance(created["export_id"], "processing", "completed")
    created["checkpoint"] = sealed(module_api.client, position)
    return created


def test_the_checkpoint_is_a_signed_note_that_opens_with_the_published_vkey(
    module_client: TestClient, export: Any
) -> None:
    response = module_client.get("/checkpoint")  # no token: it carries hashes only
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    key = module_client.get("/api/ledger/public-key", headers=USER_A).json()
    vkey = notes.VerifierKey.parse(key["vkey"])
    assert vkey.name == key["origin"] and vkey.public_key.hex() == key["public_key_hex"]
    assert key["keys"][-1]["vkey"] == key["vkey"]
    note = notes.parse(response.content)
    assert notes.verify(note, vkey)
    origin, size, root, _ = merkle.parse_checkpoint_note_text(note.text)
    latest = module_client.get("/api/ledger/checkpoint", headers=USER_A).json()
    assert (origin, size, root.hex()) == (key["origin"], latest["tree_size"], latest["root"])
    assert latest["note"] == response.text
