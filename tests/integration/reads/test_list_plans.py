"""The API's list queries are index scans, not table scans, on a table large
enough for the planner to care, under the roles and policies the API uses.

Rows are written straight into export_logs as the owner: this test is about
plans, not about the projection.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from projections.reads.read_store import ListFilters, Principal, _list_params
from sql import query
from sql.names import ADMIN_ROLE, READER_ROLE
from tests import pg

ROWS = 40_000
USERS = 400
MIDDLE = datetime(2026, 1, 8, tzinfo=UTC)

FILL = """
INSERT INTO export_logs
SELECT gen_random_uuid(), 'exp_' || lpad(g::text, 12, '0'), 'user-' || (g %% %(users)s),
       ts, (ARRAY['json', 'jsonl', 'csv', 'markdown'])[1 + g %% 4], '{}', 1, NULL,
       (ARRAY['queued', 'processing', 'completed', 'completed', 'failed'])[1 + (g * 7) %% 5],
       NULL, NULL, NULL, ts, ts, 1, g
FROM (SELECT g, timestamptz '2026-01-01' + g * interval '30 seconds' AS ts
      FROM generate_series(1, %(rows)s) AS g) AS s
"""

CASES = {
    "user first page": (False, ListFilters()),
    "user deep cursor": (False, ListFilters(cursor=(MIDDLE, "exp_999999999999"))),
    "status and dates": (
        True,
        ListFilters(status="failed", date_from=datetime(2026, 1, 3, tzinfo=UTC), date_to=MIDDLE),
    ),
    "admin first page": (True, ListFilters()),
    "admin deep cursor": (True, ListFilters(cursor=(MIDDLE, "exp_999999999999"))),
}


@pytest.fixture(scope="module")
def filled(admin_url: str, template_db: str) -> Iterator[str]:
    """One filled database for the module: the tests only read it."""
    name = pg.clone(admin_url, template_db)
    url = pg.with_database(admin_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FILL, {"rows": ROWS, "users": USERS})
        conn.execute("VACUUM ANALYZE export_logs")
    yield url
    pg.drop(admin_url, name)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("statement", ["list_exports", "count_exports"])
def test_list_queries_use_an_index(filled: str, case: str, statement: str) -> None:
    admin, filters = CASES[case]
    principal = Principal(user_id="" if admin else "user-7", admin=admin)
    with psycopg.connect(filled) as conn, conn.transaction():
        conn.execute(
            query("api", "start_session"),
            {
                "role": ADMIN_ROLE if admin else READER_ROLE,
                "user_id": principal.user_id,
                "timeout": "10000",
            },
        )
        plan = conn.execute(
            "EXPLAIN (FORMAT TEXT) " + query("api", statement),
            _list_params(principal, filters),
        ).fetchall()
    text = "\n".join(row[0] for row in plan)
    assert "Seq Scan" not in text, text
    assert "Index" in text, text
