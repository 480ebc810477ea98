"""Files bound to the ledger: ``verify-file`` against the Completed event, and
``verify`` naming a download whose checksum is not the completed file's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from api.cli.main import app
from domain.ledger.application import ExportLedger
from projections.audit.verify import verify
from projections.db.database import Database
from tests.integration.helpers import request

runner = CliRunner()
CONTENT = b'{"conversation": 1}\n{"conversation": 2}\n'


def cli(url: str, data_dir: Path, *args: str) -> Result:
    env = {"EXPORT_LEDGER_DATABASE_URL": url, "EXPORT_LEDGER_DATA_DIR": str(data_dir)}
    return runner.invoke(app, list(args), env=env)


def completed(ledger: ExportLedger, content: bytes = CONTENT, sha: str | None = None) -> str:
    export_id = request(ledger).export_id
    ledger.start_processing(export_id, actor="worker")
    ledger.complete(
        export_id,
        file_size=len(content),
        file_url="s3://exports/file.jsonl",
        expires_at=datetime.now(UTC) + timedelta(days=1),
        file_sha256=sha if sha is not None else hashlib.sha256(content).hexdigest(),
        actor="worker",
    )
    return export_id


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_bytes(CONTENT)
    return path


def test_the_completed_file_matches(
    ledger: ExportLedger, database_url: str, tmp_path: Path, exported: Path
) -> None:
    export_id = completed(ledger)
    result = cli(database_url, tmp_path, "verify-file", export_id, str(exported))
    assert result.exit_code == 0, result.output
    assert "completed at position 3" in result.stdout
    assert hashlib.sha256(CONTENT).hexdigest() in result.stdout


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (CONTENT.replace(b"1", b"7"), "sha256 is"),  # same size, one byte changed
        (CONTENT + b"\n", "size is"),
        (b"", "size is"),
    ],
)
def test_a_changed_file_is_a_mismatch(
    ledger: ExportLedger, database_url: str, tmp_path: Path, content: bytes, what: str
) -> None:
    export_id = completed(ledger)
    path = tmp_path / "changed.jsonl"
    path.write_bytes(content)
    result = cli(database_url, tmp_path, "verify-file", export_id, str(path))
    assert result.exit_code == 1, result.output
    assert what in result.stderr and "is not the file completed at position 3" in result.stderr


def test_bad_input_exits_2(
    ledger: ExportLedger, database_url: str, tmp_path: Path, exported: Path
) -> None:
    queued = request(ledger).export_id
    unknown = "exp_" + "0" * 26
    cases = [
        ((queued, str(exported)), "never completed"),
        ((unknown, str(exported)), "not found"),
        ((completed(ledger), str(tmp_path / "missing.jsonl")), "not a readable file"),
        ((completed(ledger), str(tmp_path)), "not a readable file"),
    ]
    for args, message in cases:
        result = cli(database_url, tmp_path, "verify-file", *args)
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.stderr.split())


def test_no_recorded_checksum_cannot_be_checked(
    ledger: ExportLedger, database_url: str, tmp_path: Path, exported: Path
) -> None:
    export_id = request(ledger).export_id
    ledger.start_processing(export_id, actor="worker")
    ledger.complete(
        export_id, file_size=len(CONTENT), file_url="s3://x", expires_at=None, actor="worker"
    )
    result = cli(database_url, tmp_path, "verify-file", export_id, str(exported))
    assert result.exit_code == 2 and "records no sha256" in " ".join(result.stderr.split())


def test_verify_names_a_download_of_another_checksum(
    ledger: ExportLedger, database_url: str, tmp_path: Path
) -> None:
    good = completed(ledger)
    right = ledger.record_download(
        good, actor="u1", file_sha256=hashlib.sha256(CONTENT).hexdigest()
    )
    unnamed = ledger.record_download(good, actor="u1")
    wrong = ledger.record_download(good, actor="u1", file_sha256="ee" * 32)
    report = verify(Database(database_url))
    found = [p for p in report.problems.sorted() if p.kind == "download"]
    assert [p.position for p in found] == [wrong.position]
    assert right.position and unnamed.position  # both fine: same checksum, or none named
    assert "ee" * 32 in found[0].message and "position 3" in found[0].message
    result = cli(database_url, tmp_path, "verify")
    assert result.exit_code == 1
    assert f"first bad position: {wrong.position}" in result.stderr


def test_a_download_when_the_completion_recorded_no_checksum(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = request(ledger).export_id
    ledger.start_processing(export_id, actor="worker")
    ledger.complete(export_id, file_size=1, file_url="s3://x", expires_at=None, actor="worker")
    served = ledger.record_download(export_id, actor="u1", file_sha256="ab" * 32)
    found = [p for p in verify(Database(database_url)).problems.sorted() if p.kind == "download"]
    assert [p.position for p in found] == [served.position]
    assert "recorded no checksum" in found[0].message
