"""The demo's history spread over past weeks: each event recorded at a plausible earlier time.

Only ``export-ledger demo`` does this, and it says so. The events of an export are
timestamped by the event sourcing library when they are triggered; :func:`recorded_at`
makes the library's clock read the demo's :class:`DemoClock` for as long as the seeding
runs, and the clock is moved before each step of an export's life (requested at a random
moment of the span, then processed minutes later, completed, downloaded within days...),
never past the real present.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import eventsourcing.domain

_LIBRARY_CLOCK = "datetime_now_with_tzinfo"
# How long after the step before each step happens: (shortest, longest) in seconds.
_AFTER = {
    "start": (30, 30 * 60),
    "complete": (5 * 60, 3 * 3600),
    "due": (5 * 60, 3 * 3600),
    "fail": (60, 3600),
    "retry": (3600, 2 * 86400),
    "download": (600, 3 * 86400),
    "expire": (86400, 14 * 86400),
    "delete": (3600, 7 * 86400),
}


class DemoClock:
    """The time the library gives the next event: set by the demo, or the real one."""

    def __init__(self, span: timedelta | None) -> None:
        self.span = span
        self.moment: datetime | None = None

    def __call__(self) -> datetime:
        return self.moment or datetime.now(UTC)

    def begin(self, rng: random.Random) -> datetime:
        """An export's request time: a random moment of the span (now without one)."""
        if self.span is None:
            self.moment = None
            return datetime.now(UTC)
        self.moment = datetime.now(UTC) - self.span * rng.random()
        return self.moment

    def step(self, step: str, rng: random.Random) -> datetime:
        """The time of an export's next step, a plausible while after its last one."""
        if self.moment is None:
            return datetime.now(UTC)
        shortest, longest = _AFTER.get(step, (60, 3600))
        later = self.moment + timedelta(seconds=rng.uniform(shortest, longest))
        self.moment = min(later, datetime.now(UTC))
        return self.moment


@contextmanager
def recorded_at(clock: DemoClock) -> Iterator[None]:
    """The library's event clock reads ``clock`` inside the block."""
    original = getattr(eventsourcing.domain, _LIBRARY_CLOCK)
    setattr(eventsourcing.domain, _LIBRARY_CLOCK, clock)
    try:
        yield
    finally:
        setattr(eventsourcing.domain, _LIBRARY_CLOCK, original)
