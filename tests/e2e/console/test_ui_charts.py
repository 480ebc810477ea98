"""The ledger page's charts: server-rendered SVG, no script, each with its numbers in a
table (events per hour by type; lag of the projection, the sealer and each sink)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.e2e.console.test_ui_pages import sign_in
from tests.e2e.helpers import ADMIN, Api


def test_the_ledger_page_draws_events_per_hour_and_lags(client: TestClient, api: Api) -> None:
    for _ in range(3):
        created = api.create()
        api.advance(created["export_id"], "processing")
    sink = client.post("/api/sinks", json={"name": "siem", "url": "http://127.0.0.1:9/h"},
                       headers=ADMIN)  # fmt: skip
    assert sink.status_code == 201
    sign_in(client, "admin-1", admin=True)
    page = client.get("/ui/ledger")
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 2
    assert "<script" not in html
    assert 'aria-label="Events per hour by type over the last hours"' in html
    table = html[html.index('id="events-table"') :]
    table = table[: table.index("</table>")]
    assert ">Requested<" in table and ">ProcessingStarted<" in table
    cells = re.findall(r'<td class="num">(\d+)</td>', table)
    assert sum(int(c) for c in cells) == 2 * 6  # each type's cells and the totals
    lags = html[html.index('id="lags-table"') :]
    assert "sink siem" in lags and "projection" in lags and "sealer" in lags
