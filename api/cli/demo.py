"""Seed a ledger with exports whose lifecycles look like a real week of traffic."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from api.cli.demo_history import DemoClock, recorded_at
from domain.exports.ids import new_export_id
from domain.exports.model import SYSTEM_ACTOR, ExportLog
from domain.exports.values import ExportFormat
from domain.ledger.application import ExportLedger

# (weight, lifecycle): each lifecycle is a list of steps applied in order.
_LIFECYCLES: list[tuple[int, tuple[str, ...]]] = [
    (12, ()),
    (8, ("start",)),
    (8, ("start", "fail")),
    (5, ("start", "fail", "retry", "start", "complete", "download")),
    (40, ("start", "complete", "download")),
    (10, ("start", "complete", "expire")),
    (5, ("start", "due")),
    (7, ("start", "complete", "download", "delete")),
    (5, ("delete",)),
]
_WEIGHTS = [w for w, _ in _LIFECYCLES]
_ERRORS = ["storage quota exceeded", "conversation 4711 failed to render", "worker timed out"]


def seed(
    ledger: ExportLedger,
    exports: int,
    *,
    users: int = 200,
    batch_size: int = 100,
    rng: random.Random | None = None,
    on_batch: Callable[[int], None] = lambda _: None,
    spread: timedelta | None = None,
) -> Counter[str]:
    """Create ``exports`` exports in batches of one transaction each.

    Returns how many ended in each status; ``on_batch`` is told how many
    exports each committed batch held (for a progress bar). With ``spread``, each
    export's events are recorded at plausible times over that much of the past
    (api/cli/demo_history.py); without, now.
    """
    rng = rng or random.Random()
    statuses: Counter[str] = Counter()
    clock = DemoClock(spread)
    with recorded_at(clock):
        for size in _batches(exports, batch_size):
            batch = [_one_export(rng, users, clock) for _ in range(size)]
            ledger.save(*batch)
            statuses.update(str(export.status) for export in batch)
            on_batch(size)
    return statuses


def _batches(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size


def _one_export(rng: random.Random, users: int, clock: DemoClock) -> ExportLog:
    user = f"user-{rng.randrange(users):05d}"
    clock.begin(rng)
    export = ExportLog(
        export_id=new_export_id(),
        user_id=user,
        format=rng.choice(list(ExportFormat)).value,
        config={"scope": rng.choice(["all", "filtered", "selected"]), "include_metadata": True},
        conversation_count=rng.randint(1, 5000),
        actor=user,
    )
    (lifecycle,) = rng.choices([steps for _, steps in _LIFECYCLES], weights=_WEIGHTS)
    for step in lifecycle:
        _apply(export, step, rng, clock.step(step, rng))
    return export


def _apply(export: ExportLog, step: str, rng: random.Random, now: datetime) -> None:
    if step == "start":
        export.start_processing(SYSTEM_ACTOR)
    elif step in ("complete", "due"):
        lifetime = timedelta(days=rng.randint(7, 30)) if step == "complete" else -timedelta(hours=1)
        size = export.conversation_count * rng.randint(200, 4000)
        export.complete(
            SYSTEM_ACTOR,
            size,
            f"https://storage.example.com/exports/{export.export_id}.{export.format}",
            now + lifetime,
            f"{rng.getrandbits(256):064x}",
            export.conversation_count,
        )
    elif step == "fail":
        export.fail(SYSTEM_ACTOR, rng.choice(_ERRORS))
    elif step == "retry":
        export.retry(export.user_id)
    elif step == "download":
        for _ in range(rng.randint(1, 3)):
            export.record_download(export.user_id, now, export.file_sha256)
    elif step == "expire":
        export.expire(SYSTEM_ACTOR)
    elif step == "delete":
        export.delete("admin", "retention policy")
