"""The topics stored events carry, fixed for good.

Every stored event names its class by a topic string, which is also hashed into
its Merkle leaf, in an append-only table: these strings can never change, wherever
the classes move. They are the modules the classes were first defined in
(``domain/model.py``, ``domain/subjects.py``); the aggregates declare them as their
explicit ``TOPIC`` and every other module names them through these constants.
"""

from __future__ import annotations

EXPORT_LOG = "domain.model:ExportLog"
IDEMPOTENCY_CLAIM = "domain.model:IdempotencyClaim"
DATA_SUBJECT = "domain.subjects:DataSubject"

EXPORT_EVENT_PREFIX = EXPORT_LOG + "."
"""Every event of an export's life: the events that carry personal fields."""

EXPORT_EVENTS = (
    "Requested",
    "Imported",
    "ProcessingStarted",
    "Completed",
    "Failed",
    "Retried",
    "Downloaded",
    "ExpiryChanged",
    "Expired",
    "HoldPlaced",
    "HoldReleased",
    "Deleted",
    "RetentionApplied",
)


def export_event(name: str) -> str:
    """The topic of the export event class ``name`` (``Requested``, ...)."""
    return EXPORT_EVENT_PREFIX + name


REQUESTED = export_event("Requested")
IMPORTED = export_event("Imported")
RETENTION_APPLIED = export_event("RetentionApplied")
RETENTION_POLICIES = "domain.retention.policies:RetentionPolicies"
"""The aggregate of the ledger's retention policies (domain/retention/policies.py)."""
CLAIMED = IDEMPOTENCY_CLAIM + ".Claimed"
ERASED = DATA_SUBJECT + ".Erased"
