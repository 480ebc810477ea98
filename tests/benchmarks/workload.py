"""What the benchmarks write: ledger commands, and the rows of the raw baselines."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from domain import topics
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger

RAW_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, payload text NOT NULL)"
)
RAW_INSERT = "INSERT INTO bench_raw (payload) VALUES (%s)"


def payload(size: int, rng: random.Random) -> str:
    return f"{rng.getrandbits(size * 4):0{size}x}"[:size]


def lifecycles(ledger: ExportLedger, rng: random.Random) -> Iterator[ExportState]:
    """Endless commands, one transaction each: request, start, complete, request..."""
    while True:
        user = f"user-{rng.randrange(20_000):05d}"
        count = rng.randint(1, 5000)
        state = ledger.request_export(
            user_id=user,
            format="csv",
            config={"scope": "all", "include_metadata": True},
            conversation_count=count,
        )
        yield state
        yield ledger.start_processing(state.export_id)
        yield ledger.complete(
            state.export_id,
            file_size=count * 1500,
            file_url=f"https://storage.example.com/exports/{state.export_id}.csv",
            expires_at=datetime.now(UTC) + timedelta(days=7),
            file_sha256=f"{rng.getrandbits(256):064x}",
            row_count=count,
        )


# -- COPY baseline: rows shaped like export_logs rows ----------------------------

COPY_COLUMNS = (
    'id, export_id, user_id, "timestamp", format, config, conversation_count, file_size, '
    "status, file_url, expires_at, error_message, created_at, updated_at, version, position"
)


def export_log_copy_chunks(rows: int, rng: random.Random, chunk: int = 10_000) -> list[bytes]:
    """COPY text of ``rows`` export_logs-like rows, in id order (as the rebuild writes)."""
    ids = sorted((uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(rows)), key=str)
    now = datetime.now(UTC)
    chunks, lines = [], []
    for n, id_ in enumerate(ids, start=1):
        export_id = f"exp_{id_.hex[:26]}"
        created = (now - timedelta(seconds=rng.randrange(604_800))).isoformat()
        count = rng.randint(1, 5000)
        lines.append(
            f"{id_}\t{export_id}\tuser-{rng.randrange(20_000):05d}\t{created}\tcsv\t"
            '{"scope": "all", "include_metadata": true}\t'
            f"{count}\t{count * 1500}\tcompleted\t"
            f"https://storage.example.com/exports/{export_id}.csv\t"
            f"{(now + timedelta(days=7)).isoformat()}\t\\N\t{created}\t{created}\t3\t{n}\n"
        )
        if len(lines) == chunk:
            chunks.append("".join(lines).encode())
            lines = []
    if lines:
        chunks.append("".join(lines).encode())
    return chunks


# -- batched INSERT baseline: rows shaped like stored events ----------------------

EVENT_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_events (id bigserial PRIMARY KEY, "
    "originator_id uuid NOT NULL, originator_version integer NOT NULL, "
    "topic text NOT NULL, state bytea NOT NULL, UNIQUE (originator_id, originator_version))"
)
EVENT_INSERT = (
    "INSERT INTO bench_events (originator_id, originator_version, topic, state) "
    "VALUES (%s, %s, %s, %s)"
)
EventRow = tuple[uuid.UUID, int, str, bytes]


def event_batches(
    rows: int, per_transaction: int, state_bytes: int, rng: random.Random
) -> list[list[EventRow]]:
    """``rows`` event-like rows (about four per aggregate), in batches."""
    state = payload(state_bytes, rng).encode()
    flat: list[EventRow] = []
    while len(flat) < rows:
        originator = uuid.UUID(int=rng.getrandbits(128), version=4)
        flat.extend((originator, v, topics.export_event("Event"), state) for v in range(1, 5))
    del flat[rows:]
    return [flat[i : i + per_transaction] for i in range(0, rows, per_transaction)]
