"""Settings parsing (no I/O) and the README's promise that every setting is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from roto.settings import load_settings, settings_field_names

README = Path(__file__).resolve().parents[1] / "README.md"


def test_environment_values_are_converted_to_field_types() -> None:
    settings = load_settings({"ROTO_PORT": "9001", "ROTO_LOG_JSON": "false"})
    assert settings.port == 9001
    assert settings.log_json is False


def test_unknown_roto_variable_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="ROTO_PROT"):
        load_settings({"ROTO_PROT": "9001"})


def test_bad_value_names_the_setting() -> None:
    with pytest.raises(ValueError, match="port"):
        load_settings({"ROTO_PORT": "eighty"})


def test_empty_endpoint_means_real_aws() -> None:
    assert load_settings({"ROTO_AWS_ENDPOINT_URL": ""}).aws_endpoint_url is None


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in settings_field_names() if f"`{name}`" not in text]
    assert not missing, f"settings missing from README.md: {missing}"
