"""Exported files bound to the ledger: the ``Completed`` event records a file's
SHA-256 and size, and each ``Downloaded`` event the checksum that was served. An
export imported with its file (an ``Imported`` event, status completed or expired)
has its size recorded there, without a checksum.

:func:`check_file` compares a file on disk with an export's completion
(``export-ledger verify-file``); :class:`DownloadCheck`, fed every event in log
order by ``export-ledger verify``'s log pass, finds downloads whose checksum is
not the completed file's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from domain.exports.views import HistoryEntry
from domain.topics import export_event

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

    def mismatches(self) -> list[str]:
        found = []
        if self.recorded_sha256 is not None and self.sha256 != self.recorded_sha256:
            found.append(f"sha256 is {self.sha256}, the ledger records {self.recorded_sha256}")
        if self.size != self.recorded_size:
            found.append(f"size is {self.size:,} bytes, the ledger records {self.recorded_size:,}")
        return found


def completion(history: Sequence[HistoryEntry]) -> HistoryEntry | None:
    """The export's latest ``Completed`` event (or ``Imported`` with a file), if any."""
    completed = [entry for entry in history if _completes(entry.type, entry.data)]
    return completed[-1] if completed else None


def _completes(kind: str, data: dict[str, Any]) -> bool:
    return kind == "Completed" or (kind == "Imported" and data.get("status") in _WITH_FILE)


_WITH_FILE = ("completed", "expired")


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


COMPLETED = export_event("Completed")
IMPORTED = export_event("Imported")
DOWNLOADED = export_event("Downloaded")
TOPICS = frozenset({COMPLETED, IMPORTED, DOWNLOADED})
Add = Callable[[int, str, str], None]


class DownloadCheck:
    """Each download that names a checksum, against its export's latest completion
    before it. Fed the ``Completed`` and ``Downloaded`` events in log order (an
    export's events are in version order there), it keeps one entry per completed
    export and reports (position, "download", message) through ``add``."""

    def __init__(self, add: Add) -> None:
        self._add = add
        self._completed: dict[bytes, tuple[int, str | None]] = {}

    def see(self, position: int, aggregate: bytes, topic: str, state: bytes) -> None:
        if topic == IMPORTED:
            if _status(state) in _WITH_FILE:
                self._completed[aggregate] = (position, None)  # imported: no checksum
            return
        checksum = _checksum(state)
        if topic == COMPLETED:
            self._completed[aggregate] = (position, checksum)
            return
        if checksum is None:
            return
        completed_at, recorded = self._completed.get(aggregate, (None, None))
        if completed_at is None:
            message = f"a download of checksum {checksum} follows no completion"
        elif recorded is None:
            message = (
                f"a download of checksum {checksum}, but the completion at position "
                f"{completed_at} recorded no checksum"
            )
        elif recorded != checksum:
            message = (
                f"the download served checksum {checksum}, but the file completed at "
                f"position {completed_at} has {recorded}"
            )
        else:
            return
        self._add(position, "download", message)


def _status(state: bytes) -> str | None:
    try:
        value = orjson.loads(state).get("status")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _checksum(state: bytes) -> str | None:
    """The event's ``file_sha256``; None if it has none (or no longer parses: the
    leaf check reports a changed event)."""
    try:
        value = orjson.loads(state).get("file_sha256")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None
