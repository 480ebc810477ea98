"""The sealed ledger over HTTP: key, checkpoints, proofs, consistency, and who may see them.
A proof fetched over HTTP must check offline with the auditor's module alone."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.tlog import merkle
from projections.tlog.checkpoints import Checkpoint
from projections.tlog.proofs import verify_bundle
from tests.e2e.helpers import ADMIN, USER_A, USER_B, Api, assert_problem

NO_TOKEN: dict[str, str] = {}
CALLERS = {"owner": USER_A, "other": USER_B, "admin": ADMIN, "no token": NO_TOKEN}


def sealed(client: TestClient, position: int, timeout: float = 15.0) -> dict[str, Any]:
    """The latest checkpoint once the in-process sealer has sealed ``position``."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/api/ledger/checkpoint", headers=USER_A)
        if response.status_code == 200 and response.json()["position"] >= position:
            found: dict[str, Any] = response.json()
            return found
        assert time.monotonic() < deadline, f"not sealed up to {position}: {response.text}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def export(module_api: Api) -> dict[str, Any]:
    created = module_api.create(USER_A)
    position = module_api.advance(created["export_id"], "processing", "completed")
    created["checkpoint"] = sealed(module_api.client, position)
    return created


def test_the_public_key_is_the_checkpoints_signer(module_client: TestClient, export: Any) -> None:
    key = module_client.get("/api/ledger/public-key", headers=USER_A).json()
    cp = export["checkpoint"]
    assert key["key_id"] == cp["key_id"] and key["public_key_hex"] == cp["public_key"]
    assert base64.b64decode(key["public_key_base64"]).hex() == key["public_key_hex"]
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert merkle.key_id(bytes.fromhex(key["public_key_hex"])) == key["key_id"]
    again = module_client.get(f"/api/ledger/public-key?key_id={key['key_id']}", headers=USER_B)
    assert again.json() == key
    assert_problem(
        module_client.get("/api/ledger/public-key?key_id=" + "0" * 16, headers=USER_A), 404
    )
    assert_problem(module_client.get("/api/ledger/public-key?key_id=nothex", headers=USER_A), 422)


def test_checkpoints_are_signed_and_found_by_size(module_client: TestClient, export: Any) -> None:
    cp = export["checkpoint"]
    assert Checkpoint.from_json(cp).signature_problem() is None
    by_size = module_client.get(
        f"/api/ledger/checkpoint?tree_size={cp['tree_size']}", headers=ADMIN
    )
    assert by_size.json() == cp
    missing = module_client.get("/api/ledger/checkpoint?tree_size=999999", headers=USER_A)
    assert assert_problem(missing, 404)["type"].endswith("checkpoint-not-found")
    for bad in ("0", "-1", "x", "1.5", str(2**63)):
        assert_problem(
            module_client.get(f"/api/ledger/checkpoint?tree_size={bad}", headers=USER_A), 422
        )


def test_a_proof_over_http_verifies_offline(module_client: TestClient, export: Any) -> None:
    cp = export["checkpoint"]
    url = f"/api/exports/{export['export_id']}/proof?tree_size={cp['tree_size']}"
    bundle = module_client.get(url, headers=USER_A).json()
    assert [e["version"] for e in bundle["events"]] == [1, 2, 3]
    assert bundle["unsealed"] == [] and bundle["checkpoint"] == cp
    assert verify_bundle(bundle, frozenset({cp["key_id"]})) == []
    for event in bundle["events"]:
        state = base64.b64decode(event["state"])
        assert event["leaf_hash"] == merkle.leaf_hash(
            event["position"], _uuid_bytes(event["aggregate_id"]), event["version"],
            event["topic"], state,
        ).hex()  # fmt: skip
    forged = {
        **bundle,
        "events": [{**bundle["events"][0], "state": base64.b64encode(b"{}").decode()}],
    }
    assert verify_bundle(forged) != []


def _uuid_bytes(text: str) -> bytes:
    from uuid import UUID

    return UUID(text).bytes


def test_the_latest_proof_with_a_consistency_link(
    module_api: Api, module_client: TestClient, export: Any
) -> None:
    older = export["checkpoint"]
    other = module_api.create(USER_A)
    newer = sealed(module_client, other["_position"])
    url = f"/api/exports/{export['export_id']}/proof?since={older['tree_size']}"
    bundle = module_client.get(url, headers=ADMIN).json()
    assert bundle["checkpoint"]["tree_size"] >= newer["tree_size"] > older["tree_size"]
    assert bundle["consistency"][0]["from"] == older
    assert verify_bundle(bundle) == []
    late = module_client.get(f"{url}&tree_size={older['tree_size'] - 1 or 1}", headers=ADMIN)
    assert late.status_code in (404, 422)
    assert late.headers["content-type"].startswith("application/problem+json")


def test_consistency_between_two_checkpoints(
    module_api: Api, module_client: TestClient, export: Any
) -> None:
    older = export["checkpoint"]
    newer = sealed(module_client, module_api.create(USER_B)["_position"])
    url = f"/api/ledger/consistency?from={older['tree_size']}&to={newer['tree_size']}"
    body = module_client.get(url, headers=USER_B).json()
    assert body["from"] == older and body["to"] == newer
    proof = [bytes.fromhex(p) for p in body["proof"]]
    assert merkle.verify_consistency(
        older["tree_size"], newer["tree_size"], proof,
        bytes.fromhex(older["root"]), bytes.fromhex(newer["root"]),
    )  # fmt: skip
    same = module_client.get(
        f"/api/ledger/consistency?from={older['tree_size']}&to={older['tree_size']}", headers=ADMIN
    )
    assert same.json()["proof"] == []
    backwards = f"/api/ledger/consistency?from={newer['tree_size']}&to={older['tree_size']}"
    assert_problem(module_client.get(backwards, headers=ADMIN), 422)
    assert_problem(
        module_client.get("/api/ledger/consistency?from=1&to=999999", headers=ADMIN), 404
    )
    assert_problem(module_client.get("/api/ledger/consistency?from=0&to=1", headers=ADMIN), 422)
    assert_problem(module_client.get("/api/ledger/consistency?to=1", headers=ADMIN), 422)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("/api/ledger/public-key", (200, 200, 200)),
        ("/api/ledger/checkpoint", (200, 200, 200)),
        ("/api/ledger/consistency?from=1&to=1", (200, 200, 200)),
        ("/api/exports/{id}/proof", (200, 404, 200)),
    ],
)
def test_auth_matrix(
    module_client: TestClient, export: Any, route: str, expected: tuple[int, ...], caller: str
) -> None:
    response = module_client.get(route.format(id=export["export_id"]), headers=CALLERS[caller])
    if caller == "no token":
        assert_problem(response, 401)
        return
    status = dict(zip(("owner", "other", "admin"), expected, strict=True))[caller]
    if status == 200:
        assert response.status_code == 200, response.text
        return
    # someone else's export: exactly the answer for an export that does not exist
    problem = assert_problem(response, status)
    unknown = "exp_" + "0" * 26
    nobody = assert_problem(module_client.get(route.format(id=unknown), headers=ADMIN), status)
    assert problem == {**nobody, "detail": nobody["detail"].replace(unknown, export["export_id"])}


def test_a_proof_of_an_unknown_export_is_a_404(module_client: TestClient) -> None:
    for export_id in ("exp_" + "0" * 26, "not-an-id"):
        assert_problem(module_client.get(f"/api/exports/{export_id}/proof", headers=ADMIN), 404)


def test_no_checkpoint_yet_is_a_404(client: TestClient) -> None:
    """A fresh database, before the sealer's first checkpoint (projector off)."""
    for path in ("/api/ledger/checkpoint", "/api/ledger/public-key"):
        assert_problem(client.get(path, headers=USER_A), 404)


@pytest.fixture
def client(make_app: Any) -> Any:
    with TestClient(make_app(run_projector=False)) as test_client:
        yield test_client
