"""Fixtures of the end-to-end tests: the ASGI app on a real, migrated database,
with the projection running in-process, driven through TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.wiring.settings import Settings
from tests import pg
from tests.e2e.helpers import SECRET, Api


def make_settings(url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "jwt_secret": SECRET,
        "jwks_url": None,
        "data_dir": data_dir,
        "read_wait_seconds": 10.0,
        "pool_size": 4,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Callable[..., FastAPI]:
    """Builds an app on this test's database; settings can be overridden."""

    def make(*, run_projector: bool = True, **overrides: object) -> FastAPI:
        settings = make_settings(database_url, tmp_path, **overrides)
        return create_app(settings, run_projector=run_projector, run_migrations=False)

    return make


@pytest.fixture
def client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture(scope="module")
def module_database_url(admin_url: str, template_db: str) -> Iterator[str]:
    """A migrated database shared by one module's tests (for the slow-to-set-up ones)."""
    name = pg.clone(admin_url, template_db)
    yield pg.with_database(admin_url, name)
    pg.drop(admin_url, name)


@pytest.fixture(scope="module")
def module_client(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = make_settings(module_database_url, tmp_path_factory.mktemp("data"))
    with TestClient(create_app(settings, run_migrations=False)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def module_api(module_client: TestClient) -> Api:
    return Api(module_client)
