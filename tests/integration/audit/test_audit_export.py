"""``audit-export`` and ``verify-export``: the compliance export, checked against
a signed checkpoint whole, as a prefix, a range or filtered; tampered lines named."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from typer.testing import CliRunner, Result

from api.cli.main import app
from api.wiring.signing import Ed25519Signer
from domain.ledger.application import ExportLedger
from projections.audit import export as audit
from projections.tlog.sealer import row_leaf_hash
from tests.integration.tlog.test_seal import populate, seal_all, stored_events

runner = CliRunner()


def cli(url: str, data_dir: Path, *args: str) -> Result:
    env = {"EXPORT_LEDGER_DATABASE_URL": url, "EXPORT_LEDGER_DATA_DIR": str(data_dir)}
    return runner.invoke(app, list(args), env=env)


@pytest.fixture
def exports(ledger: ExportLedger, database_url: str, signer: Ed25519Signer) -> dict[str, str]:
    found = populate(ledger, database_url)
    seal_all(database_url, signer, batch=5)
    return found


def export_lines(url: str, tmp_path: Path, *args: str, name: str = "audit.jsonl") -> Path:
    path = tmp_path / name
    result = cli(url, tmp_path, "audit-export", "--output", str(path), *args)
    assert result.exit_code == 0, result.output
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check(url: str, tmp_path: Path, path: Path, *args: str) -> Result:
    return cli(url, tmp_path, "verify-export", str(path), *args)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_full_export_carries_every_event_and_reproduces_the_root(
    exports: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    path = export_lines(database_url, tmp_path)
    lines = records(path)
    stored = stored_events(database_url)
    assert [r["position"] for r in lines] == [e[0] for e in stored]
    assert [r["leaf_hash"] for r in lines] == [row_leaf_hash(e).hex() for e in stored]
    first = lines[0]
    # As stored: the personal fields sealed under the subject's key (domain/privacy).
    assert first["type"] == "Requested" and "_sealed_" in first["actor"]
    assert "_sealed_" in first["data"]["user_id"] and first["data"]["subject"]
    assert first["export_id"] == exports["downloaded"] == first["data"]["export_id"]
    assert all(r["export_id"] for r in lines)
    result = check(database_url, tmp_path, path, "--checkpoint", "17", "--gapless")
    assert result.exit_code == 0, result.output
    assert "reproduce its signed root" in flat(result.stdout)


def test_csv_exports_check_too(exports: dict[str, str], database_url: str, tmp_path: Path) -> None:
    path = export_lines(database_url, tmp_path, name="audit.csv")
    text = path.read_text()
    assert text.splitlines()[0] == ",".join(audit.COLUMNS) and len(text.splitlines()) == 18
    assert check(database_url, tmp_path, path).exit_code == 0
    tampered = tmp_path / "tampered.csv"
    tampered.write_text(text.replace('""conversation_count"":', '""conversation_count"":1', 1))
    result = check(database_url, tmp_path, tampered)
    assert result.exit_code == 1 and "first bad position: 1:" in flat(result.stderr)


@pytest.mark.parametrize(
    ("args", "mode"),
    [
        (("--to", "9"), "consistent with the signed one"),
        (("--from", "5", "--to", "12"), "proved included"),
        (("--user-id", "B"), "proved included"),
        (("--type", "Completed"), "proved included"),
    ],
)
def test_prefixes_ranges_and_filters_check_against_a_later_checkpoint(
    exports: dict[str, str], database_url: str, tmp_path: Path, args: tuple[str, ...], mode: str
) -> None:
    path = export_lines(database_url, tmp_path, *args)
    lines = records(path)
    assert lines and all(r["position"] <= 12 or "--to" not in args for r in lines)
    if "--user-id" in args:
        assert {r["export_id"] for r in lines} == {exports["retried"], exports["deleted"]}
    if "--type" in args:
        assert {r["type"] for r in lines} == {"Completed"}
    result = check(database_url, tmp_path, path)
    assert result.exit_code == 0, result.output
    assert mode in flat(result.stdout)


def test_lines_after_the_checkpoint_are_counted_not_checked(
    exports: dict[str, str], ledger: ExportLedger, database_url: str, tmp_path: Path
) -> None:
    ledger.record_download(exports["downloaded"], actor="A")
    path = export_lines(database_url, tmp_path)
    result = check(database_url, tmp_path, path, "--checkpoint", "17")
    assert result.exit_code == 0, result.output
    assert "17 covered by the checkpoint of size 17" in flat(result.stdout)
    assert "1 after it" in flat(result.stdout)


def rewrite(path: Path, position: int, change: Any) -> Path:
    lines = records(path)
    for record in lines:
        if record["position"] == position:
            change(record)
    out = path.with_name("tampered.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return out


def reforge(record: dict[str, Any]) -> None:
    """Change the stored state and recompute everything the line derives from it."""
    state = base64.b64decode(record["state"]).replace(b'"worker"', b'"mallory"')
    fresh = audit.describe(
        record["position"], UUID(record["aggregate_id"]).bytes,
        record["version"], record["topic"], state, record["export_id"],
    )  # fmt: skip
    record.update(fresh)


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        (lambda r: r.update(actor="mallory"), "line"),
        (lambda r: r["data"].update(file_sha256="00" * 32), "line"),
        (lambda r: r.update(leaf_hash="00" * 32), "line"),
        (lambda r: r.update(export_id="exp_" + "1" * 26), "line"),
        (reforge, "changed"),
    ],
)
def test_a_tampered_line_is_named_by_its_position(
    exports: dict[str, str], database_url: str, tmp_path: Path, change: Any, kind: str
) -> None:
    path = export_lines(database_url, tmp_path)
    position = next(r["position"] for r in records(path) if r["type"] == "Completed")
    for args in ((), ("--from", "2")):
        source = export_lines(database_url, tmp_path, *args) if args else path
        result = check(database_url, tmp_path, rewrite(source, position, change))
        assert result.exit_code == 1, result.output
        assert f"first bad position: {position}:" in flat(result.stderr)
        assert f"({kind})" in result.stderr


def test_a_removed_line_is_caught_when_the_export_is_gapless(
    exports: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    path = export_lines(database_url, tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:5] + lines[6:]))
    assert check(database_url, tmp_path, cut).exit_code == 0  # could be a filtered export
    result = check(database_url, tmp_path, cut, "--gapless")
    assert result.exit_code == 1
    assert "first bad position: 7:" in flat(result.stderr) and "(missing)" in result.stderr


def test_bad_input(exports: dict[str, str], database_url: str, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"position": 1}\nnot json\n')
    result = check(database_url, tmp_path, garbage)
    assert result.exit_code == 1 and "(malformed)" in result.stderr
    assert check(database_url, tmp_path, tmp_path / "missing.jsonl").exit_code == 2
    assert check(database_url, tmp_path, garbage, "--checkpoint", "99").exit_code == 2
    assert cli(database_url, tmp_path, "audit-export", "--from", "5", "--to", "2").exit_code == 2
    assert cli(database_url, tmp_path, "audit-export", "--type", "Nope").exit_code == 2


def test_the_export_reads_as_admin(database_url: str) -> None:
    """The reader role may not read stored events; the export's role may."""
    with psycopg.connect(database_url, options="-c role=export_ledger_admin") as conn:
        assert audit.count(conn, audit.AuditFilters()) == 0
