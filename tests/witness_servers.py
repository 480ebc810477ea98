"""Witnesses of our own (api/witness) on loopback ports, in threads of the test process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from api.wiring.signing import Ed25519Signer, generate
from api.witness.app import witness_app
from api.witness.core import Witness
from api.witness.state import State
from domain.tlog import notes
from projections.tlog.witnessing import WitnessConfig
from tests.e2e.live import serving


@dataclass
class Running:
    witness: Witness
    url: str

    @property
    def config(self) -> WitnessConfig:
        return WitnessConfig(self.witness.key, self.url)

    @property
    def setting(self) -> str:
        """Its entry in EXPORT_LEDGER_WITNESSES."""
        return f"{self.witness.key.text()} {self.url}"


@contextmanager
def witnesses(
    directory: Path, origin: str, log_key: Ed25519Signer, count: int = 2
) -> Iterator[list[Running]]:
    trusted = {origin: [notes.VerifierKey.of(origin, log_key.public_key)]}
    with ExitStack() as stack:
        running = []
        for n in range(1, count + 1):
            state = State(directory / f"witness-{n}.sqlite")
            witness = Witness(f"witness.test/w{n}", generate(), trusted, state)
            url = stack.enter_context(serving(witness_app(witness), f"witness-{n}"))
            running.append(Running(witness, url))
        yield running


@contextmanager
def witnessed_api(
    database_url: str, directory: Path, origin: str, **overrides: object
) -> Iterator[tuple[str, list[Running], Ed25519Signer]]:
    """The API on a real port (sealing every 1 s), with two witnesses of our own; yields
    its URL, the witnesses and the log's key."""
    from api.http.app import create_app
    from api.wiring.signing import write_private
    from tests.e2e.conftest import make_settings

    key = generate()
    write_private(directory / "log-key.pem", key)
    with witnesses(directory, origin, key) as running:
        settings = make_settings(
            database_url,
            directory,
            log_origin=origin,
            signing_key_file=directory / "log-key.pem",
            witnesses=[r.setting for r in running],
            **overrides,
        )
        with serving(create_app(settings, run_migrations=False)) as url:
            yield url, running, key
