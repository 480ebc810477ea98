"""The witnesses of ``EXPORT_LEDGER_WITNESSES`` and the HTTP client the sealer's
cosigners use to reach them (projections/tlog/witnessing.py): the standard library's, with a
short timeout, so a witness that hangs costs one round at most."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from api.wiring.settings import Settings, witness_of
from domain.exceptions import ConfigurationError
from projections.projector import ElectedProjector, Projector
from projections.tlog.witnessing import Report, WitnessConfig, report

TIMEOUT_SECONDS = 5.0


def configured(settings: Settings) -> list[WitnessConfig]:
    return [WitnessConfig(*witness_of(entry)) for entry in settings.witnesses]


def post(url: str, body: bytes, timeout: float = TIMEOUT_SECONDS) -> tuple[int, bytes]:
    """POST ``body``; (status, body) whatever the status. OSError when unreachable."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "text/plain; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status), bytes(answer.read(64 * 1024))
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), bytes(error.read(64 * 1024))


def get(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status), bytes(answer.read(1024 * 1024))
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), bytes(error.read(64 * 1024))


def current_report(
    conn: Any, settings: Settings, projector: Projector | ElectedProjector | None = None
) -> Report:
    """Each configured witness's last cosigned size and lag, and whether the latest
    checkpoint is witnessed (``witness_quorum`` of them); with this process's
    projector, also what each witness last answered."""
    cosigners = projector.cosigners if projector is not None else None
    attempts = cosigners.attempts if cosigners is not None else None
    return report(conn, configured(settings), settings.witness_quorum, attempts)


def report_lines(found: Report) -> list[tuple[str, str]]:
    """(witness, one line) for status and the console."""
    lines = []
    for w in found.witnesses:
        line = f"cosigned {w.cosigned_size:,}, lag {w.lag:,} leaves ({w.url})"
        lines.append((w.name, line + (f"; last error: {w.error}" if w.error else "")))
    return lines


def fetch_witnessed(url: str, origin: str) -> list[bytes]:
    """The checkpoint notes a witness holds for ``origin``: every one it cosigned when it
    serves ``/checkpoints`` (ours does), else its latest. ConfigurationError when it
    cannot be asked."""
    query = urllib.parse.urlencode({"origin": origin})
    try:
        status, body = get(f"{url}/checkpoints?{query}")
        if status == 200:
            listed = json.loads(body).get("checkpoints", [])
            if listed:
                return [str(note).encode() for note in listed]
        status, body = get(f"{url}/checkpoint?{query}")
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot ask the witness {url}: {error}") from None
    if status == 404:
        return []
    if status != 200:
        raise ConfigurationError(f"the witness {url} answered {status}")
    return [body]
