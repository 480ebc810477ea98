"""What the export page shows besides the export: its events, the export as of a past
point, and the inclusion proof of its events against the latest signed checkpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.exceptions import CheckpointNotFound, ExportLedgerError
from domain.exports.views import ExportState, HistoryEntry
from domain.ledger.application import ExportLedger
from projections.reads.read_store import ReadStore
from projections.reads.sessions import pooled_session
from projections.tlog.checkpoints import latest_checkpoint
from projections.tlog.proofs import proof_bundle, verify_bundle
from projections.tlog.witnessing import WitnessConfig, witnessed_by
from sql.names import ADMIN_ROLE

_NOT_CHANGES = frozenset({"actor", "timestamp"})


@dataclass(frozen=True)
class Event:
    entry: HistoryEntry
    changes: list[tuple[str, str]]


def events(history: list[HistoryEntry]) -> list[Event]:
    return [
        Event(e, [(k, _shown(v)) for k, v in e.data.items() if k not in _NOT_CHANGES])
        for e in history
    ]


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return "—" if value is None else str(value)


@dataclass(frozen=True)
class AsOf:
    """The export as of an event version or a moment, or why it cannot be shown."""

    version: str = ""
    at: str = ""
    state: ExportState | None = None
    error: str = ""


def as_of(ledger: ExportLedger, export_id: str, params: Mapping[str, str]) -> AsOf:
    version, at = params.get("version", "").strip(), params.get("at", "").strip()
    if not version and not at:
        return AsOf()
    if version and at:
        return AsOf(version, at, error="Pick an event or a time, not both.")
    if version:
        if not version.isdigit() or not 0 < int(version) < 2**31:
            return AsOf(version, at, error="An event version is a whole number from 1.")
        return _replay(ledger, export_id, AsOf(version=version), version=int(version))
    moment = parse_moment(at)
    if moment is None:
        return AsOf(at=at, error="Give a time as YYYY-MM-DDTHH:MM (UTC) or with an offset.")
    return _replay(ledger, export_id, AsOf(at=at), at=moment)


def _replay(ledger: ExportLedger, export_id: str, asked: AsOf, **point: Any) -> AsOf:
    try:
        state = ledger.state_as_of(export_id, **point)
    except ExportLedgerError as error:
        return AsOf(asked.version, asked.at, error=str(error))
    return AsOf(asked.version, asked.at, state=state)


def parse_moment(text: str) -> datetime | None:
    """RFC 3339, or a browser's datetime-local value (taken as UTC)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ProofView:
    """The inclusion proof of an export's events, checked here with the auditor's code."""

    checkpoint: dict[str, Any] | None = None
    included: list[dict[str, Any]] = field(default_factory=list)
    unsealed: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    note: str = ""
    witnesses: int = 0  # configured
    cosigned: int = 0  # of them, cosigned the checkpoint
    quorum: int = 0

    @property
    def witnessed(self) -> bool:
        return self.witnesses > 0 and self.cosigned >= self.quorum

    @property
    def verified(self) -> bool:
        return self.checkpoint is not None and not self.problems and bool(self.included)


def proof(
    reads: ReadStore,
    export_id: str,
    witnesses: Sequence[WitnessConfig] = (),
    quorum: int | None = None,
) -> ProofView:
    """Call only for an export the caller may see: proofs read the stored events as
    admin (as the API's proof route does). The bundle is then checked with
    :func:`projections.tlog.proofs.verify_bundle`, the code ``export-ledger verify-proof``
    runs offline."""
    try:
        with pooled_session(reads, ADMIN_ROLE) as conn:
            bundle = proof_bundle(conn, export_id)
            signed = latest_checkpoint(conn)
            cosigned = (
                witnessed_by(signed, conn, witnesses)
                if witnesses and signed is not None and signed.origin is not None
                else []
            )
    except CheckpointNotFound:
        return ProofView(note="No signed checkpoint yet: the sealer has not sealed the log.")
    problems = verify_bundle(bundle)
    return ProofView(
        checkpoint=bundle["checkpoint"],
        included=bundle["events"],
        unsealed=list(bundle["unsealed"]),
        problems=problems,
        witnesses=len(witnesses),
        cosigned=len(cosigned),
        quorum=len(witnesses) if quorum is None else quorum,
    )
