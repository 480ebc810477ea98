"""The log in the transparency-log formats over HTTP: GET /checkpoint (a C2SP note, no
token), the vkey beside the public key, and (later in this file) the tiles."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.tlog import merkle, notes, tiles
from tests.e2e.helpers import ADMIN, USER_A, USER_B, Api, assert_problem
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


@pytest.fixture(scope="module")
def grown(module_api: Api, export: Any) -> dict[str, Any]:
    """A tree past 256 leaves, so that it has a full tile and a level-1 tile."""
    position = 0
    for _ in range(140):
        created = module_api.create(USER_B)
        position = module_api.advance(created["export_id"], "processing")
    return sealed(module_api.client, position)


def fetch_tile(client: TestClient, level: int, index: int, size: int) -> bytes:
    width = min(tiles.WIDTH, tiles.nodes_at(level, size) - index * tiles.WIDTH)
    response = client.get("/" + tiles.tile_path(level, index, width))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert len(response.content) == 32 * width
    return response.content


def root_from_tiles(client: TestClient, size: int) -> bytes:
    """What a tlog client does: the root of a tree from its tiles alone."""

    def node(height: int, index: int) -> bytes:
        level, below = divmod(height, tiles.HEIGHT)
        first = index << below
        tile = fetch_tile(client, level, first // tiles.WIDTH, size)
        start = first % tiles.WIDTH
        hashes = [tile[32 * k : 32 * k + 32] for k in range(start, start + (1 << below))]
        return merkle.root(hashes)

    return merkle.peaks_root([node(h, i) for h, i in merkle.range_nodes(0, size)])


def test_a_client_walking_the_tiles_recomputes_the_checkpoints_root(
    module_client: TestClient, grown: dict[str, Any]
) -> None:
    size, root = grown["tree_size"], grown["root"]
    assert size > tiles.WIDTH
    assert root_from_tiles(module_client, size).hex() == root
    full = module_client.get("/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 8192
    assert "immutable" in full.headers["cache-control"]
    entries = module_client.get("/tile/entries/000", headers=ADMIN)
    assert entries.status_code == 200, entries.text
    leaves = [merkle.hash_leaf(e) for e in tiles.parse_entry_bundle(entries.content)]
    assert b"".join(leaves) == full.content


def test_missing_and_malformed_tiles_are_404_and_entries_need_an_admin(
    module_client: TestClient, grown: dict[str, Any]
) -> None:
    size = grown["tree_size"]
    assert size < 2 * tiles.WIDTH
    beyond = tiles.nodes_at(0, size) // tiles.WIDTH + 1
    for path in (
        f"/tile/0/{tiles.index_path(beyond)}",
        "/tile/0/001",  # not full yet
        "/tile/0/000.p/256",
        "/tile/64/000",
        "/tile/01/000",
        "/tile/0/x000/001",
        "/tile/9/000.p/1",
    ):
        assert_problem(module_client.get(path), 404)
    assert_problem(module_client.get("/tile/entries/000"), 401)
    assert_problem(module_client.get("/tile/entries/000", headers=USER_A), 403)
