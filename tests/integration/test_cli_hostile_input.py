"""Every command, given hostile arguments, files and settings, ends as the README
promises: an error the user caused is one line on stderr and exit code 2, a failed
check exits 1, and nothing ever prints a traceback.

Each case of :data:`CASES` runs the installed ``export-ledger`` script, where a
traceback would show; they run concurrently, once, against one seeded and sealed
database. In their arguments and settings, ``{id}`` is a completed export,
``{marked}`` one whose stored values look like rich markup, ``{port}`` a port
already listened on, and ``{files}`` the folder of :func:`write_files`.

The readers of those files take many more malformed documents than are worth a
process each: :data:`BUNDLES`, :data:`CHECKPOINTS` and :data:`AUDIT_LINES` change
a valid proof bundle, checkpoint and audit line, and check the readers in-process.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.wiring.database import Database, open_ledger
from api.wiring.signing import generate
from projections import audit
from projections.audit_check import check_export, read_lines
from projections.follower import projector_connection
from projections.proofs import all_checkpoints, proof_bundle, saved_checkpoint, verify_bundle
from projections.sealer import Sealer
from sql.names import ADMIN_ROLE
from tests import pg
from tests.integration.helpers import complete, request
from tests.integration.readmodel_helpers import cli_env, cli_executable

NOT_UTF8 = "\udcff"  # how Python hands over an argument holding the byte 0xff
HUGE = "9" * 30
BIG_TIME = "9999-12-31T23:59:59-23:59"  # after year 9999 once in UTC


@dataclass(frozen=True, eq=False)  # each case is its own key in the outcomes
class Case:
    args: tuple[str, ...]
    code: int  # 2: the user's error, 1: a failed check, 0: hostile but fine
    says: str  # in the error line (2), on stderr (1), on stdout (0)
    env: dict[str, str] = field(default_factory=dict)


def case(code: int, says: str, *args: str, **env: str) -> Case:
    return Case(args, code, says, env)


CASES = [
    # usage: unknown commands, missing, negative and huge values
    case(2, "No such command 'histroy'", "histroy", "{id}"),
    case(2, "Missing argument", "proof"),
    case(2, "--exports", "demo", "--exports", "-1"),
    case(2, "--batch-size", "seal", "--batch-size", HUGE),
    case(2, "--batch-size", "project", "--batch-size", "0"),
    # export ids not UTF-8 or unknown; versions and moments out of range; stored markup
    case(2, "must be UTF-8", "history", NOT_UTF8),
    case(2, "not found", "history", "exp_0000000000000000000UNKNOWN"),
    case(2, "must be UTF-8", "replay", f"exp_{NOT_UTF8}", "--version", "1"),
    case(2, "has only", "replay", "{id}", "--version", HUGE),
    case(2, "needs a timezone", "replay", "{id}", "--as-of", "2026-03-03T14:00:00"),
    case(2, "out of range", "replay", "{id}", "--as-of", BIG_TIME),
    case(2, "out of range", "rebuild", "--as-of", BIG_TIME, "--into", "snapshot"),
    case(0, "Failed", "history", "{marked}"),
    case(0, "[/red] boom :x:", "replay", "{marked}", "--version", "3"),
    # tokens and the server
    case(2, "too long a lifetime", "token", "--user", "u", "--ttl", "99999999999d"),
    case(2, "cannot listen", "serve", "--port", "{port}"),
    # verify-file, proof, verify-proof
    case(2, "not a readable file", "verify-file", "{id}", "{files}/folder"),
    case(2, "must be UTF-8", "verify-file", NOT_UTF8, "{files}/empty"),
    case(1, "mismatch", "verify-file", "{id}", "{files}/empty"),
    case(2, "must be UTF-8", "proof", NOT_UTF8),
    case(2, "cannot write", "proof", "{id}", "--output", "{files}/missing/proof.json"),
    case(2, "not a JSON proof bundle", "verify-proof", "{files}/empty"),
    case(2, "not a JSON proof bundle", "verify-proof", "{files}/binary"),
    case(2, "not a JSON proof bundle", "verify-proof", "{files}/deep.json"),
    case(1, "not a proof bundle", "verify-proof", "{files}/list.json"),
    case(1, "position is out of range", "verify-proof", "{files}/proof-huge-position.json"),
    case(0, "0 events of [/x]", "verify-proof", "{files}/proof-markup.json"),
    # verify --against, checkpoints --output
    case(2, "not valid UTF-8", "verify", "--against", "{files}/binary"),
    case(2, "depth limit", "verify", "--against", "{files}/deep.json"),
    case(2, "a checkpoint is a JSON object", "verify", "--against", "{files}/list.json"),
    case(2, "out of range in UTC", "verify", "--against", "{files}/cp-big-time.jsonl"),
    case(2, "cannot write", "checkpoints", "--output", "{files}/missing/cps.jsonl"),
    case(2, "cannot write", "checkpoints", "--output", "{files}/empty/cps.jsonl"),
    case(2, "not a checkpoint", "checkpoints", "--output", "{files}/binary"),
    # audit-export, verify-export
    case(2, "is not a user id", "audit-export", "--user-id", NOT_UTF8),
    case(2, "cannot write", "audit-export", "--output", "/dev/full"),
    case(2, "cannot read", "verify-export", "{files}/folder"),
    case(2, "not UTF-8", "verify-export", "{files}/binary"),
    case(2, "no such checkpoint", "verify-export", "{files}/audit.jsonl", "--checkpoint", HUGE),
    case(1, "not an audit export header", "verify-export", "{files}/long-line"),
    case(1, "longer than", "verify-export", "{files}/audit-long-field.csv"),
    case(1, "position is out of range", "verify-export", "{files}/audit-huge-position.jsonl"),
    case(0, "matches the sealed log", "verify-export", f"{{files}}/{NOT_UTF8}.jsonl",
         PYTHONIOENCODING="utf-8:strict"),
    # settings
    case(2, "cannot reach", "status", EXPORT_LEDGER_DATABASE_URL="postgresql://u@127.0.0.1:1/x"),
    case(2, "is not a directory", "seal", EXPORT_LEDGER_DATA_DIR="{files}/empty"),
    case(2, "bad setting pool_size", "expire", EXPORT_LEDGER_POOL_SIZE="many"),
    case(2, "postgresql:// URLs only", "migrate", EXPORT_LEDGER_DATABASE_URL="mysql://u@h/x"),
]


@dataclass(frozen=True)
class Seeded:
    url: str
    ids: dict[str, str]  # "id": completed, "marked": with markup in its stored values
    bundle: dict[str, Any]  # the completed export's proof bundle
    checkpoint: dict[str, Any]  # the latest, as 'checkpoints' writes it
    lines: list[bytes]  # the audit export of the whole log, as JSON lines


@pytest.fixture(scope="module")
def seeded(admin_url: str, template_db: str) -> Iterator[Seeded]:
    """A database of the module's own: two exports, sealed."""
    name = pg.clone(admin_url, template_db)
    url = pg.with_database(admin_url, name)
    ledger = open_ledger(Database(url))
    try:
        ids = {"id": request(ledger).export_id, "marked": request(ledger, "[/u] :x:").export_id}
        complete(ledger, ids["id"])
        ledger.start_processing(ids["marked"], actor="[bold]worker")
        ledger.fail(ids["marked"], error_message="[/red] boom :x:", actor="[/w]")
    finally:
        ledger.close()
    with projector_connection(url) as conn:
        Sealer(url, generate()).catch_up(conn)
    with psycopg.connect(url, options=f"-c role={ADMIN_ROLE}") as conn:
        everything = audit.AuditFilters(1, audit.LAST, None, None)
        lines = b"".join(audit.chunks(audit.stream(conn, everything), "jsonl")).splitlines()
        checkpoint = all_checkpoints(conn)[-1].to_json()
        bundle = proof_bundle(conn, ids["id"])
    yield Seeded(url, ids, bundle, checkpoint, lines)
    pg.drop(admin_url, name)


@pytest.fixture(scope="module")
def outcomes(
    seeded: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Case, subprocess.CompletedProcess[str]]]:
    files = tmp_path_factory.mktemp("hostile")
    write_files(files, seeded)
    env = cli_env(seeded.url, "el-test-hostile")
    env["EXPORT_LEDGER_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    env["EXPORT_LEDGER_JWT_SECRET"] = "s" * 40
    with socket.create_server(("127.0.0.1", 0)) as busy:
        values = {**seeded.ids, "files": str(files), "port": str(busy.getsockname()[1])}

        def run(one: Case) -> subprocess.CompletedProcess[str]:
            settings = {k: v.format_map(values) for k, v in one.env.items()}
            return subprocess.run(
                [cli_executable(), *(arg.format_map(values) for arg in one.args)],
                env={**env, **settings},
                capture_output=True,
                text=True,
                errors="backslashreplace",
                timeout=120,
                check=False,
            )

        with ThreadPoolExecutor(max_workers=4) as pool:
            yield dict(zip(CASES, pool.map(run, CASES), strict=True))


def named(one: Case) -> str:
    return " ".join([*one.args, *(f"{k}={v}" for k, v in one.env.items())])[:70]


@pytest.mark.parametrize("one", CASES, ids=named)
def test_a_command_ends_as_promised(
    one: Case, outcomes: dict[Case, subprocess.CompletedProcess[str]]
) -> None:
    result = outcomes[one]
    shown = f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert result.returncode == one.code, shown
    if one.code == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), shown
    assert one.says in (result.stdout if one.code == 0 else result.stderr), shown


# -- the readers of files, in-process ------------------------------------------------

Change = Callable[[Any], Any]


def setting(path: tuple[str | int, ...], value: Any) -> Change:
    """A change that sets the value at ``path`` (keys and list indexes) of a document."""

    def change(document: Any) -> Any:
        inner = document
        for step in path[:-1]:
            inner = inner[step]
        inner[path[-1]] = value
        return document

    return change


def dropping(key: str) -> Change:
    return lambda document: {k: v for k, v in document.items() if k != key}


BUNDLES: dict[str, tuple[Change, str]] = {
    "a list": (lambda _: [1], "not a proof bundle"),
    "no checkpoint": (dropping("checkpoint"), "KeyError('checkpoint')"),
    "a list as checkpoint": (setting(("checkpoint",), [1]), "a checkpoint is a JSON object"),
    "an infinite tree size": (setting(("checkpoint", "tree_size"), float("inf")), "not an int"),
    "a time out of range": (setting(("checkpoint", "time"), BIG_TIME), "out of range in UTC"),
    "a naive time": (setting(("checkpoint", "time"), "2026-03-03T14:00:00"), "no timezone"),
    "events as a string": (setting(("events",), "abc"), "events is a JSON list"),
    "an event as a list": (setting(("events", 0), [1]), "TypeError"),
    "a huge position": (setting(("events", 0, "position"), 10**30), "position is out of"),
    "a negative leaf index": (setting(("events", 0, "leaf_index"), -1), "leaf_index is out"),
    "a fractional version": (setting(("events", 0, "version"), 1.5), "version is not an int"),
    "a NaN version": (setting(("events", 0, "version"), float("nan")), "version is not an int"),
    "a number as aggregate": (setting(("events", 0, "aggregate_id"), 5), "badly formed"),
    "a number as topic": (setting(("events", 0, "topic"), 5), "does not hash to the leaf"),
    "a number as path": (setting(("events", 0, "path"), 5), "TypeError"),
    "a NUL in the export id": (setting(("export_id",), "exp\x00"), "another aggregate"),
    "an export id not UTF-8": (setting(("export_id",), NOT_UTF8), "must be UTF-8"),
    "consistency as a string": (setting(("consistency",), "xy"), "consistency is a JSON list"),
    "a huge older checkpoint": (
        setting(("consistency",), [{"from": {"tree_size": 10**30}, "proof": []}]),
        "tree_size is out of range",
    ),
}
CHECKPOINTS: dict[str, tuple[Change, str]] = {
    "a string": (lambda _: "x", "a checkpoint is a JSON object"),
    "no root": (dropping("root"), "root"),
    "a huge tree size": (setting(("tree_size",), 10**30), "tree_size is out of range"),
    "a negative position": (setting(("position",), -1), "position is out of range"),
    "an infinite tree size": (setting(("tree_size",), float("inf")), "not an integer"),
    "a number as time": (setting(("time",), 5), "must be str"),
    "a naive time": (setting(("time",), "2026-03-03T14:00:00"), "no timezone"),
    "a time out of range": (setting(("time",), BIG_TIME), "out of range in UTC"),
    "a number as root": (setting(("root",), 5), "must be str"),
}
AUDIT_LINES: dict[str, tuple[Change, str]] = {
    "a position past a bigint": (setting(("position",), 2**64 - 1), "position is out of range"),
    "a huge float position": (setting(("position",), 1e300), "position is out of range"),
    "a negative version": (setting(("version",), -1), "version is out of range"),
    "a number as export id": (setting(("export_id",), 5), "TypeError"),
    "a number as aggregate": (setting(("aggregate_id",), 5), "badly formed"),
    "a list as state": (setting(("state",), [1]), "base64"),
    "a list": (lambda _: [1], "not an audit export header"),
}


@pytest.mark.parametrize("name", BUNDLES)
def test_a_malformed_bundle_is_a_bad_proof(name: str, seeded: Seeded) -> None:
    change, says = BUNDLES[name]
    problems = verify_bundle(change(copy.deepcopy(seeded.bundle)))
    assert problems and says in problems[0], problems


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_a_malformed_checkpoint_is_refused(name: str, seeded: Seeded) -> None:
    change, says = CHECKPOINTS[name]
    with pytest.raises((KeyError, TypeError, ValueError), match=says):
        saved_checkpoint(change(copy.deepcopy(seeded.checkpoint)))


@pytest.mark.parametrize("name", AUDIT_LINES)
def test_a_malformed_audit_line_is_a_problem(name: str, seeded: Seeded) -> None:
    change, says = AUDIT_LINES[name]
    line = json.dumps(change(json.loads(seeded.lines[0]))) + "\n"
    signed = saved_checkpoint(seeded.checkpoint)
    with psycopg.connect(seeded.url, options=f"-c role={ADMIN_ROLE}") as conn:
        report = check_export(conn, read_lines([line]), signed)
    messages = [problem.message for problem in report.problems.sorted()]
    assert messages and says in messages[0], messages


# -- the files of the commands -----------------------------------------------------


def write_files(files: Path, seeded: Seeded) -> None:
    export = b"\n".join(seeded.lines) + b"\n"
    header = ",".join(audit.COLUMNS).encode()
    raw = {
        "empty": b"",
        "binary": b"\xff\xfe\x00 not text \x80\n",
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "long-line": b"x" * 200_000 + b"\n",
        "list.json": b"[1, 2]\n",
        "audit.jsonl": export,
        f"{NOT_UTF8}.jsonl": export,
        "audit-long-field.csv": header + b"\n1," + b"A" * 200_000 + b"\n",
    }
    bundle = copy.deepcopy(seeded.bundle)
    documents = {
        "audit-huge-position.jsonl": {**json.loads(seeded.lines[0]), "position": 2**64 - 1},
        "proof-huge-position.json": setting(("events", 0, "position"), 10**30)(bundle),
        "proof-markup.json": {**seeded.bundle, "export_id": "[/x]", "events": []},
        "cp-big-time.jsonl": {**seeded.checkpoint, "time": BIG_TIME},
    }
    (files / "folder").mkdir()
    for name, data in raw.items():
        (files / name).write_bytes(data)
    for name, document in documents.items():
        (files / name).write_text(json.dumps(document) + "\n")
