"""The seed service's own payloads, as its client sends them (shared by the tests)."""

from __future__ import annotations

from typing import Any

SEED_CONFIG: dict[str, Any] = {
    "scope": "all",
    "format": "jsonl",
    "includeMetadata": True,
    "includeQualityScores": True,
    "includeTimestamps": True,
    "includeApprovalHistory": False,
    "includeParentReferences": False,
    "includeFullContent": True,
}
"""The seed's ``ExportConfig`` from its test script: camelCase, ``format`` inside."""
