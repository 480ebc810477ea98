"""Shared fixtures for the database-free unit tests: an in-memory ledger and a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.exports.values import Status
from domain.ledger.application import ExportLedger

POPO_ENV = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
START = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
SHA = "ab" * 32
FILE_URL = "s3://exports/exp.json"


@dataclass
class FakeClock:
    """A controllable ``clock`` for ExportLedger: "now" moves only when told to."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def make_ledger(clock: Callable[[], datetime]) -> ExportLedger:
    return ExportLedger(env=POPO_ENV, clock=clock)


# How to bring a fresh (queued) export into each state, as ledger calls.
def _start(app: ExportLedger, export_id: str, clock: FakeClock) -> None:
    app.start_processing(export_id, actor="worker")


def _complete(app: ExportLedger, export_id: str, clock: FakeClock) -> None:
    app.complete(
        export_id,
        file_size=1024,
        file_url=FILE_URL,
        expires_at=clock.now + timedelta(days=7),
        file_sha256=SHA,
        row_count=3,
        actor="worker",
    )


def _fail(app: ExportLedger, export_id: str, clock: FakeClock) -> None:
    app.fail(export_id, error_message="disk full", actor="worker")


def _expire(app: ExportLedger, export_id: str, clock: FakeClock) -> None:
    app.expire(export_id)


def _delete(app: ExportLedger, export_id: str, clock: FakeClock) -> None:
    app.delete(export_id, actor="admin", reason="user asked")


PATHS: dict[Status, list[Callable[[ExportLedger, str, FakeClock], None]]] = {
    Status.QUEUED: [],
    Status.PROCESSING: [_start],
    Status.COMPLETED: [_start, _complete],
    Status.FAILED: [_start, _fail],
    Status.EXPIRED: [_start, _complete, _expire],
    Status.DELETED: [_delete],
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(clock: FakeClock) -> ExportLedger:
    return make_ledger(clock)


@pytest.fixture
def new_export(ledger: ExportLedger) -> Callable[..., str]:
    """Request an export (valid defaults, overridable) and return its id."""

    def _new(**overrides: Any) -> str:
        request: dict[str, Any] = {
            "user_id": "user-1",
            "format": "json",
            "config": {},
            "conversation_count": 3,
        }
        request.update(overrides)
        return ledger.request_export(**request).export_id

    return _new


@pytest.fixture
def export_in(
    ledger: ExportLedger, clock: FakeClock, new_export: Callable[..., str]
) -> Callable[[Status], str]:
    """Create an export and drive it into the given state; return its id."""

    def _in(status: Status) -> str:
        export_id = new_export()
        for step in PATHS[status]:
            step(ledger, export_id, clock)
        assert ledger.get(export_id).status == status
        return export_id

    return _in
