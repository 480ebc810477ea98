"""``export-ledger verify-export``: check a compliance export against a signed checkpoint.

1. Every line must be what projections/audit/export.py makes of the stored event it
   carries: its leaf hash, timestamp, actor, type and data are recomputed from
   its position, aggregate id, version, topic and state (and its export id
   must be the aggregate's).
2. The checkpoint's signature must hold. Lines after its position are counted,
   not checked.
3. Each line covered by the checkpoint must equal the sealed leaf of its
   position (this names the position of a line that was changed consistently).
4. The lines must be in the signed tree, checked with domain.tlog.merkle alone
   against the signed root:

   - an export of the whole log up to the checkpoint (leaves 0 to N-1) must
     hash to the signed root itself;
   - an export of a prefix of the log (leaves 0 to k-1) must hash to a root
     that a consistency proof (from the sealed nodes) links to the signed one;
   - any other export (a range, or filtered by user or type): an inclusion
     proof of each line, from the sealed nodes, to the signed root.

   A file cannot tell whether it was filtered, so a line removed from the
   middle of an export looks like a filtered export; ``gapless`` (for an
   unfiltered export) makes every sealed leaf between its first and last line
   required, and names the line after each gap.

Memory stays bounded: lines are read, checked and dropped in batches.
"""

from __future__ import annotations

import base64
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any
from uuid import UUID

import orjson
import psycopg

from domain.exports.ids import aggregate_id
from domain.tlog import merkle
from domain.topics import EXPORT_EVENT_PREFIX
from projections.audit.export import COLUMNS, EXPORT_EVENTS, Record, csv_row, describe
from projections.audit.subject_report import opened_problem
from projections.tlog.checkpoints import Checkpoint
from projections.tlog.proofs import Problems, stored_int
from projections.tlog.sealer import fetch_nodes
from sql import statement

UNKNOWN = 2**63 - 1
BATCH = 5_000
Line = tuple[int, Record | None, str]  # (line number, record, why it could not be read)


@dataclass
class ExportCheck:
    checkpoint: Checkpoint
    lines: int = 0
    covered: int = 0
    beyond: int = 0
    mode: str = "empty"  # complete, prefix, partial or empty
    problems: Problems = field(default_factory=Problems)

    @property
    def ok(self) -> bool:
        return self.problems.total == 0


def read_lines(text_lines: Iterable[str]) -> Iterator[Line]:
    """Records of a JSON-lines or CSV export (told apart by its first character)."""
    lines = iter(enumerate(text_lines, start=1))
    first = next(lines, None)
    if first is None:
        return
    if first[1].lstrip().startswith("{"):
        for number, text in chain([first], lines):
            if text.strip():
                yield _json_line(number, text)
        return
    if _cells(first[1]) != list(COLUMNS):
        yield first[0], None, f"not an audit export header: {first[1].strip()[:80]!r}"
        return
    for number, text in lines:
        if text.strip():
            yield _csv_line(number, text)


def _cells(text: str) -> list[str] | None:
    """The cells of one CSV line; None when csv cannot read it (a field longer
    than its limit)."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def _json_line(number: int, text: str) -> Line:
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return number, None, f"not JSON ({error})"
    if not isinstance(record, dict):
        return number, None, "not a JSON object"
    return number, record, ""


def _csv_line(number: int, text: str) -> Line:
    cells = _cells(text)
    if cells is None:
        return number, None, f"a field is longer than {csv.field_size_limit():,} characters"
    if len(cells) != len(COLUMNS):
        return number, None, f"{len(cells)} cells, not {len(COLUMNS)}"
    return number, {"_csv": cells, **dict(zip(COLUMNS, cells, strict=True))}, ""


def _recomputed(record: Record) -> tuple[int, bytes, Record]:
    """(position, leaf hash, what the line should be); raises ValueError and co."""
    position = stored_int(record["position"], "position")
    version = stored_int(record["version"], "version")
    aggregate = UUID(str(record["aggregate_id"])).bytes
    state = base64.b64decode(str(record["state"]), validate=True)
    export_id = record["export_id"] or None
    expected = describe(position, aggregate, version, str(record["topic"]), state, export_id)
    return position, bytes.fromhex(expected["leaf_hash"]), expected


def line_problem(record: Record) -> str | None:
    """Why a line is not what the export makes of the event it carries (None: it is)."""
    _, _, expected = _recomputed(record)
    if "_csv" in record:
        cells = zip(COLUMNS, record["_csv"], csv_row(expected), strict=True)
        wrong = [column for column, got, want in cells if got != want]
    else:
        wrong = [column for column in COLUMNS if record.get(column) != expected[column]]
    if wrong:
        return f"its {', '.join(wrong)} differ from what its stored state says"
    if (opened := opened_problem(record)) is not None:  # a subject access report's line
        return opened
    topic, export_id = expected["topic"], expected["export_id"]
    owner = expected["data"].get("export_id") if expected["type"] not in EXPORT_EVENTS else None
    if export_id is not None and topic.startswith(EXPORT_EVENT_PREFIX):
        if aggregate_id(export_id) != UUID(expected["aggregate_id"]):
            return f"its export_id {export_id} is not its aggregate's"
    elif export_id is not None and owner != export_id:
        return f"its export_id {export_id} is not its claim's"
    return None


def check_export(
    conn: psycopg.Connection[Any],
    lines: Iterable[Line],
    signed: Checkpoint,
    trusted: frozenset[str] | None = None,
    on_lines: Any = lambda _n: None,
    gapless: bool = False,
) -> ExportCheck:
    """Check an export's lines against a signed checkpoint (see the module docstring)."""
    report = ExportCheck(signed)
    if problem := signed.signature_problem(trusted):
        report.problems.add(signed.position, "signature", f"checkpoint: {problem}")
    tree = _Tree(conn, signed, report.problems, gapless)
    batch: list[tuple[int, bytes]] = []
    for number, record, why in lines:
        report.lines += 1
        position, leaf = _one_line(number, record, why, report.problems)
        if position is None or leaf is None:
            continue
        if position > signed.position:
            report.beyond += 1
            continue
        report.covered += 1
        batch.append((position, leaf))
        if len(batch) >= BATCH:
            tree.check(batch)
            on_lines(len(batch))
            batch = []
    tree.check(batch)
    on_lines(len(batch))
    report.mode = tree.finish() if report.covered else "empty"
    return report


def _one_line(
    number: int, record: Record | None, why: str, problems: Problems
) -> tuple[int | None, bytes | None]:
    if record is None:
        problems.add(UNKNOWN, "malformed", f"line {number}: {why}")
        return None, None
    try:
        position, leaf, _ = _recomputed(record)
        problem = line_problem(record)
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as error:
        problems.add(UNKNOWN, "malformed", f"line {number}: unreadable ({error!r})")
        return None, None
    if problem:
        problems.add(position, "line", f"line {number}: {problem}")
    return position, leaf


class _Tree:
    """Checks batches of (position, leaf) against the sealed leaves and the signed root."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        signed: Checkpoint,
        problems: Problems,
        gapless: bool = False,
    ):
        self.conn, self.signed, self.problems = conn, signed, problems
        self.gapless, self.index = gapless, -1
        self.peaks: list[bytes] = []
        self.size = 0  # leaves 0..size-1 seen in order so far
        self.prefix = True
        self.last = 0

    def check(self, batch: list[tuple[int, bytes]]) -> None:
        if not batch:
            return
        positions = {"positions": [p for p, _ in batch]}
        rows = self.conn.execute(statement("audit", "sealed_leaves"), positions).fetchall()
        sealed = {int(r[0]): (int(r[1]), bytes(r[2])) for r in rows}
        proofs: list[tuple[int, int, bytes]] = []
        for position, leaf in batch:
            index, stored = sealed.get(position, (None, None))
            if position <= self.last:
                self.problems.add(position, "order", "not after the line before it")
            self.last = max(self.last, position)
            if index is None:
                self.problems.add(position, "unsealed", "no sealed leaf has this position")
                self.prefix = False
                continue
            if stored != leaf:
                self.problems.add(position, "changed", f"differs from sealed leaf {index}")
            if self.gapless and self.index >= 0 and index != self.index + 1:
                gap = f"leaves {self.index + 1} to {index - 1}"
                self.problems.add(position, "missing", f"{gap} are not in the file, before it")
            self.index = index
            if self.prefix and index == self.size:
                merkle.append(self.peaks, self.size, leaf)
                self.size += 1
                continue
            if self.prefix:
                self._prove_prefix()
            proofs.append((position, index, leaf))
        self._prove_each(proofs)

    def _prove_prefix(self) -> None:
        """The lines so far were leaves 0..size-1: link their root to the signed one."""
        self.prefix = False
        size, signed = self.size, self.signed
        if size == 0:
            return
        found = fetch_nodes(
            self.conn, merkle.nodes_needed(merkle.consistency_ranges(size, signed.tree_size))
        )
        proof = merkle.consistency_path(size, signed.tree_size, lambda lv, i: found[lv, i])
        if not merkle.verify_consistency(
            size, signed.tree_size, proof, merkle.peaks_root(self.peaks), signed.root
        ):
            self.problems.add(
                self.last, "root", f"lines of leaves 0 to {size - 1} are not in the signed tree"
            )

    def _prove_each(self, proofs: list[tuple[int, int, bytes]]) -> None:
        size, root = self.signed.tree_size, self.signed.root
        ranges = [r for _, index, _ in proofs for r in merkle.inclusion_ranges(index, size)]
        found = fetch_nodes(self.conn, merkle.nodes_needed(ranges))
        for position, index, leaf in proofs:
            path = merkle.inclusion_path(index, size, lambda lv, i: found[lv, i])
            if not merkle.verify_inclusion(leaf, index, size, path, root):
                self.problems.add(
                    position, "inclusion", f"not included at leaf {index} of the signed tree"
                )

    def finish(self) -> str:
        if not self.prefix:
            return "partial"
        if self.size == self.signed.tree_size:
            if merkle.peaks_root(self.peaks) != self.signed.root:
                self.problems.add(
                    self.last, "root", "the lines hash to another root than the signed one"
                )
            return "complete"
        self._prove_prefix()
        return "prefix"
