"""Crypto-shredding's cost: rebuild, verify and commands with personal fields sealed,
against the same with them in the clear (as events were stored before sealing), in
the same run; and the time to erase a subject with many events.

Two databases are seeded alike through ``api.cli.demo.seed``: one by the ledger as it
is (every personal field sealed under its subject's key), one by a ledger whose mapper
stores them in the clear (the baseline). Each is rebuilt (``rebuild``, in process) and
verified (``verify``) three times, the two taking turns (the machine is shared: turns
give both the same load); the best run of each is reported. Command latency: the same
sequence of request, start and complete commands, one at a time, the two ledgers taking
turns. Erasure:
one subject given about 1,000 and about 10,000 events (all its exports folded into the
read tables first), then ``erase_subject`` timed, as the HTTP route and the CLI run it.
"""

from __future__ import annotations

import random
import time
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent

from api.cli.demo import seed
from domain.ledger.application import ExportLedger
from domain.privacy import SUBJECT_ATTRIBUTE, PrivacyMapper
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.subject_keys import ReadModelSubjects
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import checkpoint, count_events, fresh_database, open_ledger
from tests.benchmarks.support import percentile as quantile
from tests.integration.readmodel_helpers import catch_up

NAME = "privacy"
USERS = 2_000
EXPORTS = {"small": 10_000, "full": 250_000}  # about four events each
COMMANDS = {"small": 300, "full": 2_000}
ERASED_EVENTS = (1_000, 10_000)
ROUNDS = 3


class ClearMapper(PrivacyMapper):
    """Stores events as they were stored before personal fields were sealed."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        vars(domain_event).pop(SUBJECT_ATTRIBUTE, None)
        return Mapper.to_stored_event(self, domain_event)


def clear_ledger(url: str) -> ExportLedger:
    ledger = open_ledger(url)
    mapper = ClearMapper(transcoder=ledger.mapper.transcoder)
    mapper.keys = ledger.subject_keys
    ledger.mapper = ledger.events.mapper = mapper
    return ledger


def run(admin_url: str, scale: str) -> BenchResult:
    details: dict[str, Any] = {}
    with (
        fresh_database(admin_url, "bench_privacy_sealed") as sealed_url,
        fresh_database(admin_url, "bench_privacy_clear") as clear_url,
    ):
        urls = {"sealed": sealed_url, "clear": clear_url}
        ledgers = {"sealed": open_ledger(sealed_url), "clear": clear_ledger(clear_url)}
        try:
            for label, ledger in ledgers.items():
                seed(ledger, EXPORTS[scale], users=USERS, rng=random.Random(7))
                checkpoint(urls[label])
                details[label] = {"events": count_events(urls[label]), "rebuild": [], "verify": []}
            for _ in range(ROUNDS):  # alternated, so that both see the same load
                for label, url in urls.items():
                    details[label]["rebuild"].append(rebuild(Database(url)).events_per_second)
                for label, url in urls.items():
                    details[label]["verify"].append(_verify(url))
            timings = _latencies(ledgers, COMMANDS[scale])
            for label in urls:
                details[label]["commands_ms"] = timings[label]
        finally:
            for ledger in ledgers.values():
                ledger.close()
    details["erasure"] = [_erasure(admin_url, events) for events in ERASED_EVENTS]
    return BenchResult(_figures(details), details)


def _verify(url: str) -> float:
    report = verify(Database(url))
    if not report.ok:
        raise RuntimeError(f"verify failed: {report.problems.sorted()[:3]}")
    return report.events_per_second


def _latencies(ledgers: dict[str, ExportLedger], count: int) -> dict[str, list[float]]:
    """Milliseconds of each command of ``count`` request-start-complete triples on each
    ledger, the ledgers taking turns triple by triple."""
    timings: dict[str, list[float]] = {label: [] for label in ledgers}
    for n in range(count):
        for label, ledger in ledgers.items():
            found = timings[label]
            started = time.perf_counter()
            export_id = ledger.request_export(
                user_id=f"user-{n % 50:05d}", format="csv", config={"note": f"n{n}"},
                conversation_count=1,
            ).export_id  # fmt: skip
            found.append(time.perf_counter() - started)
            started = time.perf_counter()
            ledger.start_processing(export_id)
            found.append(time.perf_counter() - started)
            started = time.perf_counter()
            ledger.complete(export_id, file_size=1, file_url=f"s3://bench/{n}.csv")
            found.append(time.perf_counter() - started)
    return {label: [t * 1000 for t in found] for label, found in timings.items()}


def _erasure(admin_url: str, events: int) -> dict[str, Any]:
    with fresh_database(admin_url, "bench_privacy_erase") as url:
        ledger = open_ledger(url)
        try:
            seed(ledger, events // 4, users=1, rng=random.Random(events))  # user-00000
            seed(ledger, 2_000, users=USERS, rng=random.Random(1))  # others around it
            catch_up(url)
            found = count_events(url)
            checkpoint(url)
            started = time.perf_counter()
            erasure = ledger.erase_subject(
                "user-00000", actor="bench", reason=None, exports=ReadModelSubjects(Database(url))
            )
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            catch_up(url)  # the follower shows the rows erased
            folded = time.perf_counter() - started
        finally:
            ledger.close()
    return {
        "subject_events": events,
        "events": found,
        "exports": len(erasure.export_ids),
        "seconds": seconds,
        "follower_seconds": folded,
    }


def _figures(details: dict[str, Any]) -> list[Figure]:
    sealed, clear = details["sealed"], details["clear"]
    figures = [
        Figure(
            NAME, f"rebuild, {sealed['events']:,} events, fields sealed", max(sealed["rebuild"]),
            "events/s", f"rebuild, {clear['events']:,} events in the clear",
            max(clear["rebuild"]), targets=(Target("ratio", ">=", 0.5),),
        ),
        Figure(
            NAME, f"verify, {sealed['events']:,} events, fields sealed", max(sealed["verify"]),
            "events/s", f"verify, {clear['events']:,} events in the clear", max(clear["verify"]),
            targets=(Target("ratio", ">=", 0.5),),
        ),
    ]  # fmt: skip
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        figures.append(
            Figure(
                NAME,
                f"command latency {label}, fields sealed",
                quantile(sealed["commands_ms"], q),
                "ms",
                f"command latency {label}, in the clear",
                quantile(clear["commands_ms"], q),
            )
        )
    small, large = details["erasure"]
    figures.append(
        Figure(
            NAME,
            f"erase a subject of {large['subject_events']:,} events",
            large["seconds"],
            "s",
            f"erase a subject of {small['subject_events']:,} events",
            small["seconds"],
        )
    )
    return figures
