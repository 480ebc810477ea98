"""The key webhook sinks' secrets are sealed under, kept outside the database.

As the checkpoint key is: a file (mode 0600) in the data directory, made on first use,
or the file ``EXPORT_LEDGER_SINK_KEY_FILE`` names. Every server that delivers to sinks,
and the CLI that adds them, must have the same file; without it a stored secret cannot
be opened, and the database alone cannot sign a webhook.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from pathlib import Path

from api.wiring.settings import Settings
from api.wiring.signing import require_private
from domain.exceptions import ConfigurationError

SINK_KEY_FILE = "sink-key"
_KEY_BYTES = 32


def sink_key(settings: Settings) -> bytes:
    path = settings.sink_key_file or settings.data_dir / SINK_KEY_FILE
    if settings.sink_key_file is None and not path.exists():
        _create(path)
    try:
        require_private(path, "sink key")
        key = base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
    except FileNotFoundError:
        raise ConfigurationError(f"no sink key file {path}") from None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ConfigurationError(f"the sink key file {path} is not base64") from None
    if len(key) != _KEY_BYTES:
        raise ConfigurationError(f"the sink key in {path} is not {_KEY_BYTES} bytes")
    return key


def allowed_hosts(settings: Settings) -> list[str]:
    return [h.strip().lower() for h in settings.sink_hosts.split(",") if h.strip()]


def _create(path: Path) -> None:
    """A new key, written privately and linked into place (concurrent first uses agree)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".sink-key-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(os.urandom(_KEY_BYTES)).decode() + "\n")
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
