"""``export-ledger import`` of 20,000 (small) or 1,000,000 (full) seed rows, as a
subprocess, against COPY of the same rows in the same run.

The rows are the seed's (``tests/seed_table.py``: UUID ids, the five statuses in
turn, camelCase configs; one ``Imported`` event each) and are written to a COPY file
before anything is timed. The baseline is COPY of that file into the seed-shaped
table (its 14 columns and 7 indexes) in a database of its own, which the import
then reads into an empty ledger; a second baseline, for scale, is COPY into the
same table with only its primary key and unique export_id. The import's rate is
the command's own report (rows / seconds from its first batch to its last, so
not its start-up); it runs a second time on the same source, when every row is
unchanged.

The import runs in its default number of processes (one per CPU, at most 4), each
importing its part of the source in a shared snapshot
(projections/importing/parallel.py). Peak RSS is the largest sum, sampled every 0.2 s,
of the RSS of the command and its import processes.

For comparison, the naive path on the first 2,000 (full: 10,000) rows of the same
source, in the benchmark's process: 500 rows at a time planned without a
``StoredExports`` (one load per row) and saved with the library's ``save()`` (one
INSERT of an array of rows, not COPY).
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from api.wiring.database import ledger_env
from domain.ledger.application import ExportLedger
from projections.importing.source_table import SourceTable
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import checkpoint, count_events, fresh_database, run_cli
from tests.seed_table import COLUMNS, create_table, seed_row

NAME = "import_rows"
ROWS = {"small": 20_000, "full": 1_000_000}
NAIVE_ROWS = {"small": 2_000, "full": 10_000}
_REPORT = re.compile(
    r"([\d,]+) rows of \S+ in [\d.]+ s \(([\d,]+) rows/s(?:, (\d+) processes)?\): "
    r"([\d,]+) created, "
    r"([\d,]+) changed, ([\d,]+) unchanged, ([\d,]+) refused"
)
_COPY = "COPY {} ({}) FROM STDIN"


def run(admin_url: str, scale: str) -> BenchResult:
    rows = ROWS[scale]
    details: dict[str, Any] = {"rows": rows}
    with tempfile.TemporaryDirectory(prefix="el-bench-import-") as tmp:
        data = Path(tmp) / "rows.copy"
        _write_rows(data, rows)
        with fresh_database(admin_url, "bench_import_src", migrated=False) as source:
            details["copy_bare_table"] = _copy(source, data, "bare_logs", indexes=False)
            details["copy_seed_table"] = _copy(source, data, "export_logs", indexes=True)
            with fresh_database(admin_url, "bench_import") as url:
                details["baseline_status"] = {"peak_rss_mb": run_cli(["status"], url).peak_rss_mb}
                details["import"] = _import(url, source)
                details["events"] = count_events(url)
                details["reimport"] = _import(url, source)
            with fresh_database(admin_url, "bench_import_naive") as url:
                details["naive"] = _naive(url, source, NAIVE_ROWS[scale])
    return BenchResult(_figures(details), details)


def _write_rows(path: Path, rows: int) -> None:
    """The rows as COPY text, in chunks (generating them is not timed)."""
    rng, now = random.Random(rows), datetime.now(UTC)
    with path.open("w", encoding="utf-8") as out:
        for _ in range(rows):
            row = seed_row(rng, now)
            out.write("\t".join(_copy_text(k, v) for k, v in row.items()) + "\n")


def _copy_text(column: str, value: Any) -> str:
    if value is None:
        return "\\N"
    if column == "config":
        return json.dumps(value).replace("\\", "\\\\")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy(url: str, data: Path, table: str, *, indexes: bool) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        create_table(conn, table, indexes=indexes)
        conn.commit()
        checkpoint(url)
        started = time.perf_counter()
        name, columns = sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        statement = sql.SQL(_COPY).format(name, columns)
        with conn.cursor() as cur, cur.copy(statement) as copy, data.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(name)).fetchone()
        if not indexes:
            conn.execute(sql.SQL("DROP TABLE {}").format(name))
            conn.commit()
    rows = int(count[0]) if count else 0
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def _import(url: str, source: str) -> dict[str, Any]:
    checkpoint(url)
    run = run_cli(["import", "--from", source], url)
    found = _REPORT.search(run.stdout)
    if not found:
        raise RuntimeError(f"unexpected import output: {run.stdout!r}")
    rows, rate, processes, created, changed, unchanged, refused = (
        int((g or "1").replace(",", "")) for g in found.groups()
    )
    return {
        "rows": rows,
        "rows_per_second": rate,
        "processes": processes,
        "created": created,
        "changed": changed,
        "unchanged": unchanged,
        "refused": refused,
        "process_seconds": run.seconds,
        "peak_rss_mb": run.peak_rss_mb,
        "all_processes_rss_mb": run.tree_rss_mb,
    }


def _naive(url: str, source: str, rows: int) -> dict[str, Any]:
    ledger = ExportLedger(env=ledger_env(url, lock_timeout_seconds=30))
    done = 0
    try:
        checkpoint(url)
        with SourceTable(source, "export_logs") as table:
            started = time.perf_counter()
            for batch in table.batches(500):
                plan = ledger.plan_rows(batch[: rows - done])  # no StoredExports: a load per row
                ledger.save(*plan.exports.values())  # the library's save, not COPY
                done += len(batch)
                if done >= rows:
                    break
            seconds = time.perf_counter() - started
    finally:
        ledger.close()
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def _figures(details: dict[str, Any]) -> list[Figure]:
    rows, imported, again = details["rows"], details["import"], details["reimport"]
    seed_copy, bare_copy = details["copy_seed_table"], details["copy_bare_table"]
    return [
        Figure(
            NAME,
            f"import, {rows:,} seed rows ({details['events']:,} events)",
            imported["rows_per_second"],
            "rows/s",
            f"COPY of {rows:,} rows into the seed's table",
            seed_copy["rows_per_second"],
            targets=(Target("ratio", ">=", 0.25),),
        ),
        Figure(
            NAME,
            f"import, {rows:,} seed rows",
            imported["rows_per_second"],
            "rows/s",
            f"COPY of {rows:,} rows, primary key and export_id only",
            bare_copy["rows_per_second"],
        ),
        Figure(
            NAME,
            f"import, {rows:,} seed rows",
            imported["rows_per_second"],
            "rows/s",
            f"naive sync_rows, first {details['naive']['rows']:,} rows",
            details["naive"]["rows_per_second"],
        ),
        Figure(
            NAME,
            f"import again, {rows:,} unchanged rows",
            again["rows_per_second"],
            "rows/s",
            f"COPY of {rows:,} rows into the seed's table",
            seed_copy["rows_per_second"],
        ),
        Figure(
            NAME,
            f"import peak RSS, {rows:,} rows, all its processes together",
            max(imported["all_processes_rss_mb"], again["all_processes_rss_mb"]),
            "MB",
            "export-ledger status",
            details["baseline_status"]["peak_rss_mb"],
            targets=(Target("value", "<", 300, "MB"),),
        ),
    ]
