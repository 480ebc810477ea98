"""New events carry the topics events were always stored under, wherever the classes live.

The topics are hashed into the events' Merkle leaves and stored in an append-only
table, so they can never change. Checked in a fresh process, so that no topic
registered by an earlier test (or an import order) can hide one that moved.
"""

from __future__ import annotations

import json
import subprocess
import sys

STORED_TOPICS = {
    "ExportLog": "domain.model:ExportLog",
    "ExportLog.Requested": "domain.model:ExportLog.Requested",
    "ExportLog.Imported": "domain.model:ExportLog.Imported",
    "ExportLog.ProcessingStarted": "domain.model:ExportLog.ProcessingStarted",
    "ExportLog.Completed": "domain.model:ExportLog.Completed",
    "ExportLog.Failed": "domain.model:ExportLog.Failed",
    "ExportLog.Retried": "domain.model:ExportLog.Retried",
    "ExportLog.Downloaded": "domain.model:ExportLog.Downloaded",
    "ExportLog.ExpiryChanged": "domain.model:ExportLog.ExpiryChanged",
    "ExportLog.Expired": "domain.model:ExportLog.Expired",
    "ExportLog.HoldPlaced": "domain.model:ExportLog.HoldPlaced",
    "ExportLog.HoldReleased": "domain.model:ExportLog.HoldReleased",
    "ExportLog.Deleted": "domain.model:ExportLog.Deleted",
    "ExportLog.RetentionApplied": "domain.model:ExportLog.RetentionApplied",
    "IdempotencyClaim": "domain.model:IdempotencyClaim",
    "IdempotencyClaim.Claimed": "domain.model:IdempotencyClaim.Claimed",
    "DataSubject": "domain.subjects:DataSubject",
    "DataSubject.Erased": "domain.subjects:DataSubject.Erased",
    "RetentionPolicies": "domain.retention.policies:RetentionPolicies",
    "RetentionPolicies.PolicySet": "domain.retention.policies:RetentionPolicies.PolicySet",
    "RetentionPolicies.PolicyRemoved": "domain.retention.policies:RetentionPolicies.PolicyRemoved",
}

_PROBE = """
import json
from eventsourcing.utils import get_topic, resolve_topic
from domain.exports.model import ExportLog, IdempotencyClaim
from domain.ledger.erasure import DataSubject
from domain.retention.policies import RetentionPolicies

found = {}
for aggregate in (ExportLog, IdempotencyClaim, DataSubject, RetentionPolicies):
    found[aggregate.__name__] = get_topic(aggregate)
    for name, value in vars(aggregate).items():
        if isinstance(value, type) and name not in ("Event", "Created"):
            found[aggregate.__name__ + "." + name] = get_topic(value)
export = ExportLog(export_id="exp_x", user_id="u", format="csv", config={},
                   conversation_count=0, actor="u")
export.start_processing("u")
written = [(get_topic(type(e)), getattr(e, "originator_topic", None))
           for e in export.collect_events()]
resolved = {t: get_topic(resolve_topic(t)) for t in found.values()}
print(json.dumps({"found": found, "written": written, "resolved": resolved}))
"""


def probe() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_every_event_class_keeps_its_stored_topic() -> None:
    result = probe()
    assert result["found"] == STORED_TOPICS
    assert result["resolved"] == {t: t for t in STORED_TOPICS.values()}
    assert result["written"] == [
        ["domain.model:ExportLog.Requested", "domain.model:ExportLog"],
        ["domain.model:ExportLog.ProcessingStarted", None],
    ]
