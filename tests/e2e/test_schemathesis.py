"""Property-based tests generated from the app's own /openapi.json.

Every case goes through the ASGI app with an admin token (unless it tests a
missing one), so it reaches the handlers; every response must be a non-5xx
that conforms to the document (status code, content type, headers and body
schema). About half the positive cases aim at exports that exist, in every
lifecycle state.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from api.http.app import create_app
from api.http.schemas import storable
from api.wiring.settings import Settings
from tests.e2e.conftest import make_settings
from tests.e2e.helpers import ADMIN, SECRET, completion, export_body, token

EXAMPLES_PER_OPERATION = 130
MIN_CASES = 1000
STATES: tuple[tuple[str, ...], ...] = (
    (),
    ("processing",),
    ("processing", "completed"),
    ("processing", "failed"),
    ("processing", "completed", "expired"),
)


class Running:
    """The app the cases go to. Its lifespan is run by a fixture, so lifespan scopes are
    declined here (schemathesis then does not start it a second time). Until the fixture
    swaps the live app in, it is an app that only serves its documents (no database)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("the lifespan is run by the fixture")
        await self.app(scope, receive, send)


# Rules the document cannot express (min_position ahead of the log, as_of with version,
# cursor with page, a cursor not from this API, proof sizes out of order) answer 422 to
# otherwise valid requests.
CROSS_FIELD_RULES = [
    "GET /api/exports",
    "GET /api/exports/{export_id}",
    "POST /api/exports/expire",
    "GET /api/exports/{export_id}/proof",  # since after tree_size
    "GET /api/ledger/consistency",  # from after to
    "GET /api/audit/events",  # from after to
    "GET /api/events",  # after ahead of the head
]
CONFIG = schemathesis.Config.from_dict(
    {
        "auth": {"openapi": {"HTTPBearer": {"bearer": token("admin-fuzz", admin=True)}}},
        "operations": [
            {
                "include-name": CROSS_FIELD_RULES,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
                    }
                },
            }
        ],
    }
)
APP = Running(
    create_app(
        Settings(
            database_url=SecretStr("postgresql://127.0.0.1/unused"), jwt_secret=SecretStr(SECRET)
        )
    )
)
# The event stream never ends by itself: it is tested on its own, against a real server
# (tests/e2e/test_events_stream.py). A webhook sink the fuzzer added would have the server
# POST events to whatever loopback port it drew: sinks are added by their own tests.
schema = (
    schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
    .exclude(path="/api/events/stream")
    .exclude(method="POST", path="/api/sinks")
)


@schema.hook
def filter_body(context: schemathesis.HookContext, body: Any) -> bool:
    """Bodies with text no UTF-8 database can hold (NUL, lone surrogates) are left out:
    the API refuses them with a 422 (api/http/schemas.py's ``storable``), a rule the
    document cannot express for free-form objects such as ``config``."""
    try:
        storable(body)
    except ValueError:
        return False
    return True


FUZZING = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@pytest.fixture(scope="module")
def live(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The app on the module's database, with its projection running."""
    settings_ = make_settings(module_database_url, tmp_path_factory.mktemp("data"))
    with TestClient(create_app(settings_, run_migrations=False)) as client:
        documents_only, APP.app = APP.app, client.app
        yield client
        APP.app = documents_only


@pytest.fixture(scope="module")
def existing_ids(live: TestClient) -> list[str]:
    """Exports in every state, for cases to aim at instead of made-up ids."""
    ids = []
    for n in range(40):
        created = live.post("/api/exports", json=export_body(), headers=ADMIN).json()
        for status in STATES[n % len(STATES)]:
            body = completion() if status == "completed" else {"status": status}
            if status == "failed":
                body["error_message"] = "disk full"
            live.patch(f"/api/exports/{created['export_id']}", json=body, headers=ADMIN)
        ids.append(created["export_id"])
    return ids


@schema.parametrize()
@FUZZING
def test_api_conforms_to_its_openapi(case: Any, existing_ids: list[str]) -> None:
    export_id = (case.path_parameters or {}).get("export_id")
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if positive and isinstance(export_id, str) and zlib.crc32(export_id.encode()) % 2 == 0:
        case.path_parameters["export_id"] = existing_ids[zlib.crc32(export_id.encode()) % 40]
    case.call_and_validate()


def test_enough_cases_are_generated() -> None:
    """Fuzzing alone makes at least MIN_CASES cases for the test above: they are drawn
    here as schemathesis draws them (each operation's, in every generation mode, with
    the same settings), without being sent, until there are that many."""
    cases: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = schema.config.generation_for(operation=operation, phase="fuzzing").modes
        strategy = st.one_of([operation.as_strategy(generation_mode=mode) for mode in modes])

        @given(strategy)
        @settings(FUZZING, database=None)
        def draw(case: Any) -> None:
            cases[case.operation.label] += 1

        draw()
        if sum(cases.values()) >= MIN_CASES:
            return
    pytest.fail(f"only {sum(cases.values())} cases: {dict(sorted(cases.items()))}")
