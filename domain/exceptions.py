"""Every error Export Ledger raises on purpose derives from :class:`ExportLedgerError`.

The entry points map these to exit codes (CLI) and problem+json responses (HTTP);
anything else escaping is a bug.
"""

from __future__ import annotations


class ExportLedgerError(Exception):
    """Root of all errors raised deliberately by Export Ledger."""


class InvalidExport(ExportLedgerError, ValueError):
    """A command's input is malformed (bad format, config, count, date...)."""


class ExportNotFound(ExportLedgerError, LookupError):
    """No export has this id (or it did not exist at the requested moment)."""

    def __init__(self, export_id: str, detail: str | None = None) -> None:
        self.export_id = export_id
        super().__init__(detail or f"export {export_id!r} not found")


class IllegalTransition(ExportLedgerError):
    """The export's lifecycle does not allow this command from its current state."""

    def __init__(self, export_id: str, status: str, command: str, reason: str = "") -> None:
        self.export_id = export_id
        self.status = status
        self.command = command
        message = f"export {export_id!r} is {status}: cannot {command}"
        if reason:
            message += f" ({reason})"
        super().__init__(message)


class ExportOnHold(ExportLedgerError):
    """An open legal hold keeps the export's records: it cannot expire, be deleted or
    have its subject erased until the hold is released."""

    def __init__(self, export_id: str, hold_id: str, matter: str, command: str) -> None:
        self.export_id = export_id
        self.hold_id = hold_id
        self.matter = matter
        super().__init__(
            f"export {export_id!r} is under legal hold {hold_id!r} (matter {matter!r}): "
            f"cannot {command} until the hold is released"
        )


class HoldNotFound(ExportLedgerError, LookupError):
    """No open legal hold of this export has this id."""

    def __init__(self, export_id: str, hold_id: str) -> None:
        self.export_id = export_id
        self.hold_id = hold_id
        super().__init__(f"export {export_id!r} has no open legal hold {hold_id!r}")


class SubjectErased(ExportLedgerError):
    """The data subject was erased: no personal data of theirs can be recorded again."""

    def __init__(self, subject: str, what: str = "record personal data") -> None:
        self.subject = subject
        super().__init__(f"data subject {subject} was erased: cannot {what}")


class ExportShed(ExportLedgerError):
    """A retention shed the export's own personal fields (its key is destroyed): none
    can be recorded for it again, and holds can no longer be placed on it."""

    def __init__(self, export_id: str, what: str = "record personal data") -> None:
        self.export_id = export_id
        super().__init__(f"export {export_id} was shed by a retention policy: cannot {what}")


class SubjectKeyMissing(ExportLedgerError):
    """A subject who was never erased has no key: the key store lost it (restore it
    from a backup); their sealed fields cannot be read."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(
            f"the data key of subject {subject} is missing, and the subject was never "
            "erased: restore the subject_keys table from a backup"
        )


class ExportKeyMissing(SubjectKeyMissing):
    """An export whose fields were sealed under its own key has none: the key store lost
    it (a shed or erased key keeps its row); its sealed fields cannot be read."""

    def __init__(self, aggregate_id: str, subject: str) -> None:
        self.aggregate_id = aggregate_id
        self.subject = subject
        ExportLedgerError.__init__(
            self,
            f"the key of export {aggregate_id} (subject {subject}) is missing, and it was "
            "never shed or erased: restore the export_keys table from a backup",
        )


class SealedValueInvalid(ExportLedgerError):
    """A sealed value does not open under the key its marker names: it was changed, or
    moved from another export or field (its associated data binds both)."""

    def __init__(self, where: str, field: str, why: str = "does not open under its key") -> None:
        self.where = where
        self.field = field
        super().__init__(
            f"the sealed {field} of {where} {why}: changed, or moved from another export or field"
        )


class ConcurrentModification(ExportLedgerError):
    """Another command changed the export first; nothing was recorded for this one."""

    def __init__(self, export_id: str) -> None:
        self.export_id = export_id
        super().__init__(
            f"export {export_id!r} was changed by another command at the same time; "
            "nothing was recorded, reload it and retry"
        )


class IdempotencyKeyReused(ExportLedgerError):
    """An idempotency key was sent again with a different request body."""

    def __init__(self, key: str, export_id: str) -> None:
        self.key = key
        self.export_id = export_id
        super().__init__(
            f"idempotency key {key!r} was already used for export {export_id!r} "
            "with a different request"
        )


class StoreUnavailable(ExportLedgerError):
    """The database could not be reached or refused the connection."""


class ConfigurationError(ExportLedgerError):
    """Settings are missing or inconsistent."""


class SigningKeyUnavailable(ConfigurationError):
    """The current checkpoint key's private key is not at hand."""


class ReadModelError(ExportLedgerError):
    """The read table cannot follow the events (it needs a rebuild)."""


class RebuildInProgress(ExportLedgerError):
    """Another rebuild of the read table holds the rebuild lock."""


class CheckpointNotFound(ExportLedgerError, LookupError):
    """No signed checkpoint covers the requested tree size yet."""


class SnapshotTableRefused(ExportLedgerError, ValueError):
    """A point-in-time snapshot cannot go into the table named (a bad identifier,
    a table of the ledger's own, or an existing table without --replace)."""


class NotMigrated(ExportLedgerError, LookupError):
    """The database lacks a row or table the ledger needs: run 'export-ledger migrate'."""


class SealedLogDamaged(ExportLedgerError, LookupError):
    """The sealed log lacks subtree nodes its leaves need (verify tells what changed)."""


class InvalidSink(ExportLedgerError, ValueError):
    """A webhook sink that may not be added: a bad name or a target not allowed."""

    def __init__(self, message: str, field: str = "url") -> None:
        super().__init__(message)
        self.field = field


class SinkExists(InvalidSink):
    def __init__(self, name: str) -> None:
        super().__init__(f"there is a sink {name!r} already", "name")


class SinkNotFound(ExportLedgerError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no sink {name!r}")
        self.name = name


class RetentionPolicyNotFound(ExportLedgerError, LookupError):
    def __init__(self, policy_id: str) -> None:
        super().__init__(f"no retention policy {policy_id!r}")
        self.policy_id = policy_id
