"""Exports by status for the ledger page, recounted in the background.

Counting a large read table takes longer than a page may (about 150 ms at
220,000 rows), so the page shows the last count, taken at most ``max_age``
seconds ago, and a stale one starts a recount in a thread instead of waiting.
Only the first view after start-up waits for a count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger("export_ledger.console")
Counts = list[tuple[str, int]]


@dataclass(frozen=True)
class Counted:
    counts: Counts
    at: datetime
    taken: float  # time.monotonic() of the count


class StatusCounts:
    def __init__(self, max_age: float = 15.0) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._last: Counted | None = None
        self._recounting = False

    def get(self, count: Callable[[], Counts]) -> Counted:
        with self._lock:
            last = self._last
            stale = last is not None and time.monotonic() - last.taken > self.max_age
            recount = stale and not self._recounting
            if recount:
                self._recounting = True
        if last is None:
            return self._store(count())
        if recount:
            threading.Thread(target=self._recount, args=(count,), daemon=True).start()
        return last

    def _recount(self, count: Callable[[], Counts]) -> None:
        try:
            self._store(count())
        except Exception:  # the next view tries again
            log.exception("counting exports by status failed")
        finally:
            with self._lock:
                self._recounting = False

    def _store(self, counts: Counts) -> Counted:
        counted = Counted(
            [(str(s), int(n)) for s, n in counts], datetime.now(UTC), time.monotonic()
        )
        with self._lock:
            self._last = counted
        return counted
