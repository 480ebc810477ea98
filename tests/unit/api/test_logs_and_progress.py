"""Log formats and the plain progress lines (no database)."""

from __future__ import annotations

import io
import json
import logging

from api.cli.progress import _plain_line
from api.wiring.logs import JsonFormatter, TextFormatter, setup_logging


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _record(**fields: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "export_ledger.request", logging.INFO, "x", 1, "GET %s", ("/",), None
    )
    record.fields = fields
    return record


def test_json_lines_carry_the_fields() -> None:
    line = json.loads(JsonFormatter().format(_record(request_id="r1", status=200)))
    assert line["message"] == "GET /" and line["level"] == "info"
    assert line["request_id"] == "r1" and line["status"] == 200
    assert line["logger"] == "export_ledger.request" and line["time"].endswith("+00:00")


def test_text_for_people() -> None:
    text = TextFormatter().format(_record(request_id="r1", user=None))
    assert "GET /" in text and "request_id=r1" in text and "user=" not in text


def test_json_unless_a_terminal() -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        assert isinstance(setup_logging(stream=io.StringIO()).formatter, JsonFormatter)
        handler = setup_logging(stream=FakeTerminal())
        assert isinstance(handler.formatter, TextFormatter)
        assert sum(h is handler for h in root.handlers) == 1  # replaced, not added twice
        assert logging.getLogger("export_ledger").level == logging.INFO
        assert root.level == logging.WARNING
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])


def test_plain_progress_lines() -> None:
    assert _plain_line("x", 1500, None, 3.0) == "x: 1,500 (500/s)"
    assert _plain_line("x", 250, 1000, 1.0) == "x: 250/1,000 (25%, 250/s, about 3 s left)"
    assert _plain_line("x", 1000, 1000, 2.0) == "x: 1,000/1,000 (100%, 500/s)"
