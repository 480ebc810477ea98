"""The follower's copies of the exports it planned, so a busy export is not rebuilt
from all its events for every batch.

A copy is used only while its version is the latest the events table holds (one
index-only query per batch); an export another writer changed meanwhile is read
again. Copies of a batch whose append failed are dropped: its plan had changed them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from uuid import UUID

from domain.exports.ids import aggregate_id
from domain.exports.model import ExportLog

Versions = Callable[[Sequence[UUID]], dict[UUID, int]]
Read = Callable[[set[str]], dict[str, ExportLog]]


class ExportCopies:
    def __init__(self, versions: Versions, size: int = 50_000) -> None:
        self._versions = versions
        self._size = size
        self._copies: OrderedDict[str, ExportLog] = OrderedDict()

    def current(self, export_ids: Iterable[str], read: Read) -> dict[str, ExportLog]:
        """The stored exports of ``export_ids`` as they stand, by export id: a copy when
        it is up to date, else what ``read`` rebuilds from the events."""
        ids = {export_id: aggregate_id(export_id) for export_id in export_ids}
        stored = self._versions(list(ids.values())) if ids else {}
        found: dict[str, ExportLog] = {}
        stale: set[str] = set()
        for export_id, originator_id in ids.items():
            if originator_id not in stored:
                continue
            copy = self._copies.get(export_id)
            if copy is not None and copy.version == stored[originator_id]:
                found[export_id] = copy
                self._copies.move_to_end(export_id)
            else:
                stale.add(export_id)
        if stale:
            fresh = read(stale)
            found.update(fresh)
            self.remember(fresh.values())
        return found

    def remember(self, exports: Iterable[ExportLog]) -> None:
        """Keep copies of these exports (their events all stored)."""
        for export in exports:
            self._copies[export.export_id] = export
            self._copies.move_to_end(export.export_id)
        while len(self._copies) > self._size:
            self._copies.popitem(last=False)

    def forget(self, export_ids: Iterable[str]) -> None:
        for export_id in list(export_ids):
            self._copies.pop(export_id, None)
