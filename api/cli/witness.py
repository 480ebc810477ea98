"""``export-ledger witness``: a witness of our own (api/witness), so that an auditor can
cosign the ledger's checkpoints on their own machine, and its key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.output import err, errors, fail, out
from api.wiring import signing
from domain.tlog import notes

commands = typer.Typer(help="Run a witness that cosigns checkpoints (c2sp.org/tlog-witness).")
NameOption = Annotated[
    str, typer.Option("--name", help="The witness's name: a schema-less URL, e.g. w1.example.org.")
]
KeyOption = Annotated[Path, typer.Option("--key", help="The witness's Ed25519 PEM key file.")]


def _vkey(name: str, signer: signing.Ed25519Signer) -> str:
    try:
        return notes.VerifierKey.of(name, signer.public_key, notes.COSIGNATURE_V1).text()
    except notes.NoteError as error:
        fail(str(error))


@commands.command("keygen")
def keygen(key: KeyOption, name: NameOption) -> None:
    """Make a witness key (a new file, mode 0600) and print its verifier key."""
    signer = signing.generate()
    vkey = _vkey(name, signer)
    if key.exists() or not signing.write_private(key, signer):
        fail(f"{key} exists already: a witness key is made once")
    out.print(vkey, highlight=False, soft_wrap=True)


def _logs(entries: list[str]) -> dict[str, list[notes.VerifierKey]]:
    """``ORIGIN=VKEY`` (or a bare VKEY, whose name is the origin) per ``--log``."""
    logs: dict[str, list[notes.VerifierKey]] = {}
    for entry in entries:
        origin, sep, text = entry.partition("=")
        if not sep or "+" in origin:
            origin, text = "", entry
        try:
            key = notes.VerifierKey.parse(text)
        except notes.NoteError as error:
            fail(f"--log {entry[:60]!r}: {error}")
        if key.kind != notes.ED25519:
            fail(f"--log {entry[:60]!r}: a log's key is an Ed25519 note key (type 0x01)")
        logs.setdefault(origin or key.name, []).append(key)
    return logs


@commands.command("serve")
def serve(
    key: KeyOption,
    name: NameOption,
    log: Annotated[
        list[str],
        typer.Option("--log", help="A log to witness: ORIGIN=VKEY, or its VKEY (repeatable)."),
    ],
    state: Annotated[
        Path, typer.Option("--state", help="The SQLite file of the witness's state.")
    ] = Path("witness-state.sqlite"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8100,
) -> None:
    """Cosign checkpoints of the given logs that are consistent with what it cosigned before."""
    import uvicorn

    from api.cli.server import _can_listen
    from api.witness.app import witness_app
    from api.witness.core import Witness
    from api.witness.state import State

    logs = _logs(log)
    with errors():
        signer = signing.load(key)
    vkey = _vkey(name, signer)
    _can_listen(host, port)
    try:
        stored = State(state)
    except Exception as error:  # sqlite3.Error, OSError: one line, never a traceback
        fail(f"cannot open the witness state {state}: {error}")
    application = witness_app(Witness(name, signer, logs, stored))
    err.print(f"witness {vkey} on http://{host}:{port}", highlight=False, soft_wrap=True)
    uvicorn.run(application, host=host, port=port, log_level="warning", log_config=None)
