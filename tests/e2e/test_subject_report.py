"""GET /api/subjects/{user_id}/report: the subject's events, opened, in the audit
export's format; checkable against a signed checkpoint, opened values included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from projections.audit.export_check import check_export, read_lines
from projections.tlog.checkpoints import checkpoint
from sql.names import ADMIN_ROLE
from tests.e2e.helpers import ADMIN, USER_A, USER_B, Api, assert_problem, completion
from tests.e2e.test_ledger_routes import sealed
from tests.integration.readmodel_helpers import run_cli

URL = "/api/subjects/user-a/report"
FILE = "https://storage.example.com/exports/user-a-report.jsonl"


def _check(url: str, text: str, tree_size: int) -> Any:
    with psycopg.connect(url, options=f"-c role={ADMIN_ROLE}") as conn:
        signed = checkpoint(conn, tree_size)
        assert signed is not None
        return check_export(conn, read_lines(text.splitlines(keepends=True)), signed)


def test_the_subject_report(
    api: Api, client: TestClient, database_url: str, tmp_path: Path
) -> None:
    mine = api.create(USER_A, config={"note": "user-a secret"})["export_id"]
    api.advance(mine, "processing")
    api.patch(mine, completion(file_url=FILE), ADMIN)
    theirs = api.create(USER_B)
    assert_problem(client.get(URL, headers=USER_B), 403)
    cp = sealed(client, theirs["_position"])

    response = client.get(URL, headers=USER_A)
    assert response.status_code == 200, response.text
    records = [json.loads(line) for line in response.text.splitlines()]
    assert {r["export_id"] for r in records} == {mine}
    assert records[0]["opened"]["user_id"] == "user-a"
    assert records[0]["opened"]["config"] == {"note": "user-a secret"}
    assert any(r["opened"].get("file_url") == FILE for r in records)
    assert all(r["subject_key"] for r in records)
    report = _check(database_url, response.text, cp["tree_size"])
    assert report.ok and report.lines == len(records), report.problems.sorted()

    saved = tmp_path / "report.jsonl"
    saved.write_text(response.text)
    offline = run_cli(database_url, "verify-export", str(saved))
    assert offline.returncode == 0, offline.stdout + offline.stderr

    forged = response.text.replace("user-a secret", "user-a forged", 1)
    bad = _check(database_url, forged, cp["tree_size"])
    assert not bad.ok and "opened config" in bad.problems.sorted()[0].message

    erased = client.post("/api/subjects/user-a/erasure", headers=ADMIN)
    assert erased.status_code == 201
    after = client.get(URL, headers=ADMIN)
    records = [json.loads(line) for line in after.text.splitlines()]
    assert "user-a secret" not in after.text and FILE not in after.text
    assert records[0]["opened"]["config"] == {"erased": True}
    assert records[-1]["type"] == "Erased"
    assert not any("subject_key" in r for r in records)
    cp = sealed(client, int(erased.headers["X-Ledger-Position"]))
    report = _check(database_url, after.text, cp["tree_size"])
    assert report.ok, report.problems.sorted()
