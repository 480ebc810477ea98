"""ExportLedger: the application service that runs commands against the event store.

Each public command loads one export, checks its rules and saves what its aggregate
recorded; a refused command records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.exceptions import (
    ConcurrentModification,
    IdempotencyKeyReused,
    InvalidExport,
    StoreUnavailable,
)
from domain.exports.config import normalised
from domain.exports.ids import idempotency_claim_id, new_export_id, new_hold_id
from domain.exports.model import SYSTEM_ACTOR, ExportLog, IdempotencyClaim
from domain.exports.rules import (
    aware,
    check_completion,
    check_hold,
    check_request,
    check_sha256,
    check_status,
    request_fingerprint,
)
from domain.exports.values import Status
from domain.exports.views import ExportState
from domain.ledger.idempotency import claim_secret, keyed_claim
from domain.ledger.reads import Caller, translated_errors
from domain.ledger.retention import RetentionCommands
from domain.ledger.writes import LedgerWrites


class ExportLedger(LedgerWrites, RetentionCommands):
    """Commands over ExportLog aggregates, one export each (how events are saved, and
    runs over many exports: domain/ledger/writes.py; queries: domain/ledger/reads.py;
    erasure: domain/ledger/erasure.py; retention: domain/ledger/retention.py)."""

    name = "ExportLedger"

    # -- commands -------------------------------------------------------------

    def request_export(
        self,
        *,
        user_id: str,
        format: str,
        config: Mapping[str, Any] | None,
        conversation_count: int,
        actor: str | None = None,
        idempotency_key: str | None = None,
        status: str | None = None,
    ) -> ExportState:
        """Record a new export; with ``status`` (the seed's initial status) past
        ``queued``, also every move of the legal path there, in the same append."""
        fmt, valid_config = check_request(user_id, format, config, conversation_count)
        target = check_status(status) if status is not None else Status.QUEUED
        export = ExportLog(
            export_id=new_export_id(),
            user_id=user_id,
            format=fmt,
            config=valid_config,
            conversation_count=conversation_count,
            actor=actor or user_id,
        )
        if target != Status.QUEUED:
            export.advance_to(target, actor or user_id)
        if idempotency_key is None:
            return self._save(export)
        fingerprint = request_fingerprint(
            user_id, fmt, normalised(valid_config), conversation_count, target
        )
        before = self._claim(idempotency_claim_id(user_id, idempotency_key))
        if before is not None:  # claimed before claims were keyed
            return self._replayed(before, idempotency_key, fingerprint)
        subject_key = self.subject_keys.writing_key(self.subject_keys.pseudonym(user_id))
        keyed = keyed_claim(claim_secret(subject_key), user_id, idempotency_key, fingerprint)
        claim = IdempotencyClaim(
            claim_id=keyed.claim_id,
            key=keyed.key,
            export_id=export.export_id,
            fingerprint=keyed.fingerprint,
            keyed=True,
        )
        try:
            return self._save(export, claim)
        except ConcurrentModification:
            found = self._claim(keyed.claim_id)
            if found is None:
                raise StoreUnavailable("idempotent request conflicted but left no claim") from None
            return self._replayed(found, idempotency_key, keyed.fingerprint)

    def start_processing(
        self, export_id: str, *, actor: str = SYSTEM_ACTOR, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.start_processing(actor)
        return self._save(export)

    def complete(
        self,
        export_id: str,
        *,
        file_size: int,
        file_url: str,
        expires_at: datetime | None = None,
        file_sha256: str | None = None,
        row_count: int | None = None,
        actor: str = SYSTEM_ACTOR,
        caller: Caller | None = None,
    ) -> ExportState:
        check_completion(file_size, file_url, expires_at, file_sha256, row_count)
        export = self._load_for(export_id, caller)
        export.complete(actor, file_size, file_url, expires_at, file_sha256, row_count)
        return self._save(export)

    def change_expiry(
        self,
        export_id: str,
        *,
        expires_at: datetime | None,
        actor: str = SYSTEM_ACTOR,
        caller: Caller | None = None,
    ) -> ExportState:
        """A completed export's file expires at another time (a past one makes it due
        for the expiry job); refused once expired or deleted."""
        moment = aware(expires_at) if expires_at is not None else None
        export = self._load_for(export_id, caller)
        export.change_expiry(actor, moment)
        return self._save(export)

    def fail(
        self,
        export_id: str,
        *,
        error_message: str,
        actor: str = SYSTEM_ACTOR,
        caller: Caller | None = None,
    ) -> ExportState:
        if not error_message.strip() or len(error_message) > 10_000:
            raise InvalidExport("error_message must be 1 to 10000 characters")
        export = self._load_for(export_id, caller)
        export.fail(actor, error_message)
        return self._save(export)

    def retry(
        self, export_id: str, *, actor: str = SYSTEM_ACTOR, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.retry(actor)
        return self._save(export)

    def record_download(
        self,
        export_id: str,
        *,
        actor: str,
        file_sha256: str | None = None,
        caller: Caller | None = None,
    ) -> ExportState:
        if file_sha256 is not None:
            check_sha256(file_sha256)
        export = self._load_for(export_id, caller)
        export.record_download(actor, self._clock(), file_sha256)
        return self._save(export)

    def expire(
        self, export_id: str, *, actor: str = SYSTEM_ACTOR, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.expire(actor)
        return self._save(export)

    def delete(
        self, export_id: str, *, actor: str, reason: str | None = None, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.delete(actor, reason)
        return self._save(export)

    def place_hold(
        self,
        export_id: str,
        *,
        matter: str,
        reason: str | None = None,
        actor: str,
        caller: Caller | None = None,
    ) -> tuple[str, ExportState]:
        """Open a legal hold on an export: until it is released the export cannot
        expire, be deleted or have its subject erased. Returns the new hold's id."""
        check_hold(matter, reason)
        hold_id = new_hold_id()
        export = self._load_for(export_id, caller)
        export.place_hold(actor, hold_id, matter, reason)
        return hold_id, self._save(export)

    def release_hold(
        self, export_id: str, hold_id: str, *, actor: str, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.release_hold(actor, hold_id)
        return self._save(export)

    def load_for_change(self, export_id: str, caller: Caller) -> ExportLog:
        """The export ``caller`` may act on, to have changes made pending on it and then
        be :meth:`record`-ed; someone else's or a deleted one is ExportNotFound."""
        return self._load_for(export_id, caller)

    # -- helpers --------------------------------------------------------------

    def _claim(self, claim_id: UUID) -> IdempotencyClaim | None:
        try:
            with translated_errors(str(claim_id)):
                claim: IdempotencyClaim = self.repository.get(claim_id)
        except AggregateNotFoundError:
            return None
        return claim

    def _replayed(self, claim: IdempotencyClaim, key: str, fingerprint: str) -> ExportState:
        """The claimed export as it stands now, if the request is the claimed one."""
        if claim.fingerprint != fingerprint:
            raise IdempotencyKeyReused(key, claim.export_id)
        return self.get(claim.export_id)
