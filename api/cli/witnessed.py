"""What ``verify --against-witness`` and ``verify-proof`` (receipts, tlog-proofs) add to
the sealed log's commands (api/cli/seal.py): asking witnesses, and checking receipts
offline against a policy of trusted keys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import typer

from api.cli.output import err, fail, out
from api.wiring.witnesses import fetch_witnessed
from domain.exceptions import InvalidExport
from domain.exports.ids import aggregate_id
from domain.tlog import notes
from domain.tlog import proof as tlog_proof
from projections.audit.verify import VerifyReport
from projections.db.database import Database
from projections.tlog.checkpoints import Checkpoint, from_note, known_origin
from projections.tlog.keys import all_keys
from projections.tlog.receipts import receipt_problems
from sql.names import ADMIN_ROLE

SIZE_IN = re.compile(r"^checkpoint a witness cosigned of size (\d+) ")

WITNESSED = "checkpoint a witness cosigned"


def witnessed(db: Database, settings: Any, witnesses: list[str]) -> list[Checkpoint]:
    """The checkpoints the witnesses at these URLs hold for this log, each checked to be
    signed by one of the log's keys (exit 2 when a witness cannot be asked)."""
    with db.connect(ADMIN_ROLE, autocommit=True) as conn:
        keys = all_keys(conn)
        origin = known_origin(conn, settings.log_origin, keys[0].key_id if keys else None)
    if origin is None or not keys:
        fail("the log has no checkpoint key yet: nothing a witness could have cosigned")
    found: dict[int, Checkpoint] = {}
    for witness in witnesses:
        for data in fetch_witnessed(witness.rstrip("/"), origin):
            try:
                cp = from_note(data, origin, keys)
            except ValueError as error:
                fail(f"{witness}: {error}")
            found.setdefault(cp.tree_size, cp)
    if not found:
        fail(f"the witnesses hold no checkpoint of {origin!r}")
    return [found[size] for size in sorted(found)]


def print_split_view(report: VerifyReport, witnessed: list[Checkpoint]) -> None:
    """The first tree size a witness cosigned that the log's events no longer give."""
    bad = sorted(
        int(m[1])
        for p in report.problems.examples
        if p.kind == "root" and (m := SIZE_IN.match(p.message))
    )
    sizes = [cp.tree_size for cp in witnessed]
    if not bad:
        out.print(
            f"the log's events give every tree the witnesses cosigned ({len(sizes)}, "
            f"up to size {sizes[-1]:,})",
            highlight=False,
            soft_wrap=True,
        )
        return
    agreed = [size for size in sizes if size < bad[0]]
    since = f"; they agree up to size {agreed[-1]:,}" if agreed else ""
    err.print(
        f"split view: the trees differ from size {bad[0]:,} on: the witnesses cosigned a tree of "
        f"that size which the log's events do not give{since}",
        highlight=False,
        soft_wrap=True,
    )


def verify_receipt(
    path: Path, raw: bytes, vkey: str | None, witnesses: list[str], k: int | None
) -> None:
    """A receipt (JSON) or one tlog-proof, under the policy of the options."""
    if vkey is None:
        fail("a receipt or tlog-proof is checked against the log's key: give --vkey")
    try:
        log_key = notes.VerifierKey.parse(vkey)
        trusted = [notes.VerifierKey.parse(w) for w in witnesses]
    except notes.NoteError as error:
        fail(f"a verifier key: {error}")
    if any(w.kind != notes.COSIGNATURE_V1 for w in trusted):
        fail("a --witness key is a cosignature key (type 0x04)")
    quorum = len(trusted) if k is None else k
    if quorum > len(trusted):
        fail(f"--k {quorum} exceeds the {len(trusted)} witnesses given")

    def check(proof: tlog_proof.TlogProof) -> list[str]:
        return tlog_proof.problems(proof, log_key, trusted, quorum)

    try:
        text = raw.decode()
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8")
    if text.startswith(tlog_proof.HEADER):
        try:
            found = check(tlog_proof.parse(text))
        except ValueError as error:
            found = [f"malformed: {error}"]
        count, what = 1, "the entry is"
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            fail(f"{path} is neither a receipt nor a tlog-proof: {error}")
        expected = None
        if isinstance(data, dict) and isinstance(data.get("export_id"), str):
            try:
                expected = aggregate_id(data["export_id"])
            except InvalidExport:
                expected = None
        found = receipt_problems(data, expected, check)
        count = len(data.get("proofs", [])) if isinstance(data, dict) else 0
        what = f"{count} events of {data.get('export_id')} are" if isinstance(data, dict) else ""
    if found:
        for problem in found:
            err.print(f"bad proof: {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    witnessed = f", cosigned by at least {quorum} of {len(trusted)} trusted witnesses"
    out.print(
        f"{what} in the log {log_key.name}{witnessed if trusted else ''}",
        highlight=False,
        soft_wrap=True,
    )
