"""Offline receipts: GET /api/exports/{id}/receipt (a c2sp.org/tlog-proof per event with
two witnesses' cosignatures) and `verify-proof FILE --vkey ... --witness ... --k N`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api.cli.main import app as cli
from domain.tlog import notes
from domain.tlog import proof as tlog_proof
from tests.e2e.helpers import USER_A, USER_B, assert_problem, completion, export_body, token
from tests.witness_servers import Running, witnessed_api

ORIGIN = "ledger.test/receipts"
runner = CliRunner()


@pytest.fixture(scope="module")
def served(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[Running], str]]:
    data = tmp_path_factory.mktemp("data")
    with witnessed_api(module_database_url, data, ORIGIN) as (url, running, key):
        yield url, running, notes.VerifierKey.of(ORIGIN, key.public_key).text()


@pytest.fixture(scope="module")
def receipt(served: tuple[str, list[Running], str]) -> dict[str, Any]:
    url = served[0]
    with httpx.Client(base_url=url, timeout=30) as client:
        made = client.post("/api/exports", json=export_body(), headers=USER_A)
        export_id = made.json()["export_id"]
        client.patch(f"/api/exports/{export_id}", json={"status": "processing"}, headers=USER_A)
        done = client.patch(f"/api/exports/{export_id}", json=completion(), headers=USER_A)
        position = int(done.headers["X-Ledger-Position"])
        deadline = time.monotonic() + 30
        while True:
            answer = client.get(f"/api/exports/{export_id}/receipt", headers=USER_A)
            body: dict[str, Any] = answer.json()
            if answer.status_code == 200 and body["witnessed"] and not body["unsealed"]:
                if max(p["position"] for p in body["proofs"]) >= position:
                    return body
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)


def verify_file(path: Path, *args: str) -> Any:
    return runner.invoke(cli, ["verify-proof", str(path), *args])


def test_a_receipt_has_a_cosigned_tlog_proof_per_event(
    receipt: dict[str, Any], served: tuple[str, list[Running], str]
) -> None:
    assert receipt["origin"] == ORIGIN and len(receipt["proofs"]) == 3
    assert sorted(receipt["witnesses"]) == sorted(r.witness.key.text() for r in served[1])
    proof = tlog_proof.parse(receipt["proofs"][0]["proof"])
    assert tlog_proof.problems(proof, *_policy(served)) == []
    with httpx.Client(base_url=served[0], timeout=30) as client:
        other = client.get(f"/api/exports/{receipt['export_id']}/receipt", headers=USER_B)
    assert_problem(other, 404)


def _policy(served: tuple[str, list[Running], str]) -> tuple[Any, list[Any], int]:
    return notes.VerifierKey.parse(served[2]), [r.witness.key for r in served[1]], 2


def test_verify_proof_checks_a_receipt_offline_under_a_witness_policy(
    receipt: dict[str, Any], served: tuple[str, list[Running], str], tmp_path: Path
) -> None:
    saved = tmp_path / "receipt.json"
    saved.write_text(json.dumps(receipt))
    w1, w2 = (r.witness.key.text() for r in served[1])
    good = verify_file(saved, "--vkey", served[2], "--witness", w1, "--witness", w2)
    assert good.exit_code == 0, good.output
    assert "3 events of" in good.stdout and "at least 2 of 2" in good.stdout
    single = tmp_path / "event.tlog-proof"
    single.write_text(receipt["proofs"][0]["proof"])
    assert verify_file(single, "--vkey", served[2], "--witness", w1, "--k", "1").exit_code == 0
    stranger = notes.VerifierKey.of("witness.test/other", bytes(32), notes.COSIGNATURE_V1).text()
    refused = verify_file(saved, "--vkey", served[2], "--witness", stranger)
    assert refused.exit_code == 1 and "0 of the trusted witnesses" in refused.output


def test_verify_proof_refuses_a_tampered_receipt_and_bad_options(
    receipt: dict[str, Any], served: tuple[str, list[Running], str], tmp_path: Path
) -> None:
    proof = tlog_proof.parse(receipt["proofs"][1]["proof"])
    forged = tlog_proof.TlogProof(
        proof.extra[:-1] + b"!", proof.index, proof.path, proof.checkpoint
    )
    tampered = {**receipt, "proofs": [{**receipt["proofs"][1], "proof": forged.render()}]}
    saved = tmp_path / "tampered.json"
    saved.write_text(json.dumps(tampered))
    result = verify_file(saved, "--vkey", served[2])
    assert result.exit_code == 1 and "not included" in result.output
    single = tmp_path / "event.tlog-proof"
    single.write_text(receipt["proofs"][0]["proof"])
    assert verify_file(single).exit_code == 2  # no --vkey
    assert verify_file(single, "--vkey", "nonsense").exit_code == 2
    assert verify_file(single, "--vkey", served[2], "--k", "1").exit_code == 2
    (tmp_path / "junk").write_text("c2sp.org/tlog-proof@v1\nindex x\n\n")
    assert verify_file(tmp_path / "junk", "--vkey", served[2]).exit_code == 1


def test_the_console_shows_the_export_and_the_ledger_witnessed(
    receipt: dict[str, Any], served: tuple[str, list[Running], str]
) -> None:
    with httpx.Client(base_url=served[0], timeout=30) as client:
        signed_in = client.post("/ui/sign-in", data={"token": token("user-a")})
        assert signed_in.status_code in (200, 303), signed_in.text
        page = client.get(f"/ui/exports/{receipt['export_id']}")
        assert page.status_code == 200, page.text
        assert (
            'badge-completed">witnessed</span>' in page.text
            and "2 of 2 witnesses cosigned" in page.text
        )
    with httpx.Client(base_url=served[0], timeout=30) as admin:
        admin.post("/ui/sign-in", data={"token": token("admin-1", admin=True)})
        ledger = admin.get("/ui/ledger")
        assert ledger.status_code == 200, ledger.text
        assert (
            "witness.test/w1" in ledger.text and 'badge-completed">witnessed</span>' in ledger.text
        )
