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
from domain import notes
from projections.witnessing import WitnessConfig
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
