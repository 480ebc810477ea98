"""``export-ledger keys``: the checkpoint-signing keys, and their rotation.

Public keys and the tree sizes each signs live in ``ledger_keys``
(projections/tlog/keys.py); private keys in files, mode 0600 (api/wiring/signing.py).
"""

from __future__ import annotations

import typer
from rich.table import Table

from api.cli.output import JsonFlag, errors, opened, out, print_json
from projections.tlog.keys import SigningKey, all_keys, rotate
from sql.names import ADMIN_ROLE

commands = typer.Typer(
    name="keys",
    help="The keys that sign checkpoints: list them, rotate them.",
    no_args_is_help=True,
)


@commands.command("list")
def list_keys(as_json: JsonFlag = False) -> None:
    """Every checkpoint key, oldest first, with the tree sizes it signs."""
    with errors(), opened() as rt:
        with rt.database.connect(ADMIN_ROLE) as conn:
            found = all_keys(conn)
        here = {key.key_id for key in found if rt.keys.find(key.key_id) is not None}
    if as_json:
        print_json([{**key.to_json(), "private_key_here": key.key_id in here} for key in found])
        return
    if not found:
        out.print("no checkpoint key yet: the sealer registers one when it first signs")
        return
    table = Table("key id", "signs tree sizes", "registered", "private key here")
    for key in found:
        table.add_row(
            key.key_id + (" (current)" if key.current else ""),
            _sizes(key),
            f"{key.registered_at:%Y-%m-%d %H:%M:%S %Z}",
            "yes" if key.key_id in here else "no",
        )
    out.print(table)


def _sizes(key: SigningKey) -> str:
    if key.signs_until is None:
        return f"{key.signs_from:,} on"
    if key.signs_until <= key.signs_from:
        return "none (rotated before it signed)"
    return f"{key.signs_from:,} to {key.signs_until - 1:,}"


@commands.command("rotate")
def rotate_key() -> None:
    """Make a new checkpoint key: it signs every checkpoint from the next one on,
    and old checkpoints keep verifying with the key that signed them.

    The new private key is written to the data directory (mode 0600); with
    EXPORT_LEDGER_SIGNING_KEY_FILE set, the key in that file is registered instead.
    A running sealer picks the new key up at its next batch if it can read the file.
    """
    with errors(), opened() as rt:
        configured = rt.settings.signing_key_file
        signer = rt.keys.first() if configured is not None else rt.keys.create()
        with rt.database.projector() as conn:
            keys = rotate(conn, signer.key_id, signer.public_key)
    new = keys[-1]
    out.print(
        f"key {new.key_id} signs checkpoints from tree size {new.signs_from:,}",
        highlight=False,
    )
    if len(keys) > 1:
        out.print(f"key {keys[-2].key_id} is retired from that size on", highlight=False)
