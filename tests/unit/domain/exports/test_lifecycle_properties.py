"""Stateful property test: random command sequences against a few exports, checked
against a small model of the lifecycle, with replay of the stored events after every step."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from domain.exceptions import IdempotencyKeyReused, IllegalTransition
from domain.exports.ids import aggregate_id
from domain.exports.model import ExportLog
from domain.exports.values import ExportFormat, Status
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger

POPO_ENV = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
START = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
SHA = "cd" * 32
MAX_EXPORTS = 3
# Minutes, on a coarse grid so that "now" often lands exactly on an expiry time.
EXPIRY_OFFSETS = [-30, 0, 30, 60]
CLOCK_STEPS = [1, 29, 30, 60]
# Forward moves are drawn more often than "delete" so runs reach the deeper states.
WEIGHTED_COMMANDS = [
    *["start processing"] * 3,
    *["complete"] * 3,
    *["record a download"] * 3,
    *["retry"] * 2,
    "fail",
    "expire",
    "delete",
]
STATUS_VALUES = frozenset(s.value for s in Status)

# The lifecycle as this test's model sees it (written independently of domain/exports/model.py).
TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.QUEUED, "start processing"): Status.PROCESSING,
    (Status.PROCESSING, "complete"): Status.COMPLETED,
    (Status.PROCESSING, "fail"): Status.FAILED,
    (Status.FAILED, "retry"): Status.QUEUED,
    (Status.COMPLETED, "record a download"): Status.COMPLETED,
    (Status.COMPLETED, "expire"): Status.EXPIRED,
    **{(s, "delete"): Status.DELETED for s in Status if s is not Status.DELETED},
}

# Moves that take an export further along its life (delete only once it has expired).
FORWARD: dict[Status, list[str]] = {
    Status.QUEUED: ["start processing"],
    Status.PROCESSING: ["complete", "complete", "fail"],
    Status.COMPLETED: ["record a download", "record a download", "expire"],
    Status.FAILED: ["retry"],
    Status.EXPIRED: ["delete"],
    Status.DELETED: [],
}


class MutableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Expected:
    """What the model believes about one export."""

    status: Status = Status.QUEUED
    version: int = 1
    download_count: int = 0
    expires_at: datetime | None = None
    # The state each command returned, one per version (index 0 is version 1).
    states: list[ExportState] = field(default_factory=list)


class StaleFinder:
    """A DueExportFinder that offers every known id and lets expire_due re-check them."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = sorted(ids)

    def find_due(self, now: datetime, after: str | None, limit: int) -> list[str]:
        return [i for i in self.ids if after is None or i > after][:limit]


def unpositioned(state: ExportState) -> ExportState:
    return replace(state, position=None)


def rebuild_from_events(app: ExportLedger, export_id: str) -> list[ExportState]:
    """Fold the stored events one by one; the state after each of them."""
    aggregate: ExportLog | None = None
    states = []
    for stored in app.events.get(aggregate_id(export_id)):
        aggregate = stored.mutate(aggregate)
        assert isinstance(aggregate, ExportLog)
        states.append(ExportState.of(aggregate))
    return states


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = MutableClock(START)
        self.app = ExportLedger(env=POPO_ENV, clock=self.clock)
        self.ids: list[str] = []
        self.model: dict[str, Expected] = {}
        self.claims: dict[tuple[str, str], tuple[tuple[str, int], str]] = {}
        self.seen_downloads: dict[str, int] = {}
        self.ever_deleted: set[str] = set()
        self.intended_expiry: datetime | None = None

    # -- helpers ----------------------------------------------------------------

    def _expected_target(self, expected: Expected, command: str) -> Status | None:
        target = TRANSITIONS.get((expected.status, command))
        if (
            target is not None
            and command == "record a download"
            and expected.expires_at is not None
            and expected.expires_at <= self.clock.now
        ):
            return None
        return target

    # -- rules: requests ---------------------------------------------------------

    @initialize()
    def first_export(self) -> None:
        self.request(user="alice", fmt=ExportFormat.JSON, count=1, key=None)

    @precondition(lambda self: len(self.ids) < MAX_EXPORTS)
    @rule(
        user=st.sampled_from(["alice", "bob"]),
        fmt=st.sampled_from(list(ExportFormat)),
        count=st.integers(0, 3),
        key=st.none() | st.sampled_from(["k1", "k2"]),
    )
    def request(self, user: str, fmt: ExportFormat, count: int, key: str | None) -> None:
        head = self.app.head_position()
        body = (fmt.value, count)

        def call() -> ExportState:
            return self.app.request_export(
                user_id=user,
                format=fmt.value,
                config={},
                conversation_count=count,
                idempotency_key=key,
            )

        claim = self.claims.get((user, key)) if key is not None else None
        if claim is not None:
            claimed_body, claimed_id = claim
            if claimed_body == body:
                assert call() == self.app.get(claimed_id)
            else:
                with pytest.raises(IdempotencyKeyReused) as reused:
                    call()
                assert reused.value.export_id == claimed_id
            assert self.app.head_position() == head
            return

        state = call()
        assert (state.status, state.version, state.user_id) == (Status.QUEUED, 1, user)
        assert state.export_id not in self.model
        self.ids.append(state.export_id)
        self.model[state.export_id] = Expected(states=[state])
        self.seen_downloads[state.export_id] = 0
        if key is not None:
            self.claims[(user, key)] = (body, state.export_id)

    # -- rules: lifecycle commands ------------------------------------------------

    @rule(index=st.integers(0, MAX_EXPORTS - 1), pick_legal=st.booleans(), data=st.data())
    def command(self, index: int, pick_legal: bool, data: st.DataObject) -> None:
        """Run one command: half the time a forward move of the lifecycle (so runs get deep
        into it), otherwise any command at all (mostly refused ones)."""
        export_id = self.ids[index % len(self.ids)]
        expected = self.model[export_id]
        forward = FORWARD[expected.status]
        choices = forward if pick_legal and forward else WEIGHTED_COMMANDS
        command = data.draw(st.sampled_from(choices), label="command")
        self._check_command(export_id, command, data)

    def _check_command(self, export_id: str, command: str, data: st.DataObject) -> None:
        """Run the command; if the model says it is legal, check its effect, otherwise
        check that it is refused and records nothing."""
        expected = self.model[export_id]
        target = self._expected_target(expected, command)
        outcome = "refused" if target is None else "ok"
        if target is None and (expected.status, command) in TRANSITIONS:
            outcome = "refused (file expired)"
            if expected.expires_at == self.clock.now:
                outcome = "refused (file expires this instant)"
        event(f"{command} from {expected.status.value}: {outcome}")
        before, head = self.app.get(export_id), self.app.head_position()

        if target is None:
            with pytest.raises(IllegalTransition) as refused:
                self._run(command, export_id, data)
            error = refused.value
            assert (error.export_id, error.status, error.command) == (
                export_id,
                expected.status,
                command,
            )
            assert self.app.get(export_id) == before
            assert self.app.head_position() == head
            return

        state = self._run(command, export_id, data)
        assert state.status == target
        assert state.version == expected.version + 1
        assert state.download_count >= before.download_count
        assert self.app.head_position() == head + 1
        expected.status = target
        expected.version += 1
        expected.states.append(state)
        if command == "record a download":
            expected.download_count += 1
        if command == "complete":
            expected.expires_at = self.intended_expiry
            assert state.expires_at == self.intended_expiry

    def _run(self, command: str, export_id: str, data: st.DataObject) -> ExportState:
        app = self.app
        if command == "start processing":
            return app.start_processing(export_id, actor="worker")
        if command == "complete":
            expires_in = data.draw(
                st.none() | st.sampled_from(EXPIRY_OFFSETS), label="expires_in (min)"
            )
            size = data.draw(st.integers(0, 10_000), label="file_size")
            self.intended_expiry = (
                None if expires_in is None else self.clock.now + timedelta(minutes=expires_in)
            )
            return app.complete(
                export_id,
                file_size=size,
                file_url=f"s3://exports/{export_id}",
                expires_at=self.intended_expiry,
                file_sha256=SHA,
                row_count=size // 10,
            )
        if command == "fail":
            message = data.draw(st.sampled_from(["oom", "timeout"]), label="error_message")
            return app.fail(export_id, error_message=message)
        if command == "retry":
            return app.retry(export_id, actor="operator")
        if command == "record a download":
            sha = data.draw(st.none() | st.just(SHA), label="file_sha256")
            return app.record_download(export_id, actor="reader", file_sha256=sha)
        if command == "expire":
            return app.expire(export_id)
        assert command == "delete"
        reason = data.draw(st.none() | st.just("gdpr"), label="reason")
        return app.delete(export_id, actor="admin", reason=reason)

    # -- rules: time --------------------------------------------------------------

    @rule(minutes=st.sampled_from(CLOCK_STEPS))
    def advance_clock(self, minutes: int) -> None:
        self.clock.now += timedelta(minutes=minutes)

    @rule(index=st.integers(0, MAX_EXPORTS - 1), data=st.data())
    def download_at_expiry(self, index: int, data: st.DataObject) -> None:
        """Move "now" to exactly an export's expiry time, the boundary of downloads,
        and try to download it there."""
        export_id = self.ids[index % len(self.ids)]
        expires_at = self.model[export_id].expires_at
        if expires_at is not None and expires_at > self.clock.now:
            self.clock.now = expires_at
        self._check_command(export_id, "record a download", data)

    @rule()
    def expire_due(self) -> None:
        now = self.clock.now
        due = [
            export_id
            for export_id, expected in self.model.items()
            if expected.status is Status.COMPLETED
            and expected.expires_at is not None
            and expected.expires_at <= now
        ]
        event(f"expire_due: {len(due)} due")
        head = self.app.head_position()
        assert self.app.expire_due(StaleFinder(self.ids), batch_size=2) == len(due)
        assert self.app.head_position() == head + len(due)
        for export_id in due:
            expected = self.model[export_id]
            expected.status = Status.EXPIRED
            expected.version += 1
            state = self.app.get(export_id)
            assert (state.status, state.last_actor) == (Status.EXPIRED, "system")
            expected.states.append(state)
        assert self.app.expire_due(StaleFinder(self.ids)) == 0

    # -- invariants ---------------------------------------------------------------

    @invariant()
    def live_state_matches_model(self) -> None:
        for export_id in self.ids:
            expected = self.model[export_id]
            state = self.app.get(export_id)
            assert state.status in STATUS_VALUES
            assert state.status == expected.status
            assert state.version == expected.version == len(expected.states)
            assert state.version == len(self.app.history(export_id))
            assert state.download_count == expected.download_count
            assert state.download_count >= self.seen_downloads[export_id]
            self.seen_downloads[export_id] = state.download_count
            if state.status == Status.DELETED:
                self.ever_deleted.add(export_id)
            if export_id in self.ever_deleted:
                assert state.status == Status.DELETED
            assert state == unpositioned(expected.states[-1])

    @invariant()
    def replay_rebuilds_the_same_state(self) -> None:
        for export_id in self.ids:
            live = self.app.get(export_id)
            rebuilt = rebuild_from_events(self.app, export_id)
            assert len(rebuilt) == live.version
            assert rebuilt[-1] == live
            # Every intermediate version, folded by hand, matches what the command returned.
            expected = [unpositioned(s) for s in self.model[export_id].states]
            assert rebuilt == expected

    @invariant()
    def every_version_loads_as_it_was(self) -> None:
        for export_id in self.ids:
            for version, state in enumerate(self.model[export_id].states, start=1):
                expected = unpositioned(state)
                assert self.app.state_as_of(export_id, version=version) == expected
                loaded: ExportLog = self.app.repository.get(
                    aggregate_id(export_id), version=version
                )
                assert ExportState.of(loaded) == expected


LedgerMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerLifecycle = LedgerMachine.TestCase
