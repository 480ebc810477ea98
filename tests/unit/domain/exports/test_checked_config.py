"""A config checked once (by the HTTP body's validation) is not checked again by the
command, and what the command records is what was checked."""

from __future__ import annotations

import pytest

from domain.exports import config as config_module
from domain.exports.config import CheckedConfig, check_config, checked_config

CONFIG = {"scope": "filtered", "includeMetadata": True, "filters": {"tiers": ["template"]}}


def test_a_checked_config_is_not_checked_again_for_its_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked = checked_config(CONFIG, "jsonl")
    assert isinstance(checked, CheckedConfig) and checked == CONFIG

    def refuse(*args: object) -> str:
        raise AssertionError("checked twice")

    monkeypatch.setattr(config_module, "_checked_text", refuse)
    assert check_config(checked, "jsonl") == CONFIG
    assert checked_config(checked, "jsonl") is checked


def test_the_copy_is_what_was_checked_whatever_was_done_to_the_dict_since() -> None:
    checked = checked_config(CONFIG, "jsonl")
    checked["scope"] = 42
    copy = check_config(checked, "jsonl")
    assert copy == CONFIG and type(copy) is dict


def test_a_config_format_other_than_the_exports_is_kept_as_data() -> None:
    config = {**CONFIG, "format": "csv"}
    assert check_config(checked_config(config, "csv"), "jsonl") == config
    assert check_config(config, "json") == config
