"""The live sync's tests share one source cluster per module (``wal_level = logical``,
started by the test on loopback) and a fresh source database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.logical_source import source_binaries, source_cluster, source_database
from tests.integration.standby import Server


@pytest.fixture(scope="module")
def cluster() -> Iterator[Server]:
    binaries = source_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server programs")
    with source_cluster(binaries) as server:
        yield server


@pytest.fixture
def source(cluster: Server) -> Iterator[str]:
    with source_database(cluster) as url:
        yield url
