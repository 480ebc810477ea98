"""Retention from the command line: policies set, listed and removed; ``retain`` sheds
the exports past them, skips and lists a held one, and counts old-format ones."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from domain.ledger.application import ExportLedger
from domain.privacy import SHED_TEXT
from tests.integration.readmodel_helpers import catch_up, live_rows, run_cli

EXPIRED = datetime.now(UTC) - timedelta(hours=2)


def _completed(ledger: ExportLedger) -> str:
    export_id = ledger.request_export(
        user_id="u1", format="csv", config={}, conversation_count=1
    ).export_id
    ledger.start_processing(export_id)
    ledger.complete(export_id, file_size=1, file_url="s3://x/secret.csv", expires_at=EXPIRED)
    return export_id


def test_retain_sheds_due_exports_and_skips_a_held_one(
    ledger: ExportLedger, database_url: str
) -> None:
    shed, held, other = _completed(ledger), _completed(ledger), _completed(ledger)
    hold_id, _ = ledger.place_hold(held, matter="M-9", actor="ops")
    ledger.request_export(user_id="u1", format="json", config={}, conversation_count=1)

    made = run_cli(
        database_url, "retention", "set", "--after", "1h", "--from", "expiry", "--format", "csv"
    )
    assert made.returncode == 0, made.stderr
    policy_id = re.search(r"ret_[0-9A-Z]{26}", made.stdout)
    assert policy_id, made.stdout
    listed = json.loads(run_cli(database_url, "retention", "list", "--json").stdout)
    assert [(p["policy_id"], p["after"], p["from"], p["format"]) for p in listed] == [
        (policy_id.group(0), "1h", "expiry", "csv")
    ]
    applies = run_cli(database_url, "retention", "list", "--export", shed)
    assert policy_id.group(0) in applies.stdout and "due at" in applies.stdout

    dry = run_cli(database_url, "retain", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert sorted(json.loads(dry.stdout)["applied"]) == sorted([shed, other])

    done = run_cli(database_url, "retain")
    assert done.returncode == 0, done.stderr
    assert "applied retention to 2 exports" in done.stdout
    assert "sealed before export keys" not in done.stdout  # new exports have their keys
    assert f"{held} hold {hold_id} (matter 'M-9')" in done.stdout

    catch_up(database_url)
    rows = {r["export_id"]: r for r in live_rows(database_url).values()}
    assert rows[shed]["file_url"] == SHED_TEXT and rows[held]["file_url"] == "s3://x/secret.csv"
    assert (
        "was shed by retention policy"
        in run_cli(database_url, "retention", "list", "--export", shed).stdout
    )
    hold = run_cli(database_url, "hold", "place", shed, "--matter", "late")
    assert hold.returncode == 2 and "place a legal hold" in hold.stderr
    again = run_cli(database_url, "retain")
    assert "applied retention to 0 exports" in again.stdout
    verified = run_cli(database_url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "2 exports shed by retention\n" in verified.stdout

    removed = run_cli(database_url, "retention", "remove", policy_id.group(0))
    assert removed.returncode == 0, removed.stderr
    assert json.loads(run_cli(database_url, "retention", "list", "--json").stdout) == []


def test_bad_input_is_one_line_and_exit_2(database_url: str) -> None:
    for args in (
        ("retention", "set", "--after", "9x", "--from", "expiry"),
        ("retention", "set", "--after", "0d", "--from", "expiry"),
        ("retention", "set", "--after", "9d", "--from", "birth"),
        ("retention", "set", "--after", "9d", "--from", "expiry", "--status", "gone"),
        ("retention", "remove", "ret_nope"),
        ("retention", "list", "--export", "exp_nope"),
    ):
        done = run_cli(database_url, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
