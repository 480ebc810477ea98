"""Exported files bound to the ledger: the ``Completed`` event records a file's
SHA-256 and size, and each ``Downloaded`` event the checksum that was served.

:func:`check_file` compares a file on disk with an export's completion
(``export-ledger verify-file``); :func:`download_problems` finds downloads whose
checksum is not the completed file's (reported by ``export-ledger verify``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from domain.views import HistoryEntry
from projections.changes import EXPORT_TOPIC_PREFIX
from projections.store import EVENTS_TABLE
from sql import query

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileCheck:
    """The outcome of comparing a file with an export's completion."""

    export_id: str
    position: int | None  # the Completed event's
    recorded_sha256: str | None
    recorded_size: int | None
    sha256: str
    size: int

    @property
    def checkable(self) -> bool:
        """The ledger holds a checksum to compare with."""
        return self.recorded_sha256 is not None

    @property
    def matches(self) -> bool:
        return self.sha256 == self.recorded_sha256 and self.size == self.recorded_size

    def mismatches(self) -> list[str]:
        found = []
        if self.recorded_sha256 is not None and self.sha256 != self.recorded_sha256:
            found.append(f"sha256 is {self.sha256}, the ledger records {self.recorded_sha256}")
        if self.size != self.recorded_size:
            found.append(f"size is {self.size:,} bytes, the ledger records {self.recorded_size:,}")
        return found


def completion(history: Sequence[HistoryEntry]) -> HistoryEntry | None:
    """The export's latest ``Completed`` event, if it was ever completed."""
    completed = [entry for entry in history if entry.type == "Completed"]
    return completed[-1] if completed else None


def file_digest(path: Path, on_bytes: Callable[[int], None] = lambda _: None) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in chunks. Raises OSError."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            on_bytes(len(chunk))
    return digest.hexdigest(), size


def check_file(export_id: str, completed: HistoryEntry, sha256: str, size: int) -> FileCheck:
    recorded_size = completed.data.get("file_size")
    return FileCheck(
        export_id=export_id,
        position=completed.position,
        recorded_sha256=completed.data.get("file_sha256"),
        recorded_size=int(recorded_size) if recorded_size is not None else None,
        sha256=sha256,
        size=size,
    )


def download_problems(conn: psycopg.Connection[Any]) -> Iterator[tuple[int, str, str]]:
    """(position, "download", message) for each download whose checksum differs from
    the completed file's. Needs a connection that may read the stored events."""
    statement = sql.SQL(query("artifacts", "download_mismatches")).format(
        events=sql.Identifier(EVENTS_TABLE)
    )
    topics = {
        "completed": EXPORT_TOPIC_PREFIX + "Completed",
        "downloaded": EXPORT_TOPIC_PREFIX + "Downloaded",
    }
    for position, completed_at, served, recorded in conn.execute(statement, topics):
        if completed_at is None:
            message = f"a download of checksum {served} follows no completion"
        elif recorded is None:
            message = (
                f"a download of checksum {served}, but the completion at position "
                f"{completed_at} recorded no checksum"
            )
        else:
            message = (
                f"the download served checksum {served}, but the file completed at position "
                f"{completed_at} has {recorded}"
            )
        yield int(position), "download", message
