"""``EXPORT_LEDGER_SYNC_FROM``: the server's projector follows the source table too,
once ``import --follow`` has set its slot up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.import_helpers import run_import
from tests.integration.importing.test_live_sync import execute, insert_queued, topics
from tests.integration.logical_source import (
    source_binaries,
    source_cluster,
    source_database,
    wait_for,
)

BIN = source_binaries()


@pytest.mark.skipif(BIN is None, reason="no PostgreSQL server programs")
@pytest.mark.parametrize("elected", [False, True])
def test_the_projector_follows_the_source(
    database_url: str, make_app: Callable[..., FastAPI], tmp_path: Path, elected: bool
) -> None:
    assert BIN is not None
    with source_cluster(BIN) as server, source_database(server) as source:
        setup = run_import(
            database_url, source, tmp_path, "--follow", "--until-idle", "--jobs", "1"
        )
        assert setup.exit_code == 0, setup.output
        with TestClient(make_app(sync_from=source, projector_election=elected)):
            export_id = insert_queued(source)
            execute(source, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s",
                    export_id)  # fmt: skip
            wait_for(lambda: len(topics(database_url, export_id)) == 2, "the projector to follow")
        assert topics(database_url, export_id) == ["Imported", "ProcessingStarted"]
