"""The ledger page's exports-by-status counts: counted once, then recounted in the background."""

from __future__ import annotations

import threading
import time

from api.http.console.counts import StatusCounts


def test_first_view_counts_then_stale_views_do_not_wait() -> None:
    calls: list[int] = []
    release = threading.Event()

    def count() -> list[tuple[str, int]]:
        calls.append(1)
        if len(calls) > 1:
            release.wait(5)  # a slow recount
        return [("queued", len(calls))]

    counts = StatusCounts(max_age=0.0)
    assert counts.get(count).counts == [("queued", 1)]
    time.sleep(0.01)
    started = time.monotonic()
    assert counts.get(count).counts == [("queued", 1)]  # stale, but at once
    assert counts.get(count).counts == [("queued", 1)]  # one recount at a time
    assert time.monotonic() - started < 1
    release.set()
    for _ in range(100):
        if counts.get(count).counts != [("queued", 1)]:
            break
        time.sleep(0.01)
    assert counts.get(count).counts[0][1] >= 2
