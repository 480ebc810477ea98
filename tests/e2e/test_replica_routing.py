"""Replica routing without a standby: a replica that is down, and round-robin.

The real primary-and-standby test is tests/integration/reads/test_read_replicas.py;
here a "replica" is either unreachable or the primary's own database.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.wiring.settings import Settings
from tests.e2e.helpers import Api

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1"


def test_a_replica_that_is_down_leaves_reads_on_the_primary(
    make_app: Callable[..., FastAPI],
) -> None:
    with TestClient(make_app(read_database_urls=[UNREACHABLE])) as client:
        api = Api(client)
        created = api.create()
        page = api.list(min_position=created["_position"])
        assert page.status_code == 200 and page.json()["total"] == 1
        assert api.get(created["export_id"], min_position=created["_position"]).status_code == 200
        replicas = client.get("/readyz").json()["replicas"]
        assert replicas == [{"name": "replica-1", "state": "down", "position": None, "lag": None}]


def test_reads_take_turns_over_the_replicas(
    make_app: Callable[..., FastAPI], database_url: str
) -> None:
    with TestClient(make_app(read_database_urls=[database_url, database_url])) as client:
        api = Api(client)
        created = api.create()
        for _ in range(4):  # each read waits on, and reads from, whichever replica it got
            assert api.list(min_position=created["_position"]).json()["total"] == 1
        replicas = client.get("/readyz").json()["replicas"]
        assert [(r["name"], r["state"], r["lag"]) for r in replicas] == [
            ("replica-1", "ok", 0),
            ("replica-2", "ok", 0),
        ]
        replica_set = client.app.state.services.reads.replicas  # type: ignore[attr-defined]
        names = [replica_set.choose().name for _ in range(4)]
        assert names[0] != names[1] and names[:2] == names[2:]
        assert set(names) == {"replica-1", "replica-2"}


def test_the_setting_takes_commas_or_a_json_list() -> None:
    urls = ["postgresql://a@h1/db", "postgresql://b@h2,h3/db"]
    listed = Settings(read_database_urls='["postgresql://a@h1/db", "postgresql://b@h2,h3/db"]')
    assert [url.get_secret_value() for url in listed.read_database_urls] == urls
    commas = Settings(read_database_urls=" postgresql://a@h1/db , postgresql://c@h4/db,")
    assert [url.get_secret_value() for url in commas.read_database_urls] == [
        "postgresql://a@h1/db",
        "postgresql://c@h4/db",
    ]
    assert Settings(read_database_urls="").read_database_urls == []
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(read_database_urls="mysql://h/db")
