"""Fixtures of the privacy tests."""

from __future__ import annotations

from typing import Any

import pytest

from projections.export_keys import ExportKeyCache


@pytest.fixture
def key_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the statements the export key store runs on its own connections."""
    ran: list[str] = []
    original = ExportKeyCache._rows

    def counted(self: ExportKeyCache, name: str, params: dict[str, Any]) -> Any:
        ran.append(name)
        return original(self, name, params)

    monkeypatch.setattr(ExportKeyCache, "_rows", counted)
    return ran
