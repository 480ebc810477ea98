"""The ExportLog aggregate: an export's whole life as past-tense events.

Public command methods check the lifecycle rules first and only then call the
private ``@event`` method, so a refused command records nothing. The decorated
methods only assign state: they run again, unchanged, whenever the aggregate is
rebuilt from its stored events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import topics
from domain.exceptions import ExportOnHold, ExportShed, HoldNotFound, IllegalTransition
from domain.exports.ids import aggregate_id
from domain.exports.lifecycle import ALLOWED_FROM, ENDING_COMMANDS, HELD_COMMANDS, lifecycle_path
from domain.exports.values import Status
from domain.privacy import SUBJECT_ATTRIBUTE, shed_value

SYSTEM_ACTOR = "system"


class ExportLog(Aggregate):
    """One data export, from request to deletion.

    Its classes keep the topics they were first stored under (domain/topics.py)."""

    TOPIC = topics.EXPORT_LOG

    class Created(Aggregate.Created):
        TOPIC = topics.export_event("Created")

    @staticmethod
    def create_id(export_id: str, **_: Any) -> UUID:
        return aggregate_id(export_id)

    @event("Requested", topic=topics.REQUESTED)
    def __init__(
        self,
        export_id: str,
        user_id: str,
        format: str,
        config: dict[str, Any],
        conversation_count: int,
        actor: str,
        imported: dict[str, Any] | None = None,
    ) -> None:
        """``imported``: the source row's own ``id``, ``timestamp``, ``created_at`` and
        ``updated_at`` when the export came from another system's table (events stored
        before imports existed have none)."""
        self.export_id = export_id
        self.user_id = user_id
        self.format = format
        self.config = config
        self.conversation_count = conversation_count
        self.status = Status.QUEUED
        self.file_size: int | None = None
        self.file_url: str | None = None
        self.file_sha256: str | None = None
        self.row_count: int | None = None
        self.expires_at: datetime | None = None
        self.error_message: str | None = None
        self.download_count = 0
        self.last_actor = actor
        self.deleted_by: str | None = None
        self.delete_reason: str | None = None
        self.imported = imported
        self.holds: dict[str, dict[str, Any]] = {}
        """Open legal holds by hold id (matter, reason, who placed it)."""

    class Imported(Aggregate.Created):
        """An export first known from another system's table, as its row showed it
        (domain/sync/rows.py): the request, and the status and outcome the row had
        reached. The ledger did not see those moves happen, so it records what it
        learned in one event; every later change is recorded as a move of its own."""

        TOPIC = topics.IMPORTED

        export_id: str
        user_id: str
        format: str
        config: dict[str, Any]
        conversation_count: int
        actor: str
        imported: dict[str, Any]
        status: str
        file_size: int | None
        file_url: str | None
        expires_at: datetime | None
        error_message: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.status = Status(self.status)
            aggregate.file_size = self.file_size
            aggregate.file_url = self.file_url
            aggregate.expires_at = self.expires_at
            aggregate.error_message = self.error_message

    @classmethod
    def imported_as(cls, target: Status, **fields: Any) -> ExportLog:
        """A new export in ``target`` (any status a legal path reaches from queued),
        made of the other fields of an :class:`Imported` event. What the status does
        not hold is left empty: the file (``file_size``, ``file_url``, ``expires_at``)
        unless completed or expired, ``error_message`` unless failed."""
        if target == Status.DELETED or lifecycle_path(Status.QUEUED, target) is None:
            raise IllegalTransition(fields["export_id"], Status.QUEUED, f"be imported as {target}")
        if target not in (Status.COMPLETED, Status.EXPIRED):
            fields.update(file_size=None, file_url=None, expires_at=None)
        if target != Status.FAILED:
            fields["error_message"] = None
        export = cls._create(cls.Imported, status=str(target), **fields)
        assert isinstance(export, ExportLog)
        return export

    def collect_events(self) -> Any:
        """The pending events, each told whose key seals its personal fields (the
        application's mapper takes that off again: domain/privacy.py)."""
        events = super().collect_events()
        for pending in events:
            vars(pending)[SUBJECT_ATTRIBUTE] = self.user_id
        return events

    # -- commands -------------------------------------------------------------

    def start_processing(self, actor: str) -> None:
        self._check_allowed("start processing")
        self._processing_started(actor=actor)

    def complete(
        self,
        actor: str,
        file_size: int,
        file_url: str,
        expires_at: datetime | None,
        file_sha256: str | None = None,
        row_count: int | None = None,
    ) -> None:
        self._check_allowed("complete")
        self._completed(
            actor=actor,
            file_size=file_size,
            file_url=file_url,
            expires_at=expires_at,
            file_sha256=file_sha256,
            row_count=row_count,
        )

    def advance_to(
        self,
        target: Status,
        actor: str,
        *,
        file_size: int | None = None,
        file_url: str | None = None,
        expires_at: datetime | None = None,
        error_message: str | None = None,
    ) -> None:
        """Walk the legal path to ``target``, one event per move, each by ``actor``.

        What a status needs to be reached (a completed file, a failure's message) is
        taken as given, empty where the caller knows nothing: a system that recorded
        only the status (the seed's table) still gets every step recorded.
        """
        self._check_not_shed(f"move to {target}")
        path = lifecycle_path(self.status, target)
        if path is None:
            raise IllegalTransition(
                self.export_id, self.status, f"move to {target}", "no legal path leads there"
            )
        for status in path:
            if status == Status.PROCESSING:
                self.start_processing(actor)
            elif status == Status.COMPLETED:
                self._completed(
                    actor=actor, file_size=file_size, file_url=file_url, expires_at=expires_at,
                    file_sha256=None, row_count=None,
                )  # fmt: skip
            elif status == Status.FAILED:
                self._failed(actor=actor, error_message=error_message)
            elif status == Status.QUEUED:
                self.retry(actor)
            else:
                self.expire(actor)

    def change_expiry(self, actor: str, expires_at: datetime | None) -> None:
        self._check_allowed("change the expiry")
        self._expiry_changed(actor=actor, expires_at=expires_at)

    def fail(self, actor: str, error_message: str) -> None:
        self._check_allowed("fail")
        self._failed(actor=actor, error_message=error_message)

    def retry(self, actor: str) -> None:
        self._check_allowed("retry")
        self._retried(actor=actor)

    def record_download(self, actor: str, now: datetime, file_sha256: str | None = None) -> None:
        self._check_allowed("record a download")
        self._check_unexpired("record a download", now)
        self._downloaded(actor=actor, file_sha256=file_sha256)

    def expire(self, actor: str) -> None:
        self._check_allowed("expire")
        self._check_not_held("expire")
        self._expired(actor=actor)

    def delete(self, actor: str, reason: str | None = None) -> None:
        self._check_allowed("delete")
        self._check_not_held("delete")
        if reason is not None:
            self._check_not_shed("record a reason for deleting it")
        self._deleted(actor=actor, reason=reason)

    def place_hold(self, actor: str, hold_id: str, matter: str, reason: str | None) -> None:
        self._check_not_shed("place a legal hold (its personal fields are gone already)")
        self._check_allowed("place a hold")
        self._hold_placed(actor=actor, hold_id=hold_id, matter=matter, reason=reason)

    def release_hold(self, actor: str, hold_id: str) -> None:
        if hold_id not in self.holds:
            raise HoldNotFound(self.export_id, hold_id)
        self._hold_released(actor=actor, hold_id=hold_id)

    def apply_retention(self, actor: str, policy_id: str, due_at: datetime) -> None:
        """Shed the export's own personal fields under retention policy ``policy_id``
        (due at ``due_at``), in any status, deleted included; refused while a legal
        hold is open, and a second time. The event carries no personal field; saving
        it destroys the export's key (sql/migrations/0015_retention.sql)."""
        self._check_not_shed("apply a retention policy again")
        self.check_not_held("apply a retention policy")
        self._retention_applied(actor=actor, policy_id=policy_id, due_at=due_at)

    def shed_by(self) -> str | None:
        """The retention policy that shed the export, if one did."""
        retention = getattr(self, "retention", None)  # absent before retention existed
        return None if retention is None else str(retention["policy_id"])

    def open_holds(self) -> dict[str, dict[str, Any]]:
        # Events stored before holds existed build exports without the attribute.
        return getattr(self, "holds", {})

    def check_not_held(self, command: str) -> None:
        """Refuse ``command`` while a legal hold is open (the first one is named)."""
        for hold_id, hold in self.open_holds().items():
            raise ExportOnHold(self.export_id, hold_id, hold["matter"], command)

    def is_due_to_expire(self, now: datetime) -> bool:
        return (
            self.status == Status.COMPLETED
            and self.expires_at is not None
            and self.expires_at <= now
        )

    def is_held(self) -> bool:
        return bool(self.open_holds())

    # -- rules ----------------------------------------------------------------

    def _check_not_held(self, command: str) -> None:
        if command in HELD_COMMANDS:
            self.check_not_held(command)

    def _check_not_shed(self, command: str) -> None:
        if self.shed_by() is not None:
            raise ExportShed(self.export_id, command)

    def _check_allowed(self, command: str) -> None:
        if command not in ENDING_COMMANDS:
            self._check_not_shed(command)
        if self.status not in ALLOWED_FROM[command]:
            raise IllegalTransition(self.export_id, self.status, command)

    def _check_unexpired(self, command: str, now: datetime) -> None:
        if self.expires_at is not None and self.expires_at <= now:
            raise IllegalTransition(
                self.export_id,
                self.status,
                command,
                f"its file expired at {self.expires_at.isoformat()}",
            )

    # -- events (state changes only) -------------------------------------------

    @event("ProcessingStarted", topic=topics.export_event("ProcessingStarted"))
    def _processing_started(self, actor: str) -> None:
        self.status = Status.PROCESSING
        self.last_actor = actor

    @event("Completed", topic=topics.export_event("Completed"))
    def _completed(
        self,
        actor: str,
        file_size: int | None,
        file_url: str | None,
        expires_at: datetime | None,
        file_sha256: str | None,
        row_count: int | None,
    ) -> None:
        self.status = Status.COMPLETED
        self.file_size = file_size
        self.file_url = file_url
        self.expires_at = expires_at
        self.file_sha256 = file_sha256
        self.row_count = row_count
        self.error_message = None
        self.last_actor = actor

    @event("Failed", topic=topics.export_event("Failed"))
    def _failed(self, actor: str, error_message: str | None) -> None:
        self.status = Status.FAILED
        self.error_message = error_message
        self.last_actor = actor

    @event("Retried", topic=topics.export_event("Retried"))
    def _retried(self, actor: str) -> None:
        self.status = Status.QUEUED
        self.error_message = None
        self.last_actor = actor

    @event("Downloaded", topic=topics.export_event("Downloaded"))
    def _downloaded(self, actor: str, file_sha256: str | None) -> None:
        self.download_count += 1
        self.last_actor = actor

    @event("ExpiryChanged", topic=topics.export_event("ExpiryChanged"))
    def _expiry_changed(self, actor: str, expires_at: datetime | None) -> None:
        self.expires_at = expires_at
        self.last_actor = actor

    @event("Expired", topic=topics.export_event("Expired"))
    def _expired(self, actor: str) -> None:
        self.status = Status.EXPIRED
        self.last_actor = actor

    @event("HoldPlaced", topic=topics.export_event("HoldPlaced"))
    def _hold_placed(self, actor: str, hold_id: str, matter: str, reason: str | None) -> None:
        self.holds = {
            **self.open_holds(),
            hold_id: {"matter": matter, "reason": reason, "placed_by": actor},
        }
        self.last_actor = actor

    @event("HoldReleased", topic=topics.export_event("HoldReleased"))
    def _hold_released(self, actor: str, hold_id: str) -> None:
        self.holds = {k: v for k, v in self.open_holds().items() if k != hold_id}
        self.last_actor = actor

    @event("Deleted", topic=topics.export_event("Deleted"))
    def _deleted(self, actor: str, reason: str | None) -> None:
        self.status = Status.DELETED
        self.deleted_by = actor
        self.delete_reason = reason
        self.last_actor = actor

    @event("RetentionApplied", topic=topics.RETENTION_APPLIED)
    def _retention_applied(self, actor: str, policy_id: str, due_at: datetime) -> None:
        self.retention = {"policy_id": policy_id, "due_at": due_at, "applied_by": actor}
        self.config = shed_value("config")
        for field in ("file_url", "error_message", "delete_reason"):
            if getattr(self, field) is not None:
                setattr(self, field, shed_value("reason" if field == "delete_reason" else field))
        self.last_actor = actor


class IdempotencyClaim(Aggregate):
    """Binds (user, idempotency key) to one export, saved atomically with it.

    Its id is derived from the user and key, so a second request with the same
    key collides on the event store's primary key instead of creating a twin.
    """

    TOPIC = topics.IDEMPOTENCY_CLAIM

    class Created(Aggregate.Created):
        TOPIC = topics.IDEMPOTENCY_CLAIM + ".Created"

    @staticmethod
    def create_id(claim_id: UUID, **_: Any) -> UUID:
        return claim_id

    @event("Claimed", topic=topics.CLAIMED)
    def __init__(
        self, claim_id: UUID, key: str, export_id: str, fingerprint: str, keyed: bool = False
    ) -> None:
        """``keyed``: key and fingerprint are keyed hashes (domain/ledger/idempotency.py)."""
        self.key = key
        self.export_id = export_id
        self.fingerprint = fingerprint
        self.keyed = keyed
