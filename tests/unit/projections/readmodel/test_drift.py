"""The pure parts of drift (projections/readmodel/drift.py): what counts as drift, how it is said,
and what an example of a differing row shows. The comparisons in SQL are tested on
PostgreSQL (tests/integration/readmodel/test_rebuild_check.py)."""

from __future__ import annotations

from typing import Any

import pytest

from projections.readmodel.drift import Differences, _example, _kind

ROW = {"export_id": "exp_1", "status": "completed", "file_size": 10, "error_message": None}


def test_no_differences_is_no_drift() -> None:
    differences = Differences()
    assert differences.total == 0 and not differences.drifted
    assert differences.examples == [] and differences.problem is None


@pytest.mark.parametrize(
    "fields",
    [
        {"missing": 1},
        {"extra": 2},
        {"different": 3},
        {"versions": 1},
        {"problem": "the shadow table has other columns"},
    ],
)
def test_any_difference_is_drift(fields: dict[str, Any]) -> None:
    assert Differences(**fields).drifted


def test_the_total_counts_rows_not_versions() -> None:
    assert Differences(missing=1, extra=2, different=3, versions=40).total == 6


def test_examples_are_not_shared() -> None:
    first, second = Differences(), Differences()
    first.examples.append({"export_id": "exp_1"})
    assert second.examples == []


@pytest.mark.parametrize(
    ("versions", "every_version", "said"),
    [
        (1, False, "in 1 current version"),
        (2, False, "in 2 current versions"),
        (0, True, "in 0 versions"),
        (1, True, "in 1 version"),
        (12_345, True, "in 12,345 versions"),
    ],
)
def test_versions_summary(versions: int, every_version: bool, said: str) -> None:
    summary = Differences(versions=versions, every_version=every_version).versions_summary()
    assert summary == f"export_log_versions differs from the events {said}"


def test_the_kind_of_a_difference() -> None:
    assert _kind(ROW, None) == "extra"  # in the live table only
    assert _kind(None, ROW) == "missing"  # in what the events say only
    assert _kind(ROW, {**ROW, "status": "expired"}) == "different"


def test_an_example_shows_the_columns_that_differ() -> None:
    live = {**ROW, "status": "expired", "error_message": "edited"}
    assert _example("exp_1", "different", live, ROW) == {
        "export_id": "exp_1",
        "kind": "different",
        "columns": {
            "status": {"live": "expired", "expected": "completed"},
            "error_message": {"live": "edited", "expected": None},
        },
    }


def test_a_column_the_live_row_lacks_reads_as_null() -> None:
    live = {k: v for k, v in ROW.items() if k != "file_size"}
    example = _example("exp_1", "different", live, ROW)
    assert example["columns"] == {"file_size": {"live": None, "expected": 10}}


def test_a_missing_or_extra_row_has_no_columns() -> None:
    assert _example("exp_1", "missing", None, ROW) == {"export_id": "exp_1", "kind": "missing"}
    assert _example("exp_1", "extra", ROW, None) == {"export_id": "exp_1", "kind": "extra"}
